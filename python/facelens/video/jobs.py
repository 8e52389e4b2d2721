"""Where video jobs run: a small interface, and the in-process implementation used by default.

``JobRunner`` is all the rest of facelens needs from an executor: ``submit`` a job's work (a callable that
takes a ``threading.Event``-like *stop* flag and does the whole job, writing its outcome to the job store
itself), and ``shutdown``. A distributed runner (a queue and remote workers sharing ``$FACELENS_HOME``) can
implement the same two methods; the job rows and results live in SQLite (``store.py``), not in the runner.

``LocalJobRunner``: a bounded pool of worker threads in this process (default 1 worker: one job already
uses every core through onnxruntime's threads). Jobs beyond the pool wait in its queue, in submission order.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Protocol

Work = Callable[[threading.Event], None]


class JobRunner(Protocol):
    def submit(self, job_id: str, work: Work) -> None:
        """Runs ``work(stop)`` for the job some time later; returns at once."""

    def shutdown(self, wait: bool = False) -> None:
        """Sets every job's stop flag (jobs stop at their next frame) and stops accepting jobs."""


class LocalJobRunner:
    def __init__(self, max_workers: int = 1) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="facelens-video")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running: Dict[str, object] = {}

    def submit(self, job_id: str, work: Work) -> None:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the job runner is shut down")
            self._running[job_id] = self._pool.submit(self._run, job_id, work)

    def _run(self, job_id: str, work: Work) -> None:
        try:
            work(self._stop)
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def active(self) -> int:
        """Jobs submitted and not finished (running or queued)."""
        with self._lock:
            return len(self._running)

    def shutdown(self, wait: bool = False) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)
