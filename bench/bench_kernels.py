"""Native kernels vs their numpy/OpenCV equivalents (pytest-benchmark).

    pytest bench/bench_kernels.py --benchmark-only -q

Each ``benchmark.group`` holds one kernel: the facelens version at the best
SIMD level ("ours"), the scalar reference path ("ours-scalar", where a SIMD
variant exists) and the numpy / OpenCV baselines.
"""
import cv2
import numpy as np
import pytest

import facelens._core as core

BEST = core.supported_levels()[-1]
MEAN = (127.5, 127.5, 127.5)
SCALE = (1 / 128, 1 / 128, 1 / 128)


@pytest.fixture
def simd(request):
    yield lambda lv: core.set_simd_level(lv)
    core.set_simd_level("auto")


def _run(benchmark, group, name, fn, simd=None, level=None):
    benchmark.group = group
    benchmark.name = name
    if simd is not None:
        simd(level)
    benchmark(fn)


# ------------------------------------------------------------------ letterbox
def ref_letterbox(img, ow, oh):
    """cv2.resize + numpy normalise / transpose / pad (the usual Python pipeline)."""
    H, W = img.shape[:2]
    r = min(ow / W, oh / H)
    rw, rh = max(1, min(ow, int(W * r + 0.5))), max(1, min(oh, int(H * r + 0.5)))
    interp = cv2.INTER_AREA if r < 0.5 else cv2.INTER_LINEAR
    rs = cv2.resize(img, (rw, rh), interpolation=interp) if (rw, rh) != (W, H) else img
    out = np.zeros((1, 3, oh, ow), np.float32)
    out[0, :, :rh, :rw] = ((rs.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 128)).transpose(2, 0, 1)
    return out, r


def ref_letterbox_blob(img, ow, oh):
    """cv2.resize + copyMakeBorder + cv2.dnn.blobFromImage."""
    H, W = img.shape[:2]
    r = min(ow / W, oh / H)
    rw, rh = max(1, min(ow, int(W * r + 0.5))), max(1, min(oh, int(H * r + 0.5)))
    interp = cv2.INTER_AREA if r < 0.5 else cv2.INTER_LINEAR
    rs = cv2.resize(img, (rw, rh), interpolation=interp) if (rw, rh) != (W, H) else img
    padded = cv2.copyMakeBorder(rs, 0, oh - rh, 0, ow - rw, cv2.BORDER_CONSTANT, value=MEAN)
    return cv2.dnn.blobFromImage(padded, 1 / 128, (ow, oh), MEAN, swapRB=False, crop=False), r


LB_CASES = {"640x480": (480, 640), "1280x720": (720, 1280), "1920x1080": (1080, 1920)}


@pytest.mark.parametrize("case", list(LB_CASES))
@pytest.mark.parametrize("impl", ["ours", "ours-scalar", "cv2+numpy", "cv2.dnn.blobFromImage"])
def test_letterbox(benchmark, simd, case, impl):
    img = np.random.default_rng(0).integers(0, 256, LB_CASES[case] + (3,), dtype=np.uint8)
    group = f"letterbox {case}->640x640"
    if impl == "ours":
        _run(benchmark, group, impl, lambda: core.letterbox_nchw(img, 640, 640, MEAN, SCALE), simd, BEST)
    elif impl == "ours-scalar":
        _run(benchmark, group, impl, lambda: core.letterbox_nchw(img, 640, 640, MEAN, SCALE), simd, "scalar")
    elif impl == "cv2+numpy":
        _run(benchmark, group, impl, lambda: ref_letterbox(img, 640, 640))
    else:
        _run(benchmark, group, impl, lambda: ref_letterbox_blob(img, 640, 640))


# ------------------------------------------------------------------ nms
def ref_nms(boxes, scores, thr):
    """Classic py-faster-rcnn vectorised numpy NMS."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1) * np.maximum(0.0, yy2 - yy1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thr)[0] + 1]
    return np.array(keep)


def detector_like_boxes(n, seed=0):
    """Clusters of overlapping candidates, like raw detector output."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 1280, (max(1, n // 10), 2))
    c = centers[rng.integers(0, len(centers), n)] + rng.normal(0, 8, (n, 2))
    wh = rng.uniform(20, 200, (n, 1)) * np.array([[1.0, 1.25]])
    boxes = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(np.float32)
    return boxes, rng.random(n).astype(np.float32)


@pytest.mark.parametrize("n", [200, 2000])
@pytest.mark.parametrize("impl", ["ours", "ours-scalar", "numpy"])
def test_nms(benchmark, simd, n, impl):
    boxes, scores = detector_like_boxes(n)
    if impl == "numpy":
        _run(benchmark, f"nms {n} boxes", impl, lambda: ref_nms(boxes, scores, 0.4))
    else:
        _run(benchmark, f"nms {n} boxes", impl, lambda: core.nms(boxes, scores, 0.4), simd,
             BEST if impl == "ours" else "scalar")


# ------------------------------------------------------------------ decode
def ref_decode(heat, scale, offset, lms, thr, ratio, W, H):
    heat = heat[0]
    ys, xs = np.where(heat > thr)
    s0, s1 = np.exp(scale[0, ys, xs]) * 4, np.exp(scale[1, ys, xs]) * 4
    o0, o1 = offset[0, ys, xs], offset[1, ys, xs]
    x1 = np.maximum(0, (xs + o1 + 0.5) * 4 - s1 / 2)
    y1 = np.maximum(0, (ys + o0 + 0.5) * 4 - s0 / 2)
    boxes = np.stack([x1, y1, x1 + s1, y1 + s0], 1) / ratio
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, W)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, H)
    pts = np.stack([lms[1::2, ys, xs].T * s1[:, None] + x1[:, None],
                    lms[0::2, ys, xs].T * s0[:, None] + y1[:, None]], -1) / ratio
    return boxes.astype(np.float32), heat[ys, xs], pts.astype(np.float32)


def centerface_maps(h=160, w=160, seed=0):
    rng = np.random.default_rng(seed)
    heat = (rng.random((1, h, w)) ** 30).astype(np.float32)  # a few dozen cells above 0.5
    return (heat, rng.normal(1.5, 0.5, (2, h, w)).astype(np.float32),
            rng.normal(0, 0.3, (2, h, w)).astype(np.float32), rng.normal(0.5, 0.3, (10, h, w)).astype(np.float32))


@pytest.mark.parametrize("impl", ["ours", "ours-scalar", "numpy"])
def test_decode(benchmark, simd, impl):
    maps = centerface_maps()
    args = (0.5, 0.5, 1280, 1280)
    if impl == "numpy":
        _run(benchmark, "decode_centerface 160x160", impl, lambda: ref_decode(*maps, *args))
    else:
        _run(benchmark, "decode_centerface 160x160", impl, lambda: core.decode_centerface(*maps, *args),
             simd, BEST if impl == "ours" else "scalar")


# ------------------------------------------------------------------ warp
M_ALIGN = np.array([[0.9, -0.25, 310.0], [0.25, 0.9, 180.0]], np.float32)


@pytest.mark.parametrize("impl", ["ours", "ours-scalar", "cv2+numpy"])
def test_warp_affine(benchmark, simd, impl):
    img = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    group = "warp_affine 112x112 (+normalise)"
    if impl == "cv2+numpy":
        def ref():
            w = cv2.warpAffine(img, M_ALIGN, (112, 112), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            return (w.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 128)
        _run(benchmark, group, impl, ref)
    else:
        _run(benchmark, group, impl, lambda: core.warp_affine(img, M_ALIGN, 112, 112, MEAN, SCALE), simd,
             BEST if impl == "ours" else "scalar")


# ------------------------------------------------------------------ quality
def ref_quality(img, box, size=64):
    x1, y1, x2, y2 = box
    crop = img[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))]
    rs = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    luma = cv2.cvtColor(rs, cv2.COLOR_RGB2GRAY)
    lap = cv2.Laplacian(luma, cv2.CV_32F, ksize=1)[1:-1, 1:-1]
    return float(luma.mean()), float(lap.var())


@pytest.mark.parametrize("impl", ["ours", "ours-scalar", "cv2"])
def test_face_quality(benchmark, simd, impl):
    img = np.random.default_rng(2).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    box = (400.0, 150.0, 640.0, 450.0)
    if impl == "cv2":
        _run(benchmark, "face_quality 240x300 crop", impl, lambda: ref_quality(img, box))
    else:
        _run(benchmark, "face_quality 240x300 crop", impl, lambda: core.face_quality(img, box), simd,
             BEST if impl == "ours" else "scalar")


# ------------------------------------------------------------------ pose
def ref_umeyama(P, Q):
    mp, mq = P.mean(0), Q.mean(0)
    Pc, Qc = P - mp, Q - mq
    U, D, Vt = np.linalg.svd(Pc.T @ Qc / len(P))
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1
    R = U @ S @ Vt
    s = np.trace(np.diag(D) @ S) / (Qc ** 2).sum(1).mean()
    return R, s, mp - s * R @ mq


@pytest.mark.parametrize("impl", ["ours", "numpy-svd"])
def test_head_pose(benchmark, impl):
    rng = np.random.default_rng(3)
    ref = rng.normal(0, 50, (68, 3)).astype(np.float32)
    pts = (1.3 * ref + 5 + rng.normal(0, 0.5, ref.shape)).astype(np.float32)
    fn = (lambda: core.head_pose(pts, ref)) if impl == "ours" else (lambda: ref_umeyama(pts, ref))
    _run(benchmark, "head_pose 68 points", impl, fn)


# ------------------------------------------------------------------ select
@pytest.mark.parametrize("impl", ["ours", "numpy"])
def test_select_largest(benchmark, impl):
    boxes, _ = detector_like_boxes(2000, seed=4)

    def ref():
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return np.lexsort((np.arange(len(boxes)), -area))[:100]

    fn = (lambda: core.select_largest(boxes, 100)) if impl == "ours" else ref
    _run(benchmark, "select_largest 100 of 2000", impl, fn)
