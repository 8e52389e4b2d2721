"""Small batches run item by item, several at a time, one onnxruntime thread each.

On 2 cores, onnxruntime's intra-op threads split each small convolution of a 256x256 face crop in two and meet
after every layer, and a batch's activations outgrow the caches; single crops on one-thread sessions, two at a
time, keep both cores busy with less waiting: the mesh network takes 15 ms for 6 crops and 28 ms for 12, where
one 2-thread run of the batch takes 22 and 50 ms (in chunks of 2: 20 / 30 ms; of 6: 30 / 41 ms). The person
detector's tiles run the same way. As many items run at once as the engine was
given threads (``Client(threads=...)``, by default the CPU count up to 4); one pool serves the process.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, TypeVar

import numpy as np

from ..models import registry

_PREFIX = "facelens-slices"
MAX_WORKERS = 8
T = TypeVar("T")
_pool: Optional[ThreadPoolExecutor] = None
_lock = threading.Lock()


def workers_for(threads: Optional[int]) -> int:
    """How many items run at once for an engine asked for ``threads`` threads (1: one after another)."""
    return max(1, min(MAX_WORKERS, threads or registry.default_threads(), os.cpu_count() or 1))


def pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, min(MAX_WORKERS, os.cpu_count() or 1)), thread_name_prefix=_PREFIX)
        return _pool


def _forget_pool_in_child() -> None:
    # a forked child has none of the parent's threads: a pool carried over would take tasks and never run them
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def in_pool() -> bool:
    """True on one of the pool's own threads, which must not wait on the pool (it could be full of waiters)."""
    return threading.current_thread().name.startswith(_PREFIX)


def map_items(fn: Callable[[int], T], n: int, workers: int) -> List[T]:
    """``[fn(0), ..., fn(n - 1)]`` computed by ``workers`` pool tasks at once (task k takes items k, k + workers,
    ...), or here, one after another, for one worker or on a pool thread."""
    if workers <= 1 or n < 2 or in_pool():
        return [fn(i) for i in range(n)]
    k = min(workers, n)
    out: List[Optional[T]] = [None] * n
    for part in pool().map(lambda g: [(i, fn(i)) for i in range(g, n, k)], range(k)):
        for i, value in part:
            out[i] = value
    return out  # type: ignore[return-value]


class Occupancy:
    """How many requests an engine is analysing at once (``with occupancy:`` around each), and whether one runs
    alone: the only one now, and none ran beside another for ``hold`` seconds. Callers that keep an engine busy
    overlap on every request, so it never counts as alone between two of theirs (a request starting in such a gap
    would spin through its whole run while the next one starts)."""

    hold = 0.25

    def __init__(self) -> None:
        self._count = 0
        self._shared_at = -float("inf")
        self._lock = threading.Lock()

    def __enter__(self) -> Occupancy:
        with self._lock:
            self._count += 1
            if self._count > 1:
                self._shared_at = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._count > 1:
                self._shared_at = time.monotonic()
            self._count -= 1

    @property
    def alone(self) -> bool:
        return self._count <= 1 and time.monotonic() - self._shared_at > self.hold


class SpinWhenAlone:
    """Duck-types an onnxruntime session over two sessions of one network: while its engine analyses one request
    only, runs go to a session whose pool threads spin between layers (and stop when the run returns,
    registry.session), otherwise to one whose threads sleep. A run of the detector or of a lone face crop is
    hundreds of small layers, each ending in a wait for the other thread: spinning through those waits made a
    1-face DetectFaces 10-19 % faster on 2 cores (three interleaved runs); but when two requests run at once, each
    session's spinning thread takes the core the other request needs (with every run spinning, two callers got
    0.83x one caller's images/s; with spinning only while alone, in one interleaved run: one caller +19 %, two and
    eight callers +2-3 %, six-face photos within 5 %)."""

    def __init__(self, name: str, threads: Optional[int], precision: Optional[str],
                 providers: Optional[Sequence[str]], occupancy: Occupancy) -> None:
        self.spinning = registry.session(name, threads, precision, providers, spin=True)
        self.sleeping = registry.session(name, threads, precision, providers)
        self.occupancy = occupancy

    def get_inputs(self) -> List[Any]:
        return self.sleeping.get_inputs()

    def get_outputs(self) -> List[Any]:
        return self.sleeping.get_outputs()

    def run(self, output_names: Optional[Sequence[str]], feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        session = self.spinning if self.occupancy.alone else self.sleeping
        return session.run(output_names, feeds)


class SlicedSession:
    """Duck-types an onnxruntime session with one batched input: ``run`` cuts batches of two or more along
    axis 0 into single items, runs them through ``map_items`` on a one-thread session (on the engine's own
    session for an engine of one thread), and joins the outputs along axis 0. The
    results are those of one batched run (onnxruntime's CPU kernels do not mix batch items), and networks that
    take one item per run (the blendshapes) take batches this way."""

    def __init__(self, name: str, threads: Optional[int] = None, precision: Optional[str] = None,
                 providers: Optional[Sequence[str]] = None, occupancy: Optional[Occupancy] = None) -> None:
        # occupancy: a lone item runs on SpinWhenAlone (a whole-machine run of many small layers)
        self.session: Any = (SpinWhenAlone(name, threads, precision, providers, occupancy) if occupancy is not None
                             else registry.session(name, threads, precision, providers))
        # an accelerator runs a batch better in one go than item by item
        self.workers = workers_for(threads) if registry.cpu_only(providers) else 1
        self._single = registry.session(name, 1, precision, providers) if self.workers > 1 else None

    def get_inputs(self) -> List[Any]:
        return self.session.get_inputs()

    def get_outputs(self) -> List[Any]:
        return self.session.get_outputs()

    def run_items(self, output_names: Optional[Sequence[str]], make_item: Callable[[int], np.ndarray], n: int) -> List[np.ndarray]:
        """Like ``run`` on the batch ``[make_item(0), ..., make_item(n - 1)]`` (each item without the batch axis),
        each item made in the same pool task that runs it, so that making the items (e.g. cutting face crops) is
        spread over the workers too."""
        name = self.session.get_inputs()[0].name
        if n == 1 or self._single is None or in_pool():
            session = self._single if self._single is not None and n > 1 else self.session
            outs = [session.run(output_names, {name: make_item(i)[None]}) for i in range(n)]
        else:
            single = self._single
            outs = map_items(lambda i: single.run(output_names, {name: make_item(i)[None]}), n, self.workers)
        return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]

    def run(self, output_names: Optional[Sequence[str]], feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        (name, batch), = feeds.items()
        if len(batch) < 2:
            return self.session.run(output_names, feeds)
        session = self._single or self.session
        outs = map_items(lambda i: session.run(output_names, {name: batch[i:i + 1]}), len(batch), self.workers)
        return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]
