"""Stored-video analysis jobs (Rekognition Video's Start*/Get* operations), computed locally.

- ``reader``: PyAV decoding, VideoMetadata, frame sampling (``DEFAULT_SAMPLE_FPS``).
- ``jobs``: the ``JobRunner`` interface and the in-process ``LocalJobRunner`` (a bounded thread pool).
- ``store``: jobs and results in ``$FACELENS_HOME/video.sqlite3``.
- ``service``: ``VideoJobs``, what ``facelens.Client``'s video methods call.
"""

from .jobs import JobRunner, LocalJobRunner
from .reader import DEFAULT_SAMPLE_FPS

__all__ = ["JobRunner", "LocalJobRunner", "DEFAULT_SAMPLE_FPS"]
