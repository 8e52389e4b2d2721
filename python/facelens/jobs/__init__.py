"""Video jobs that any worker can run: a job is a ``JobSpec`` (plain data) and ``run_job(spec, settings)`` does the
whole job in whatever process it is called, writing its progress, results and outcome to the database.

- ``JobSpec``: JobId, region, operation, the request and the sampling rate — everything a remote worker needs,
  never a live object;
- ``run_job``: builds (once per process and settings) the runtime's engine and services and runs the job under a
  lease: the worker claims the job in the database, renews the lease while it works (every progress write and a
  heartbeat), and a job whose lease lapses (worker killed, host lost) is taken by the next server that looks at it
  (Get* or progress) and run once more on its runner, then FAILED with the reason, never IN_PROGRESS for ever;
- runners: ``local.LocalJobRunner`` (a pool of threads in this process, the default) and ``ray.RayJobRunner``
  (an actor pool on a Ray cluster, ``job_runner="ray"``).
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional

from ..settings import Settings

if TYPE_CHECKING:
    from ..runtime import Runtime
    from ..storage.jobs import JobRow


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    region: str
    operation: str  # FaceDetection | PersonTracking | FaceSearch | CelebrityRecognition
    request: Dict[str, Any]  # the Start* request as validated
    sample_fps: float

    @classmethod
    def from_row(cls, row: JobRow) -> JobSpec:
        return cls(row.job_id, row.region, row.operation, row.request, row.sample_fps)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def worker_name() -> str:
    """This process, as lease holders are named: host, pid and a random suffix (pids are reused)."""
    return _WORKER


_WORKER = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
_RUNTIMES: Dict[str, Any] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime_for(settings: Settings) -> Runtime:
    """One runtime (engine, database, object store) per process and settings, built on first use and reused by
    every job this process runs."""
    from ..runtime import Runtime

    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(repr(settings))
        if runtime is None:
            runtime = _RUNTIMES[repr(settings)] = Runtime(settings)
        return runtime


def run_job(spec: JobSpec, settings: Optional[Settings] = None, runtime: Any = None,
            stop: Optional[threading.Event] = None) -> str:
    """Runs a video job here to its end; returns its final status (or "SKIPPED" when another worker holds it or it
    already finished)."""
    if runtime is None:
        if settings is None:
            raise ValueError("run_job needs settings or a runtime")
        runtime = runtime_for(settings)
    return runtime.video(spec.region).execute(spec, stop)


__all__ = ["JobSpec", "run_job", "runtime_for", "worker_name"]
