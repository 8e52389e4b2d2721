"""Stored-video analysis jobs (Rekognition Video's Start*/Get* operations), computed locally.

- ``reader``: PyAV decoding, VideoMetadata, frame sampling (``DEFAULT_SAMPLE_FPS``).
- ``tasks``: what each job type does with one sampled frame.
- ``service``: ``VideoJobs``, what ``facelens.Client``'s video methods call; jobs run through ``facelens.jobs``
  (specs, ``run_job``, leases, the local and Ray runners); jobs and results are in the database (``storage/jobs.py``).
"""

from ..jobs.local import JobRunner, LocalJobRunner
from .reader import DEFAULT_SAMPLE_FPS

__all__ = ["DEFAULT_SAMPLE_FPS", "JobRunner", "LocalJobRunner"]
