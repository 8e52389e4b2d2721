"""Would batching several requests' images into one network run pay? ``python -m bench.bench_batching``

Two requests at once, as the engine runs them now and as a batching engine would, for the two networks of
DetectFaces DEFAULT at the sizes they see on a 640x480 photo: CenterFace's first look (a 320x256 input) and one
FaceMesh crop (256x256, the file the registry runs on the CPU). Images per second, three ways, on one machine:

- ``apart, shared``: each of two caller threads runs its own input through one shared session of the engine's
  thread count (what two concurrent requests do with the detector today: both runs share its pool);
- ``apart, 1 thread each``: each caller on its own one-thread session (what the engine does with face crops);
- ``batched``: one caller runs both inputs as one batch of 2 through a session of the engine's thread count.

Rounds interleave the three, ``--seconds`` each; the medians over ``--rounds`` are printed with their ratio to
``apart, shared``. Inputs are random: the networks' time does not depend on the pixel values.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Callable, Dict, List

import numpy as np
import pytest

from facelens.models import registry

NETWORKS = {  # registry name, input name, one input's shape
    "CenterFace first look (320x256)": ("centerface.onnx", (1, 3, 256, 320)),
    "FaceMesh crop (256x256)": ("face_landmarks_detector.onnx", (1, 256, 256, 3)),
}


def images_per_second(calls: List[Callable[[], int]], seconds: float) -> float:
    """Runs each callable on its own thread for ``seconds``; each returns how many images one call handled."""
    done = [0] * len(calls)
    stop = time.perf_counter() + seconds

    def loop(k: int) -> None:
        while time.perf_counter() < stop:
            done[k] += calls[k]()

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(len(calls))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def measure(name: str, shape: tuple, threads: int, seconds: float, rounds: int) -> Dict[str, float]:
    wide = registry.session(name, threads)
    narrow = [registry.session(name, 1) for _ in range(2)]
    feed = wide.get_inputs()[0].name
    one = np.random.default_rng(0).random(shape, dtype=np.float32)
    two = np.concatenate([one, one])

    def run(session, x):
        return lambda: len(session.run(None, {feed: x})[0])

    ways = {
        "apart, shared": [run(wide, one), run(wide, one)],
        "apart, 1 thread each": [run(s, one) for s in narrow],
        "batched": [run(wide, two)],
    }
    for calls in ways.values():  # warm-up
        images_per_second(calls, 0.3)
    rates: Dict[str, List[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for way, calls in ways.items():
            rates[way].append(images_per_second(calls, seconds))
    return {k: statistics.median(v) for k, v in rates.items()}


@pytest.mark.parametrize("label", list(NETWORKS))
def test_two_requests_batched_or_apart(benchmark, label):
    """pytest-benchmark times one batched run of two inputs; the three images/s rates go into extra_info."""
    name, shape = NETWORKS[label]
    med = measure(name, shape, registry.default_threads(), 1.0, 3)
    session = registry.session(name, registry.default_threads())
    two = np.random.default_rng(0).random((2, *shape[1:]), dtype=np.float32)
    benchmark.group = f"two requests, {label}"
    benchmark.extra_info.update(med)
    benchmark.pedantic(session.run, args=(None, {session.get_inputs()[0].name: two}), rounds=20, warmup_rounds=2)
    print(f"\n{label}: " + ", ".join(f"{way} {r:.1f} images/s" for way, r in med.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    threads = registry.default_threads()
    print(f"sessions of {threads} threads (the engine's default); medians of {args.rounds} rounds of "
          f"{args.seconds:g} s")
    for label, (name, shape) in NETWORKS.items():
        med = measure(name, shape, threads, args.seconds, args.rounds)
        base = med["apart, shared"]
        print(f"{label}: " + ", ".join(f"{way} {r:.1f} images/s ({r / base:.2f}x)" for way, r in med.items()))


if __name__ == "__main__":
    main()
