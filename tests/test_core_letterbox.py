"""letterbox_nchw: fused letterbox resize + normalise + HWC->CHW."""
import threading
import time

import cv2
import numpy as np
import pytest

import facelens._core as core


# ---------------------------------------------------------------- reference
def axis_weights(n_in, n_out, area):
    """Dense [n_out, n_in] resampling matrix (float64)."""
    Wm = np.zeros((n_out, n_in))
    s = n_in / n_out
    if area and s > 1:
        for i in range(n_out):
            a, b = i * s, min((i + 1) * s, n_in)
            for j in range(int(np.floor(a)), int(np.ceil(b))):
                Wm[i, j] = (min(j + 1, b) - max(j, a)) / (b - a)
        return Wm
    for i in range(n_out):  # cv2.INTER_LINEAR geometry, clamp to edge
        f = (i + 0.5) * s - 0.5
        j = int(np.floor(f))
        t = f - j
        Wm[i, min(max(j, 0), n_in - 1)] += 1 - t
        Wm[i, min(max(j + 1, 0), n_in - 1)] += t
    return Wm


def geometry(W, H, ow, oh):
    r = min(ow / W, oh / H)
    rw = int(min(max(np.floor(W * r + 0.5), 1), ow))
    rh = int(min(max(np.floor(H * r + 0.5), 1), oh))
    return r, rw, rh


def ref_resize(img, rw, rh, area):
    H, W = img.shape[:2]
    wy, wx = axis_weights(H, rh, area), axis_weights(W, rw, area)
    tmp = np.tensordot(wy, img.astype(np.float64), axes=(1, 0))  # [rh, W, 3]
    return np.tensordot(wx, tmp, axes=(1, 1)).transpose(1, 0, 2)  # [rh, rw, 3]


def ref_letterbox(img, ow, oh, mean=(0, 0, 0), scale=(1, 1, 1), swap_rb=False):
    H, W = img.shape[:2]
    r, rw, rh = geometry(W, H, ow, oh)
    rs = ref_resize(img, rw, rh, r < 0.5)
    if swap_rb:
        rs = rs[..., ::-1]
    out = np.zeros((1, 3, oh, ow))
    out[0, :, :rh, :rw] = ((rs - np.asarray(mean, float)) * np.asarray(scale, float)).transpose(2, 0, 1)
    return out, r


def rand_img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


SIZES = [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (17, 29), (48, 64), (480, 640), (300, 500),
         (1080, 1920), (719, 1283), (37, 1001), (1001, 37), (3, 2000), (2000, 3)]
OUTS = [(640, 640), (320, 240), (17, 31), (1, 1)]


# ---------------------------------------------------------------- accuracy
@pytest.mark.parametrize("hw", SIZES)
def test_matches_float_reference(level, hw):
    img = rand_img(*hw, seed=hw[0] * 7 + hw[1])
    for ow, oh in OUTS:
        if hw == (1080, 1920) and (ow, oh) != (640, 640):
            continue
        out, ratio = core.letterbox_nchw(img, ow, oh)
        ref, r = ref_letterbox(img, ow, oh)
        assert out.dtype == np.float32 and out.shape == (1, 3, oh, ow)
        assert out.flags.c_contiguous and out.flags.owndata
        assert ratio == pytest.approx(r, rel=1e-12)
        np.testing.assert_allclose(out, ref, rtol=0, atol=2e-3)


@pytest.mark.parametrize(("hw", "out"), [((480, 640), (640, 640)), ((300, 500), (640, 640)),
                                    ((720, 1280), (640, 640)), ((1080, 1920), (640, 640)),
                                    ((123, 457), (160, 96)), ((2000, 1500), (320, 320))])
def test_matches_cv2(level, hw, out):
    img = rand_img(*hw, seed=3)
    ow, oh = out
    H, W = hw
    r, rw, rh = geometry(W, H, ow, oh)
    interp = cv2.INTER_AREA if r < 0.5 else cv2.INTER_LINEAR
    ref = cv2.resize(img, (rw, rh), interpolation=interp).astype(np.float32).transpose(2, 0, 1)
    t, _ = core.letterbox_nchw(img, ow, oh)
    # cv2 rounds to uint8 (and uses fixed-point weights): within one grey level.
    assert np.abs(t[0, :, :rh, :rw] - ref).max() <= 1.0
    assert np.abs(t[0, :, :rh, :rw] - ref).mean() < 0.3
    assert not t[0, :, rh:, :].any() and not t[0, :, :, rw:].any()


@pytest.mark.parametrize("swap_rb", [False, True])
def test_mean_scale_swap(level, swap_rb):
    img = rand_img(211, 157, seed=5)
    mean, scale = (104.0, 117.0, 123.0), (1 / 57.4, 1 / 57.1, 1 / 58.4)
    out, _ = core.letterbox_nchw(img, 128, 96, mean, scale, swap_rb)
    ref, _ = ref_letterbox(img, 128, 96, mean, scale, swap_rb)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)
    # padding is exactly 0.0, not (0 - mean) * scale
    _r, rw, _rh = geometry(157, 211, 128, 96)
    assert rw < 128 and np.all(out[0, :, :, rw:] == 0.0)


def test_scalar_mean_scale_broadcast():
    img = rand_img(40, 60)
    a, _ = core.letterbox_nchw(img, 64, 64, 127.5, 1 / 128)
    b, _ = core.letterbox_nchw(img, 64, 64, (127.5,) * 3, (1 / 128,) * 3)
    np.testing.assert_array_equal(a, b)


def test_identity_is_exact(level):
    img = rand_img(64, 48)
    out, ratio = core.letterbox_nchw(img, 48, 64)
    assert ratio == 1.0
    np.testing.assert_array_equal(out[0], img.transpose(2, 0, 1).astype(np.float32))


@pytest.mark.parametrize("hw", [(480, 640), (1080, 1920), (33, 1000), (1, 1), (999, 3)])
def test_simd_levels_agree(hw, level, at_scalar):
    img = rand_img(*hw, seed=11)
    args = (img, 640, 640, (127.5,) * 3, (1 / 128,) * 3, True)
    np.testing.assert_allclose(core.letterbox_nchw(*args)[0], at_scalar(core.letterbox_nchw, *args)[0],
                               rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------- memory layout
def test_non_contiguous_inputs(level):
    big = rand_img(300, 400, seed=2)
    for view in (big[10:250, 33:377], big[:, ::-1], big[::2, ::3], np.asfortranarray(big),
                 big[..., ::-1], big[5:6, 7:8]):
        got, _ = core.letterbox_nchw(view, 160, 128)
        exp, _ = core.letterbox_nchw(np.ascontiguousarray(view), 160, 128)
        np.testing.assert_array_equal(got, exp)


def test_readonly_input():
    img = rand_img(20, 30)
    img.setflags(write=False)
    out, _ = core.letterbox_nchw(img, 32, 32)
    assert out.shape == (1, 3, 32, 32)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [
    np.zeros((10, 10, 3), np.float32), np.zeros((10, 10, 3), np.uint16), np.zeros((10, 10, 3), bool),
    np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((0, 10, 3), np.uint8),
    np.zeros((10, 0, 3), np.uint8), np.zeros((1, 10, 10, 3), np.uint8), [[1, 2, 3]], None,
])
def test_bad_image_raises(bad):
    with pytest.raises((ValueError, TypeError)):
        core.letterbox_nchw(bad, 64, 64)


@pytest.mark.parametrize("kwargs", [dict(out_w=0, out_h=64), dict(out_w=64, out_h=-1),
                                    dict(out_w=64, out_h=64, mean=(1, 2)),
                                    dict(out_w=64, out_h=64, scale=(1, 2, 3, 4)),
                                    dict(out_w=64, out_h=64, mean=(np.nan, 0, 0)),
                                    dict(out_w=64, out_h=64, scale=(1, np.inf, 1)),
                                    dict(out_w=64, out_h=64, mean="abc")])
def test_bad_params_raise(kwargs):
    with pytest.raises(ValueError):
        core.letterbox_nchw(rand_img(8, 8), **kwargs)


# ---------------------------------------------------------------- GIL
def _assert_gil_released(fn):
    """Runs fn() in a worker thread while the main thread spins in Python.

    If fn held the GIL, the spinning thread could not execute a single bytecode
    while fn's native code runs, so no spinner timestamps would fall strictly
    inside the call window.
    """
    fn()  # warm up (scratch buffers, page faults)
    window = {}

    def worker():
        window["t0"] = time.perf_counter()
        fn()
        window["t1"] = time.perf_counter()

    old = __import__("sys").getswitchinterval()
    __import__("sys").setswitchinterval(0.0005)
    try:
        stamps = []
        th = threading.Thread(target=worker)
        th.start()
        while th.is_alive():
            stamps.append(time.perf_counter())
            for _ in range(200):
                pass
        th.join()
    finally:
        __import__("sys").setswitchinterval(old)
    t0, t1 = window["t0"], window["t1"]
    dur = t1 - t0
    if dur < 0.01:
        pytest.skip(f"call too short to observe ({dur * 1e3:.2f} ms)")
    margin = max(0.15 * dur, 0.003)
    inside = [s for s in stamps if t0 + margin < s < t1 - margin]
    assert len(inside) >= 5, f"only {len(inside)} spinner samples during a {dur * 1e3:.1f} ms call"


def test_gil_released_letterbox():
    img = rand_img(3000, 4000, seed=1)
    core.set_simd_level("scalar")
    try:
        _assert_gil_released(lambda: [core.letterbox_nchw(img, 2048, 2048)])
    finally:
        core.set_simd_level("auto")


def test_gil_released_two_threads_progress():
    img = rand_img(2000, 3000, seed=1)
    counter = [0]
    stop = threading.Event()
    results = []

    def work():
        for _ in range(5):
            results.append(core.letterbox_nchw(img, 1024, 1024)[1])

    def spin():
        while not stop.is_set():
            counter[0] += 1

    sp = threading.Thread(target=spin)
    sp.start()
    ths = [threading.Thread(target=work) for _ in range(2)]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.perf_counter() - t0
    stop.set()
    sp.join()
    assert len(results) == 10
    assert counter[0] > 0 and dt > 0
