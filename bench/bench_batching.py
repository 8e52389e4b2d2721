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
from typing import Dict, List

import numpy as np
import pytest

from bench.bench_throughput import rate
from facelens.models import registry

NETWORKS = {  # registry name, one input's shape
    "CenterFace first look (320x256)": ("centerface.onnx", (1, 3, 256, 320)),
    "FaceMesh crop (256x256)": ("face_landmarks_detector.onnx", (1, 256, 256, 3)),
}


def measure(name: str, shape: tuple, threads: int, seconds: float, rounds: int) -> Dict[str, float]:
    wide = registry.session(name, threads)
    narrow = [registry.session(name, 1) for _ in range(2)]
    feed = wide.get_inputs()[0].name
    one = np.random.default_rng(0).random(shape, dtype=np.float32)
    two = np.concatenate([one, one])

    ways = {  # (the session each caller uses, its input)
        "apart, shared": [(wide, one), (wide, one)],
        "apart, 1 thread each": [(s, one) for s in narrow],
        "batched": [(wide, two)],
    }
    rates: Dict[str, List[float]] = {k: [] for k in ways}
    for _ in range(rounds):
        for way, callers in ways.items():
            calls = rate(lambda k, c=callers: c[k][0].run(None, {feed: c[k][1]}), len(callers), seconds)
            rates[way].append(calls * len(callers[0][1]))  # images a call handles: the batch size
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
