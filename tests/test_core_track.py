"""Tracker (video person tracking, Person.Index) and linear_assignment, against the reference in
tests/support/tracking.py (exact indexes) and scipy (optimal assignments)."""
import collections
import itertools
import threading

import numpy as np
import pytest
import scipy.optimize

import facelens._core as core
from tests.support.tracking import RefTracker, count_errors, make_scene, ref_linear_assignment, run_tracker


# ---------------------------------------------------------------------- tests
def test_linear_assignment_matches_scipy_and_reference():
    rng = np.random.default_rng(0)
    for trial in range(300):
        r, c = rng.integers(0, 9, 2)
        cost = rng.random((r, c))
        if trial % 3 == 0:
            cost = np.round(cost * 3)  # many ties
        got = core.linear_assignment(cost)
        assert got.dtype == np.int64 and got.shape == (r,)
        assert got.tolist() == ref_linear_assignment(cost)
        rows, cols = scipy.optimize.linear_sum_assignment(cost)
        assert int((got >= 0).sum()) == min(r, c)
        assigned = got[got >= 0]
        assert len(set(assigned.tolist())) == len(assigned)
        mine = sum(cost[i, j] for i, j in enumerate(got) if j >= 0)
        assert mine == pytest.approx(cost[rows, cols].sum(), abs=1e-9)


def test_reference_hungarian_is_optimal_bruteforce():
    rng = np.random.default_rng(1)
    for _ in range(200):
        r, c = map(int, rng.integers(1, 6, 2))
        cost = rng.random((r, c)).round(2)
        got = ref_linear_assignment(cost)
        best = min(sum(cost[i, p[i]] for i in range(r)) if r <= c else sum(cost[p[j], j] for j in range(c))
                   for p in itertools.permutations(range(max(r, c)), min(r, c)))
        assert sum(cost[i, j] for i, j in enumerate(got) if j >= 0) == pytest.approx(best, abs=1e-12)


def test_linear_assignment_bad_input():
    for bad in ([[1.0, float("nan")]], np.zeros(3), None, [[float("inf")]]):
        with pytest.raises(ValueError):
            core.linear_assignment(bad)
    assert core.linear_assignment(np.zeros((0, 3))).shape == (0,)
    np.testing.assert_array_equal(core.linear_assignment(np.zeros((2, 0))), [-1, -1])


def _compare(frames, **kw):
    cpp, ref = core.Tracker(**kw), RefTracker(**kw)
    for k, (b, s, _, dt) in enumerate(frames):
        a, e = cpp.update(b, s, dt), ref.update(b, s, dt)
        assert a.dtype == np.int64 and a.shape == (len(b),)
        np.testing.assert_array_equal(a, e, err_msg=f"frame {k}")
        np.testing.assert_allclose(cpp.filtered_boxes(), np.array(ref.last_boxes, np.float32).reshape(-1, 4),
                                   rtol=1e-6, atol=1e-4, err_msg=f"frame {k}")
        assert cpp.tracks_confirmed == ref.tracks_confirmed
        assert len(cpp.live_tracks()[0]) == len(ref.tracks)
    return cpp


@pytest.mark.parametrize("kind", ["easy", "medium", "hard", "crossing"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_scenes(kind, seed):
    _compare(make_scene(kind, seed=seed, n_frames=60, irregular=seed == 2))


@pytest.mark.parametrize("kw", [dict(), dict(min_hits=1), dict(min_hits=3, max_age_s=0.4),
                                dict(center_threshold=0.0), dict(iou_threshold=0.1, new_track_score=0.7),
                                dict(iou_threshold=0.6, center_threshold=1.5)])
def test_matches_reference_random_clutter(kw):
    """Random dense clutter (many overlaps, ties, components, births and deaths) stresses the assignment."""
    rng = np.random.default_rng(len(str(kw)))
    frames = []
    pos = rng.uniform(0, 400, (30, 2))
    for k in range(40):
        pos += rng.normal(0, 8, pos.shape)
        alive = rng.random(len(pos)) < 0.8
        c = pos[alive]
        wh = rng.uniform(20, 60, (len(c), 2))
        b = np.concatenate([c - wh / 2, c + wh / 2], 1)
        if k % 7 == 3:
            b = np.concatenate([b, b[:3]])  # exact duplicates: ties
        if k % 5 == 1 and len(b):
            b[0, 2] = b[0, 0]  # degenerate box: ignored
        dt = float(rng.choice([0.0, 0.05, 0.1, 0.2, 0.7]))
        frames.append((b.astype(np.float32), rng.random(len(b)).astype(np.float32), None, dt))
    _compare(frames, **kw)


@pytest.mark.parametrize(("kind", "max_sw", "max_frag"), [("easy", 0, 0), ("crossing", 0, 0), ("medium", 2, 2)])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("fps", "irregular"), [(5.0, False), (10.0, False), (5.0, True)])
def test_id_switches_bounded(kind, max_sw, max_frag, seed, fps, irregular):
    frames = make_scene(kind, seed=seed, fps=fps, n_frames=int(16 * fps), irregular=irregular)
    err = count_errors(frames, run_tracker(core.Tracker(), frames), max_gap_s=1.0)
    assert err["id_switches"] <= max_sw, err
    assert err["fragmentations"] <= max_frag, err
    assert err["merged"] <= max(max_sw, 1) if max_sw else err["merged"] == 0, err
    assert err["indexes"] <= err["people"] + max_sw, err


def test_medium_scenes_total():
    """Summed over 12 medium scenes (72 people): at most 6 switches, 4 fragmentations (measured: 4, 2)."""
    tot = collections.Counter()
    for seed in range(4):
        for fps, irregular in [(5.0, False), (10.0, False), (5.0, True)]:
            frames = make_scene("medium", seed=seed, fps=fps, n_frames=int(16 * fps), irregular=irregular)
            tot.update(count_errors(frames, run_tracker(core.Tracker(), frames), max_gap_s=1.0))
    assert tot["id_switches"] <= 6 and tot["fragmentations"] <= 4 and tot["merged"] <= 4, tot


def test_hard_scene_bounded():
    tot = dict(id_switches=0, people=0, merged=0)
    for seed in range(4):
        frames = make_scene("hard", seed=seed, n_frames=80)
        err = count_errors(frames, run_tracker(core.Tracker(), frames))
        for k in tot:
            tot[k] += err[k]
    assert tot["id_switches"] <= 0.25 * tot["people"], tot
    assert tot["merged"] <= 0.25 * tot["people"], tot


def test_count_errors_detects_switches():
    """The counting helper itself: a hand-made swap, a fragment and a merge are all counted."""
    z = np.zeros((2, 4), np.float32)
    frames = [(z, None, np.array([0, 1]), 0.2)] * 4
    outs = [np.array([0, 1]), np.array([1, 0]), np.array([-1, 0]), np.array([1, 0])]
    err = count_errors(frames, outs)
    assert err["id_switches"] == 2 and err["fragmentations"] == 1 and err["merged"] == 2


def test_second_chance_helps_fast_movers():
    """A runner moving half a box width per frame from a standing start: IoU alone loses it."""
    boxes = []
    for k in range(12):
        x = 100 + k * 70.0 * (1 + 0.15 * k)  # accelerating: 70 px/frame and more, box 84 px wide
        boxes.append(np.array([[x, 100, x + 84, 300]], np.float32))
    frames = [(b, np.ones(1, np.float32), np.zeros(1, np.int64), 0.2) for b in boxes]
    with_c = count_errors(frames, run_tracker(core.Tracker(), frames))
    without = count_errors(frames, run_tracker(core.Tracker(center_threshold=0.0), frames))
    assert with_c["indexes"] == 1 and with_c["id_switches"] == 0, with_c
    assert without["indexes"] + without["unindexed"] > with_c["indexes"] + with_c["unindexed"], without


def test_confirmation_and_unconfirmed_minus_one():
    t = core.Tracker(min_hits=3)
    a = np.array([[0, 0, 50, 100]], np.float32)
    b = np.array([[500, 0, 550, 100]], np.float32)
    one = np.ones(1, np.float32)
    # first min_hits - 1 frames: detections confirm at birth
    assert t.update(a, one, 0.1).tolist() == [0]
    assert t.update(a, one, 0.1).tolist() == [0]
    # from frame 3 on a newcomer needs 3 associated frames
    both = np.concatenate([a, b])
    assert t.update(both, np.ones(2, np.float32), 0.1).tolist() == [0, -1]
    assert t.update(both, np.ones(2, np.float32), 0.1).tolist() == [0, -1]
    assert t.update(both[::-1], np.ones(2, np.float32), 0.1).tolist() == [1, 0]
    assert t.tracks_confirmed == 2
    idx, boxes, age = t.live_tracks()
    assert sorted(idx.tolist()) == [0, 1] and boxes.shape == (2, 4) and age.tolist() == [0.0, 0.0]


def test_tentative_track_dies_on_first_miss_and_low_score_never_starts():
    t = core.Tracker(new_track_score=0.5)
    a = np.array([[0, 0, 50, 100]], np.float32)
    b = np.array([[500, 0, 550, 100]], np.float32)
    t.update(a, np.ones(1, np.float32), 0.2)  # frame 1: confirmed at birth -> index 0
    assert t.update(np.concatenate([a, b]), np.array([1, 1], np.float32), 0.2).tolist() == [0, -1]
    assert t.update(a, np.ones(1, np.float32), 0.2).tolist() == [0]  # b missed: its tentative track dies
    assert t.update(np.concatenate([a, b]), np.array([1, 1], np.float32), 0.2).tolist() == [0, -1]
    assert t.update(np.concatenate([a, b]), np.array([1, 1], np.float32), 0.2).tolist() == [0, 1]
    # a low-score detection far from any track: no track, -1 forever, NaN filtered box
    c = np.array([[1000, 0, 1050, 100]], np.float32)
    for _ in range(4):
        out = t.update(np.concatenate([a, b, c]), np.array([1, 1, 0.2], np.float32), 0.2)
        assert out.tolist() == [0, 1, -1]
        assert np.isnan(t.filtered_boxes()[2]).all() and np.isfinite(t.filtered_boxes()[:2]).all()
    # ... but a low-score detection does extend an existing track
    assert t.update(np.concatenate([a, b]), np.array([0.1, 0.1], np.float32), 0.2).tolist() == [0, 1]


def test_max_age_and_index_never_reused():
    t = core.Tracker(max_age_s=1.0, min_hits=1)
    a = np.array([[0, 0, 50, 100]], np.float32)
    one = np.ones(1, np.float32)
    empty, none = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    assert t.update(a, one, 0.2).tolist() == [0]
    for _ in range(5):  # unmatched for exactly 1.0 s (5 x 0.2, accumulated rounding tolerated)
        assert t.update(empty, none, 0.2).shape == (0,)
    assert t.update(a, one, 0.0).tolist() == [0]  # still the same track
    for _ in range(6):  # 1.2 s: deleted
        t.update(empty, none, 0.2)
    assert len(t.live_tracks()[0]) == 0
    assert t.update(a, one, 0.2).tolist() == [1]  # a new index, 0 is never reused
    assert t.tracks_confirmed == 2
    seen = set()
    frames = make_scene("hard", seed=5, n_frames=60)
    tr = core.Tracker()
    prev_max = -1
    for b, s, _, dt in frames:
        out = tr.update(b, s, dt)
        live = set(tr.live_tracks()[0].tolist()) - {-1}
        new = {i for i in out.tolist() if i >= 0} - seen
        assert all(i > prev_max for i in new)  # issued in increasing order
        assert len({i for i in out.tolist() if i >= 0}) == int((out >= 0).sum())  # one detection per index
        seen |= new
        prev_max = max(seen) if seen else -1
        assert live <= seen
    assert sorted(seen) == list(range(tr.tracks_confirmed))


def test_reset():
    frames = make_scene("medium", seed=3, n_frames=40)
    t = core.Tracker()
    first = run_tracker(t, frames)
    assert t.frame_count == 40 and t.time_s > 0
    t.reset()
    assert t.tracks_confirmed == 0 and t.frame_count == 0 and t.time_s == 0.0 and len(t.live_tracks()[0]) == 0
    assert t.filtered_boxes().shape == (0, 4)
    for a, b in zip(first, run_tracker(t, frames)):
        np.testing.assert_array_equal(a, b)


def test_irregular_dt_and_sampling_rate():
    """The same motion sampled at 5 fps, 10 fps and irregularly gives one index per person."""
    for fps, irr in [(5.0, False), (10.0, False), (5.0, True), (3.0, True)]:
        frames = make_scene("easy", seed=7, fps=fps, n_frames=int(12 * fps), irregular=irr)
        err = count_errors(frames, run_tracker(core.Tracker(), frames))
        assert err["id_switches"] == 0 and err["indexes"] == err["people"], (fps, irr, err)
    # dt = 0 (duplicate timestamp) is a valid no-motion step
    t = core.Tracker()
    a = np.array([[0, 0, 50, 100]], np.float32)
    for dt in (0.0, 0.0, 0.3, 0.0):
        assert t.update(a, np.ones(1, np.float32), dt).tolist() == [0]


def test_velocity_prediction_through_occlusion():
    """A walker hidden for 0.8 s (4 frames at 5 fps) keeps its index thanks to the predicted motion."""
    t = core.Tracker()
    out = []
    for k in range(20):
        x = 100 + 60.0 * k  # 60 px per frame, box 80 px wide: the hidden stretch moves 3 box widths
        b = np.array([[x, 200, x + 80, 400]], np.float32) if not 8 <= k < 12 else np.zeros((0, 4), np.float32)
        out.append(t.update(b, np.ones(len(b), np.float32), 0.2).tolist())
    assert {i for o in out for i in o} == {0}


def test_filtered_boxes_smooth_noise():
    rng = np.random.default_rng(3)
    t = core.Tracker()
    errs_raw, errs_f = [], []
    for k in range(60):
        x = 100 + 10.0 * k
        gt = np.array([x, 200, x + 80, 400])
        det = (gt + rng.normal(0, 6, 4)).astype(np.float32)[None]
        t.update(det, np.ones(1, np.float32), 0.2)
        if k > 10:
            errs_raw.append(np.abs(det[0] - gt).mean())
            errs_f.append(np.abs(t.filtered_boxes()[0] - gt).mean())
    assert np.mean(errs_f) < 0.8 * np.mean(errs_raw)


def test_layout_and_dtype_conversion():
    frames = make_scene("medium", seed=4, n_frames=30)
    a = run_tracker(core.Tracker(), frames)
    t = core.Tracker()
    for (b, s, _, dt), e in zip(frames, a):
        np.testing.assert_array_equal(t.update(np.asfortranarray(b.astype(np.float64)), s.tolist(), dt), e)


@pytest.mark.parametrize("case", ["nan_box", "inf_box", "nan_score", "mismatch", "shape", "ndim", "none",
                                  "neg_dt", "nan_dt", "inf_dt", "strings"])
def test_update_bad_inputs(case):
    t = core.Tracker()
    boxes = np.array([[0, 0, 10, 20], [30, 30, 50, 60]], np.float32)
    scores = np.ones(2, np.float32)
    dt = 0.2
    t.update(boxes, scores, dt)
    before = (t.frame_count, t.live_tracks()[1].copy())
    if case == "nan_box":
        boxes[1, 2] = np.nan
    elif case == "inf_box":
        boxes[0, 0] = -np.inf
    elif case == "nan_score":
        scores[0] = np.nan
    elif case == "mismatch":
        scores = scores[:1]
    elif case == "shape":
        boxes = boxes[:, :3]
    elif case == "ndim":
        boxes = boxes.reshape(-1)
    elif case == "none":
        boxes = None
    elif case == "neg_dt":
        dt = -0.1
    elif case == "nan_dt":
        dt = float("nan")
    elif case == "inf_dt":
        dt = float("inf")
    elif case == "strings":
        boxes = np.array([["a", "b", "c", "d"]])
    with pytest.raises(ValueError):
        t.update(boxes, scores, dt)
    assert t.frame_count == before[0]  # state untouched
    np.testing.assert_array_equal(t.live_tracks()[1], before[1])


@pytest.mark.parametrize("kw", [dict(iou_threshold=-0.1), dict(iou_threshold=1.5), dict(iou_threshold=float("nan")),
                                dict(max_age_s=-1.0), dict(max_age_s=float("inf")), dict(min_hits=0),
                                dict(center_threshold=-1.0), dict(center_threshold=float("nan")),
                                dict(new_track_score=float("nan"))])
def test_bad_params(kw):
    with pytest.raises(ValueError):
        core.Tracker(**kw)


def test_properties_and_empty_frames():
    t = core.Tracker(iou_threshold=0.4, max_age_s=2.0, min_hits=3, center_threshold=0.5, new_track_score=0.1)
    assert (t.iou_threshold, t.max_age_s, t.min_hits, t.center_threshold, t.new_track_score) == (0.4, 2.0, 3, 0.5,
                                                                                                  0.1)
    out = t.update(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.2)
    assert out.shape == (0,) and out.dtype == np.int64
    assert t.filtered_boxes().shape == (0, 4) and t.frame_count == 1
    assert "Tracker(" in repr(t)
    with pytest.raises(AttributeError):
        t.tracks_confirmed = 3


def test_threads_share_one_tracker_safely():
    frames = make_scene("medium", seed=8, n_frames=200)
    t = core.Tracker()
    errors = []

    def worker():
        try:
            for b, s, _, dt in frames:
                t.update(b, s, dt)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    th = [threading.Thread(target=worker) for _ in range(3)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    assert not errors and t.frame_count == 600
