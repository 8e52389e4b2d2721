"""nms and select_largest."""
import numpy as np
import pytest

import facelens._core as core


def ref_nms(boxes, scores, thr):
    """py-faster-rcnn style greedy NMS (no +1), stable order, float32 math."""
    boxes = np.asarray(boxes, np.float32)
    thr = np.float32(thr)
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(np.float32(0), x2 - x1) * np.maximum(np.float32(0), y2 - y1)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        if not areas[i] > 0:
            order = rest
            continue
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / ((areas[i] + areas[rest]) - inter)
        order = rest[~(iou > thr)]
    return np.array(keep, np.int64)


def random_boxes(n, seed=0, clustered=False):
    rng = np.random.default_rng(seed)
    if clustered:
        centers = rng.uniform(0, 1000, (max(1, n // 20), 2))
        c = centers[rng.integers(0, len(centers), n)] + rng.normal(0, 6, (n, 2))
        wh = rng.uniform(30, 60, (n, 1)) * np.array([[1.0, 1.2]]) + rng.normal(0, 3, (n, 2))
    else:
        c = rng.uniform(0, 1000, (n, 2))
        wh = rng.uniform(2, 120, (n, 2))
    boxes = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    return boxes, rng.random(n).astype(np.float32)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 9, 15, 16, 17, 100, 200, 2000])
@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize("thr", [0.3, 0.5])
def test_matches_numpy(level, n, clustered, thr):
    boxes, scores = random_boxes(n, seed=n, clustered=clustered)
    keep = core.nms(boxes, scores, thr)
    assert keep.dtype == np.int64 and keep.ndim == 1
    np.testing.assert_array_equal(keep, ref_nms(boxes, scores, thr))


def test_equal_scores_are_stable(level):
    boxes, _ = random_boxes(300, seed=1, clustered=True)
    scores = np.full(300, 0.7, np.float32)
    keep = core.nms(boxes, scores, 0.4)
    np.testing.assert_array_equal(keep, ref_nms(boxes, scores, 0.4))
    assert keep[0] == 0
    # identical boxes, identical scores: only the first survives
    same = np.tile(np.array([[10, 10, 50, 60]], np.float32), (37, 1))
    np.testing.assert_array_equal(core.nms(same, np.ones(37, np.float32), 0.5), [0])
    # -0.0 and +0.0 tie (lower index first)
    np.testing.assert_array_equal(core.nms(np.array([[0, 0, 1, 1], [5, 5, 6, 6]], np.float32),
                                           np.array([0.0, -0.0], np.float32), 0.5), [0, 1])


def test_zero_area_boxes_never_suppress(level):
    boxes = np.array([[10, 10, 10, 50], [10, 10, 50, 50], [5, 5, 5, 5], [30, 30, 20, 20]], np.float32)
    scores = np.array([0.9, 0.8, 0.95, 0.85], np.float32)
    # even with a negative threshold (every IoU >= 0 > thr) the degenerate boxes suppress nothing
    keep = core.nms(boxes, scores, -1.0)
    np.testing.assert_array_equal(keep, ref_nms(boxes, scores, -1.0))
    assert set(keep.tolist()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(core.nms(boxes, scores, 0.5), [2, 0, 3, 1])


def test_threshold_extremes(level):
    boxes, scores = random_boxes(500, seed=3, clustered=True)
    np.testing.assert_array_equal(core.nms(boxes, scores, 1.0), np.argsort(-scores, kind="stable"))
    np.testing.assert_array_equal(core.nms(boxes, scores, 0.0), ref_nms(boxes, scores, 0.0))


def test_levels_agree_bit_exact(level, at_scalar):
    boxes, scores = random_boxes(3000, seed=5, clustered=True)
    np.testing.assert_array_equal(core.nms(boxes, scores, 0.45), at_scalar(core.nms, boxes, scores, 0.45))


def test_dtype_and_layout_conversion():
    boxes, scores = random_boxes(64, seed=6)
    a = core.nms(boxes, scores, 0.5)
    np.testing.assert_array_equal(core.nms(boxes.astype(np.float64), scores.astype(np.float64), 0.5), a)
    np.testing.assert_array_equal(core.nms(np.asfortranarray(boxes), scores[::1], 0.5), a)
    np.testing.assert_array_equal(core.nms(boxes.tolist(), scores.tolist(), 0.5), a)


@pytest.mark.parametrize("case", ["nan_score", "nan_box", "nan_thr", "mismatch", "shape", "ndim", "none"])
def test_nms_bad_inputs(case):
    boxes, scores = random_boxes(10, seed=7)
    thr = 0.5
    if case == "nan_score":
        scores[3] = np.nan
    elif case == "nan_box":
        boxes[4, 2] = np.nan
    elif case == "nan_thr":
        thr = float("nan")
    elif case == "mismatch":
        scores = scores[:9]
    elif case == "shape":
        boxes = boxes[:, :3]
    elif case == "ndim":
        boxes = boxes.reshape(-1)
    elif case == "none":
        boxes = None
    with pytest.raises(ValueError):
        core.nms(boxes, scores, thr)


def test_nms_empty():
    k = core.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5)
    assert k.shape == (0,) and k.dtype == np.int64


# ---------------------------------------------------------------- select_largest
def ref_select(boxes, k):
    b = np.asarray(boxes, np.float32)
    area = np.maximum(np.float32(0), b[:, 2] - b[:, 0]) * np.maximum(np.float32(0), b[:, 3] - b[:, 1])
    return np.lexsort((np.arange(len(b)), -area))[:k].astype(np.int64)


@pytest.mark.parametrize("n", [0, 1, 5, 100, 2000])
@pytest.mark.parametrize("k", [0, 1, 3, 100, 5000])
def test_select_largest(n, k):
    boxes, _ = random_boxes(n, seed=n + 1)
    got = core.select_largest(boxes, k)
    assert got.dtype == np.int64 and got.shape == (min(n, k),)
    np.testing.assert_array_equal(got, ref_select(boxes, k))


def test_select_largest_ties_and_degenerate():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [0, 0, -3, 4], [1, 1, 1, 9],
                      [2, 2, 12, 12], [0, 0, 20, 1]], np.float32)
    np.testing.assert_array_equal(core.select_largest(boxes, 10), [0, 1, 4, 5, 2, 3])
    np.testing.assert_array_equal(core.select_largest(boxes, 2), [0, 1])


def test_select_largest_bad_inputs():
    boxes, _ = random_boxes(5)
    with pytest.raises(ValueError):
        core.select_largest(boxes, -1)
    boxes[2, 1] = np.nan
    with pytest.raises(ValueError):
        core.select_largest(boxes, 3)
    with pytest.raises(ValueError):
        core.select_largest(np.zeros((4, 5), np.float32), 3)
