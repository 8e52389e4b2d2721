"""The in-process job runner (the default): a bounded pool of worker threads in this process.

``JobRunner`` is all the rest of facelens needs from an executor: ``submit`` a ``JobSpec`` (the runner arranges
for ``run_job`` to be called with it somewhere) and ``shutdown``. ``LocalJobRunner`` runs jobs on threads of this
process with this process's runtime (default 1 worker: one job already uses every core through onnxruntime's
threads); jobs beyond the pool wait in its queue, in submission order. ``shutdown`` sets the stop flag that running
jobs check at every frame.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Protocol


class JobRunner(Protocol):
    def submit(self, spec: Any) -> None:
        """Runs the job some time later, somewhere; returns at once."""

    def shutdown(self, wait: bool = False) -> None:
        """Stops accepting jobs; jobs running here stop at their next frame."""


class LocalJobRunner:
    def __init__(self, run: Callable[[Any, threading.Event], Any], max_workers: int = 1) -> None:
        """``run(spec, stop)`` does a job (the runtime's ``run_job``)."""
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._run_job = run
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="facelens-video")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running: Dict[str, object] = {}

    def submit(self, spec: Any) -> None:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the job runner is shut down")
            self._running[spec.job_id] = self._pool.submit(self._run, spec)

    def _run(self, spec: Any) -> None:
        try:
            self._run_job(spec, self._stop)
        finally:
            with self._lock:
                self._running.pop(spec.job_id, None)

    def active(self) -> int:
        """Jobs submitted and not finished (running or queued)."""
        with self._lock:
            return len(self._running)

    def shutdown(self, wait: bool = False) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)
