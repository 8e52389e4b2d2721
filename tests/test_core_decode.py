"""decode_centerface: CenterFace output decoding."""
import numpy as np
import pytest

import facelens._core as core


def ref_decode(heat, scale, offset, lms, thr, ratio, W, H):
    heat = heat.reshape(heat.shape[-2:])
    ys, xs = np.nonzero(heat > thr)  # row-major order
    with np.errstate(over="ignore"):
        s0 = np.exp(scale[0, ys, xs].astype(np.float64)) * 4
        s1 = np.exp(scale[1, ys, xs].astype(np.float64)) * 4
    o0, o1 = offset[0, ys, xs], offset[1, ys, xs]
    x1 = np.maximum(0, (xs + o1 + 0.5) * 4 - s1 / 2)
    y1 = np.maximum(0, (ys + o0 + 0.5) * 4 - s0 / 2)
    boxes = np.stack([x1, y1, x1 + s1, y1 + s0], 1) / ratio
    pts = np.stack([np.stack([lms[2 * j + 1, ys, xs] * s1 + x1, lms[2 * j, ys, xs] * s0 + y1], -1)
                    for j in range(5)], 1) / ratio
    ok = np.isfinite(boxes).all(1) & np.isfinite(pts).all((1, 2))
    boxes, pts = boxes[ok], pts[ok]
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, W)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, H)
    return boxes, heat[ys, xs][ok], pts


def make_maps(h, w, seed=0, density=8):
    rng = np.random.default_rng(seed)
    heat = (rng.random((1, h, w)) ** density).astype(np.float32)
    scale = rng.normal(1.5, 0.7, (2, h, w)).astype(np.float32)
    offset = rng.normal(0, 0.3, (2, h, w)).astype(np.float32)
    lms = rng.normal(0.5, 0.3, (10, h, w)).astype(np.float32)
    return heat, scale, offset, lms


def check(got, exp):
    gb, gs, gp = got
    eb, es, ep = exp
    assert gb.dtype == gs.dtype == gp.dtype == np.float32
    assert gb.shape == (len(es), 4) and gs.shape == (len(es),) and gp.shape == (len(es), 5, 2)
    np.testing.assert_array_equal(gs, es)
    np.testing.assert_allclose(gb, eb, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(gp, ep, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("hw", [(160, 160), (1, 1), (3, 5), (120, 160), (17, 33), (240, 320)])
@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.3333333])
def test_matches_numpy(level, hw, ratio):
    maps = make_maps(*hw, seed=hw[0] + hw[1])
    W, H = int(hw[1] * 4 / ratio * 0.8), int(hw[0] * 4 / ratio * 0.8)  # force some clipping
    got = core.decode_centerface(*maps, 0.5, ratio, W, H)
    check(got, ref_decode(*maps, 0.5, ratio, W, H))


def test_threshold_extremes(level):
    maps = make_maps(40, 48, seed=1)
    b, s, p = core.decode_centerface(*maps, 2.0, 1.0, 192, 160)
    assert b.shape == (0, 4) and s.shape == (0,) and p.shape == (0, 5, 2)
    got = core.decode_centerface(*maps, -1.0, 1.0, 192, 160)
    assert len(got[1]) == 40 * 48
    check(got, ref_decode(*maps, -1.0, 1.0, 192, 160))
    # strictly greater than the threshold
    h = np.full((1, 40, 48), 0.5, np.float32)
    assert len(core.decode_centerface(h, maps[1], maps[2], maps[3], 0.5, 1.0, 192, 160)[1]) == 0
    assert len(core.decode_centerface(h, maps[1], maps[2], maps[3], 0.4999, 1.0, 192, 160)[1]) == 40 * 48


def test_2d_heatmap_and_batch_dim(level):
    heat, scale, offset, lms = make_maps(20, 24, seed=2)
    a = core.decode_centerface(heat, scale, offset, lms, 0.3, 0.5, 200, 200)
    b = core.decode_centerface(heat[0], scale, offset, lms, 0.3, 0.5, 200, 200)
    c = core.decode_centerface(heat[None], scale[None], offset[None], lms[None], 0.3, 0.5, 200, 200)
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_float64_inputs_are_cast(level):
    maps = make_maps(16, 16, seed=3)
    a = core.decode_centerface(*maps, 0.4, 1.0, 64, 64)
    b = core.decode_centerface(*[m.astype(np.float64) for m in maps], 0.4, 1.0, 64, 64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_nan_and_inf_inputs(level):
    heat, scale, offset, lms = make_maps(30, 30, seed=4, density=1)
    heat[0, 0, :10] = np.nan          # NaN heat never passes the threshold
    heat[0, 1, 0] = 0.99
    scale[0, 1, 0] = np.nan           # NaN geometry -> dropped
    heat[0, 1, 1] = 0.99
    scale[1, 1, 1] = 1000.0           # exp overflow -> inf -> dropped
    heat[0, 1, 2] = 0.99
    lms[3, 1, 2] = np.inf             # non-finite landmark -> dropped
    got = core.decode_centerface(heat, scale, offset, lms, 0.5, 1.0, 120, 120)
    exp = ref_decode(heat, scale, offset, lms, 0.5, 1.0, 120, 120)
    check(got, exp)
    assert np.isfinite(got[0]).all() and np.isfinite(got[2]).all()


def test_levels_agree(level, at_scalar):
    maps = make_maps(160, 160, seed=9, density=4)
    got = core.decode_centerface(*maps, 0.35, 0.5, 1280, 1280)
    for x, y in zip(got, at_scalar(core.decode_centerface, *maps, 0.35, 0.5, 1280, 1280)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("case", ["heat_shape", "scale_shape", "lm_channels", "hw_mismatch",
                                  "nan_thr", "ratio0", "ratio_nan", "img0", "heat_none"])
def test_bad_inputs_raise(case):
    heat, scale, offset, lms = make_maps(10, 12)
    args = dict(heatmap=heat, scale=scale, offset=offset, landmarks=lms, score_threshold=0.5,
                ratio=1.0, image_w=48, image_h=40)
    if case == "heat_shape":
        args["heatmap"] = np.zeros((2, 10, 12), np.float32)
    elif case == "scale_shape":
        args["scale"] = np.zeros((10, 12), np.float32)
    elif case == "lm_channels":
        args["landmarks"] = np.zeros((8, 10, 12), np.float32)
    elif case == "hw_mismatch":
        args["offset"] = np.zeros((2, 10, 13), np.float32)
    elif case == "nan_thr":
        args["score_threshold"] = float("nan")
    elif case == "ratio0":
        args["ratio"] = 0.0
    elif case == "ratio_nan":
        args["ratio"] = float("nan")
    elif case == "img0":
        args["image_w"] = 0
    elif case == "heat_none":
        args["heatmap"] = None
    with pytest.raises(ValueError):
        core.decode_centerface(**args)


def test_empty_maps():
    z = np.zeros
    b, s, p = core.decode_centerface(z((1, 0, 5), np.float32), z((2, 0, 5), np.float32),
                                     z((2, 0, 5), np.float32), z((10, 0, 5), np.float32), 0.5, 1.0, 10, 10)
    assert b.shape == (0, 4) and s.shape == (0,) and p.shape == (0, 5, 2)
