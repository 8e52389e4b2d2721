"""Video jobs on a Ray cluster: ``job_runner="ray"`` / ``FACELENS_JOB_RUNNER=ray``.

A pool of actors, each a worker process holding one runtime (engine loaded once, reused for every job it runs) with
as many onnxruntime threads as the CPUs Ray reserves for it. ``submit`` hands a ``JobSpec`` to the least busy
actor; the job's outcome goes to the database, not back through Ray, so any server on that database answers Get*
for it. A worker that dies takes its job with it: Ray restarts the actor (a fresh process), and the job's lapsed
lease makes the next server that looks at it run it again (then FAILED), see ``facelens.jobs``.

Ray's own conventions choose the cluster: ``ray_address`` (``auto``, ``ray://host:10001``) or ``RAY_ADDRESS``, or a
local Ray started here when neither is given.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, List, Optional

if TYPE_CHECKING:
    from ..settings import Settings
    from . import JobSpec

_WORKER_CLASS = None


def _worker_class() -> Any:
    global _WORKER_CLASS
    if _WORKER_CLASS is None:
        import ray

        @ray.remote(max_restarts=-1, max_task_retries=0,  # type: ignore[call-overload]  # ray's stubs lack it
                    concurrency_groups={"info": 1})
        class JobWorker:
            def __init__(self, settings: Settings) -> None:
                from . import runtime_for

                self.runtime = runtime_for(settings)

            def run(self, spec: JobSpec) -> str:
                from . import run_job

                return run_job(spec, runtime=self.runtime)

            def warm(self) -> int:
                """Loads the engine (so the first job does not pay for it); returns the worker's pid."""
                import os

                _ = self.runtime.engine
                return os.getpid()

            @ray.method(concurrency_group="info")
            def pid(self) -> int:
                """The worker's pid, answered even while a job runs."""
                import os

                return os.getpid()

        _WORKER_CLASS = JobWorker
    return _WORKER_CLASS


class RayJobRunner:
    def __init__(self, settings: Settings, address: Optional[str] = None, workers: Optional[int] = None,
                 cpus_per_worker: Optional[int] = None) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        total = max(1, int(ray.cluster_resources().get("CPU", 1)))
        workers = workers or settings.video_workers
        cpus = cpus_per_worker or max(1, total // workers)
        worker = _worker_class()
        self.actors: List[Any] = [
            worker.options(num_cpus=cpus).remote(settings.with_(threads=cpus, job_runner="local"))
            for _ in range(workers)
        ]
        self._pending: List[List[Any]] = [[] for _ in self.actors]
        self._lock = threading.Lock()

    def submit(self, spec: Any) -> None:
        import ray

        with self._lock:
            for refs in self._pending:  # forget finished jobs
                if refs:
                    done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                    refs[:] = [r for r in refs if r not in done]
            i = min(range(len(self.actors)), key=lambda k: len(self._pending[k]))
            self._pending[i].append(self.actors[i].run.remote(spec))

    def warm(self) -> List[int]:
        """Loads every worker's engine; their pids."""
        import ray

        return ray.get([a.warm.remote() for a in self.actors])

    def pids(self) -> List[int]:
        import ray

        return ray.get([a.pid.remote() for a in self.actors])

    def shutdown(self, wait: bool = False) -> None:
        """Jobs already handed to Ray go on (their outcome is in the database); nothing more is submitted."""
        with self._lock:
            self._pending = [[] for _ in self.actors]
