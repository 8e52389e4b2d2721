"""Person tracker: C++ Tracker vs the scalar Python reference (pytest-benchmark), and ID switches.

    pytest bench/bench_tracker.py --benchmark-only -q      # us per update() at 5/20/100/300 boxes
    python -m bench.bench_tracker                          # ID-switch table + the same timings

Each ``benchmark.group`` is one crowd size: "cpp" (facelens._core.Tracker) and "python-ref"
(RefTracker from tests/support/tracking.py, the same algorithm in plain Python, exact same
indexes). Every round feeds the next frame of a crowd walking at 5 fps (boxes generated in an
untimed setup), so the trackers run in steady state: one predict + association + correction.
"""
import time

import numpy as np
import pytest
from tests.support.tracking import RefTracker, count_errors, make_scene, run_tracker

import facelens._core as core

SIZES = [5, 20, 100, 300]
DT = 0.2


class Crowd:
    """n people walking (bouncing off the borders of a 1920x1080 frame), 2% box noise, 5% missed."""

    def __init__(self, n, seed=0):
        self.rng = np.random.default_rng(seed)
        self.h = self.rng.uniform(60, 140, n) if n > 50 else self.rng.uniform(200, 400, n)
        self.pos = self.rng.uniform([100, 200], [1820, 1000], (n, 2))
        self.vel = self.rng.normal(0, 1, (n, 2)) * 0.6 * self.h[:, None]

    def next(self):
        self.pos += self.vel * DT
        for d, hi in ((0, 1920), (1, 1080)):
            out = (self.pos[:, d] < 0) | (self.pos[:, d] > hi)
            self.vel[out, d] *= -1
        h = self.h * (1 + self.rng.normal(0, 0.02, len(self.h)))
        w = 0.42 * h
        c = self.pos + self.rng.normal(0, 0.02, self.pos.shape) * self.h[:, None]
        boxes = np.stack([c[:, 0] - w / 2, c[:, 1] - h, c[:, 0] + w / 2, c[:, 1]], 1).astype(np.float32)
        keep = self.rng.random(len(boxes)) >= 0.05
        return boxes[keep], np.ones(int(keep.sum()), np.float32)


def _steady(make, n, warm=10):
    crowd, tracker = Crowd(n), make()
    for _ in range(warm):
        b, s = crowd.next()
        tracker.update(b, s, DT)
    return crowd, tracker


IMPLS = {"cpp": core.Tracker, "python-ref": RefTracker}
ROUNDS = {"cpp": 2000, "python-ref": {5: 400, 20: 100, 100: 15, 300: 5}}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", list(IMPLS))
def test_update(benchmark, n, impl):
    crowd, tracker = _steady(IMPLS[impl], n)
    benchmark.group = f"tracker update, {n} boxes"
    benchmark.name = impl
    rounds = ROUNDS[impl] if impl == "cpp" else ROUNDS[impl][n]
    benchmark.pedantic(lambda b, s: tracker.update(b, s, DT), setup=lambda: (crowd.next(), {}),
                       rounds=rounds, iterations=1, warmup_rounds=1)


# ----------------------------------------------------------------- script mode
def id_switch_table(seeds=range(10)):
    rows = []
    header = ("scene", "sampling", "second chance", "people", "indexes", "ID switches", "frag",
              "after >1s gap", "merged", "FP indexed")
    for kind in ("easy", "crossing", "medium", "hard"):
        for label, fps, irr in (("5 fps", 5.0, False), ("10 fps", 10.0, False), ("~5 fps irregular", 5.0, True)):
            for ct in (0.6, 0.0):
                tot = dict.fromkeys(("people", "indexes", "id_switches", "fragmentations", "after_gap", "merged",
                                     "fp_indexed"), 0)
                for seed in seeds:
                    frames = make_scene(kind, seed=seed, fps=fps, n_frames=int(16 * fps), irregular=irr)
                    err = count_errors(frames, run_tracker(core.Tracker(center_threshold=ct), frames),
                                       max_gap_s=1.0)
                    for k in tot:
                        tot[k] += err[k]
                rows.append((kind, label, "on" if ct else "off", *tot.values()))
    return header, rows


def timing_table(seconds=1.0):
    out = []
    for n in SIZES:
        res = {}
        for impl, make in IMPLS.items():
            crowd, tracker = _steady(make, n)
            total, calls = 0.0, 0
            while total < seconds or calls < 3:
                b, s = crowd.next()
                t0 = time.perf_counter()
                tracker.update(b, s, DT)
                total += time.perf_counter() - t0
                calls += 1
            res[impl] = total / calls * 1e6
        out.append((n, res["cpp"], res["python-ref"], res["python-ref"] / res["cpp"]))
    return out


def _print(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for r in (header, *rows):
        print("  ".join(str(x).rjust(w) for x, w in zip(r, widths)))


if __name__ == "__main__":
    print("ID switches on synthetic scenes (10 seeds x 16 s each; errors counted as in tests/support/tracking.py)")
    _print(*id_switch_table())
    print("\nus per update() (steady state, 5 fps crowd)")
    _print(("boxes", "cpp us", "python-ref us", "ratio"),
           [(n, f"{c:.1f}", f"{p:.0f}", f"{r:.0f}x") for n, c, p, r in timing_table()])
