"""Where a batch's images are analysed: a pool of processes on this machine, or Ray actors on a Ray cluster.

Both runners have the same two methods: ``submit(source) -> handle`` and ``wait(handles) -> [(handle, line)]``
(at least one finished), so the one ordered loop in ``run_ordered`` drives either.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .sources import S3_SCHEME
from .work import Task, Worker, read_image


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_ordered(sources: Iterable[str], runner: Any, window: int, write: Callable[[Dict[str, Any]], None]) -> None:
    """Runs every source through ``runner`` with at most ``window`` results pending or buffered, and calls ``write``
    with the result lines in the order of ``sources``: a result that finishes early waits in the buffer until
    those before it are written, so the file is always a prefix of the sorted order (what resuming relies on)."""
    pending: Dict[Any, int] = {}
    finished: Dict[int, Dict[str, Any]] = {}
    items = enumerate(sources)
    next_index = 0
    exhausted = False
    while True:
        while not exhausted and len(pending) + len(finished) < window:
            item = next(items, None)
            if item is None:
                exhausted = True
            else:
                pending[runner.submit(item[1])] = item[0]
        if not pending:
            return
        for handle, line in runner.wait(list(pending)):
            finished[pending.pop(handle)] = line
        while next_index in finished:
            write(finished.pop(next_index))
            next_index += 1


# -- the local pool ------------------------------------------------------------------------------------------------
_worker: Optional[Worker] = None


def _start_local_worker(settings: Any, task: Task) -> None:
    global _worker
    _worker = Worker(settings, task)


def _run_local(source: str) -> Dict[str, Any]:
    assert _worker is not None, "the pool's initializer starts the worker"
    return _worker.run(source)


class LocalRunner:
    """``workers`` processes (spawned: a fresh interpreter each, no inherited threads or open databases), each
    with one engine of ``threads`` onnxruntime threads; each reads its images itself."""

    def __init__(self, settings: Any, task: Task, workers: int, threads: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_local_worker,
                                        initargs=(settings.with_(threads=threads), task))

    def submit(self, source: str) -> Any:
        return self.pool.submit(_run_local, source)

    def wait(self, handles: List[Any]) -> List[Tuple[Any, Dict[str, Any]]]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return [(future, future.result()) for future in done]

    @staticmethod
    def is_lost(error: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(error, BrokenProcessPool)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


# -- Ray -------------------------------------------------------------------------------------------------------------
class RayWorker:
    """A Ray actor: one engine whose onnxruntime threads are the CPUs Ray gave the actor, loaded once."""

    def __init__(self, settings: Any, task: Task) -> None:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            settings = settings.with_(threads=max(1, int(round(cpus))))
        self.worker = Worker(settings, task)

    def run(self, source: str, image: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        return self.worker.run(source, image)


# Forwarded to the actors so that they reach the same S3 endpoint with the same identity as this process (a Ray
# worker process otherwise has the environment its node was started with).
_FORWARDED_ENV = ("AWS_",)


class RayRunner:
    """``workers`` Ray actors of ``cpus_per_worker`` CPUs each. Files are read here and sent to the actors as
    bytes (a cluster's nodes need not share this machine's disk); ``s3://`` objects are read by the actors from
    the object store. Each source goes to the actor with the fewest calls queued."""

    def __init__(self, settings: Any, task: Task, workers: Optional[int], cpus_per_worker: Optional[int],
                 address: Optional[str]) -> None:
        import ray

        self.ray = ray
        self.started_ray = False
        if not ray.is_initialized():
            if address or os.environ.get("RAY_ADDRESS"):
                ray.init(address=address or None, log_to_driver=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False)
            self.started_ray = True
        total = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if cpus_per_worker is None:
            cpus_per_worker = max(1, total // workers) if workers else min(4, total)
        if workers is None:
            workers = max(1, total // cpus_per_worker)
        if workers * cpus_per_worker > total:  # an actor that never gets its CPUs would hold its queue for ever
            if self.started_ray:
                ray.shutdown()
            raise ValueError(f"{workers} Ray workers of {cpus_per_worker} CPUs do not fit the cluster's {total} "
                             "CPUs; give fewer --workers or --cpus-per-worker")
        self.workers, self.cpus_per_worker = workers, cpus_per_worker
        env = {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED_ENV)}
        options: Dict[str, Any] = {"num_cpus": cpus_per_worker, "max_restarts": 1, "max_task_retries": 1}
        if env:
            options["runtime_env"] = {"env_vars": env}
        actor = ray.remote(RayWorker).options(**options)
        self.actors: List[Any] = [actor.remote(settings, task) for _ in range(workers)]
        self.queued = [0] * workers
        self.owner: Dict[Any, int] = {}

    def submit(self, source: str) -> Any:
        image = None
        if not source.startswith(S3_SCHEME):
            image, error = read_image(source)
            if error is not None:
                return self.ray.put({"Source": source, "Error": error})
        index = min(range(self.workers), key=self.queued.__getitem__)
        ref = self.actors[index].run.remote(source, image)
        self.queued[index] += 1
        self.owner[ref] = index
        return ref

    def wait(self, handles: List[Any]) -> List[Tuple[Any, Dict[str, Any]]]:
        self.ray.wait(handles, num_returns=1)
        ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=0)  # every one done by now
        for ref in ready:
            index = self.owner.pop(ref, None)
            if index is not None:
                self.queued[index] -= 1
        return list(zip(ready, self.ray.get(ready)))

    def is_lost(self, error: BaseException) -> bool:
        return isinstance(error, self.ray.exceptions.RayActorError)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started_ray:
            self.ray.shutdown()
