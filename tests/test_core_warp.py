"""warp_affine and transform_points."""
import cv2
import numpy as np
import pytest

import facelens._core as core


def ref_warp(img, M, ow, oh, mean=(0, 0, 0), scale=(1, 1, 1)):
    """Float64 bilinear, output (x, y) samples input at M @ [x, y, 1], zero outside."""
    H, W = img.shape[:2]
    M = np.asarray(M, np.float64)
    ys, xs = np.mgrid[0:oh, 0:ow].astype(np.float64)
    u = M[0, 0] * xs + M[0, 1] * ys + M[0, 2]
    v = M[1, 0] * xs + M[1, 1] * ys + M[1, 2]
    x0, y0 = np.floor(u), np.floor(v)
    fx, fy = (u - x0)[..., None], (v - y0)[..., None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    src = img.astype(np.float64)

    def tap(x, y):
        ok = (x >= 0) & (x < W) & (y >= 0) & (y < H)
        return np.where(ok[..., None], src[np.clip(y, 0, H - 1), np.clip(x, 0, W - 1)], 0.0)

    val = ((1 - fx) * (1 - fy) * tap(x0, y0) + fx * (1 - fy) * tap(x0 + 1, y0)
           + (1 - fx) * fy * tap(x0, y0 + 1) + fx * fy * tap(x0 + 1, y0 + 1))
    return (val - np.asarray(mean, float)) * np.asarray(scale, float)


def similarity(angle_deg, s, tx, ty):
    a = np.deg2rad(angle_deg)
    return np.array([[s * np.cos(a), -s * np.sin(a), tx], [s * np.sin(a), s * np.cos(a), ty]], np.float32)


def rand_img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


MATS = [similarity(0, 1, 0, 0), similarity(17, 0.8, 30.3, -12.7), similarity(-40, 2.5, -50, 80),
        similarity(180, 1.3, 150, 170), np.array([[0.9, 0.31, -7.5], [-0.2, 1.4, 3.25]], np.float32),
        similarity(5, 0.3, 2.2, 1.1)]


@pytest.mark.parametrize("mi", range(len(MATS)))
@pytest.mark.parametrize(("hw", "out"), [((97, 131), (112, 112)), ((1, 1), (5, 3)), ((2, 1), (9, 9)),
                                    ((480, 640), (128, 128)), ((13, 7), (1, 1)), ((40, 50), (17, 33))])
def test_matches_float_reference(level, mi, hw, out):
    img = rand_img(*hw, seed=mi)
    M = MATS[mi]
    got = core.warp_affine(img, M, *out)
    assert got.dtype == np.float32 and got.shape == (out[1], out[0], 3) and got.flags.owndata
    # float32 coordinate arithmetic vs float64 reference on a noise image: tiny slack
    np.testing.assert_allclose(got, ref_warp(img, M, *out), rtol=0, atol=0.03)


@pytest.mark.parametrize("mi", range(len(MATS)))
def test_matches_cv2_on_smooth_image(level, mi):
    img = cv2.GaussianBlur(rand_img(160, 200, seed=4), (0, 0), 3)
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    M = MATS[mi]
    mean, scale = (127.5, 127.5, 127.5), (1 / 255, 1 / 255, 1 / 255)
    got = core.warp_affine(img, M, 112, 112, mean, scale)
    ref = cv2.warpAffine(img, M, (112, 112), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ref = (ref.astype(np.float32) - 127.5) / 255
    diff = np.abs(got - ref)
    # cv2 quantises positions to 1/32 px and rounds the result to uint8
    assert diff.mean() < 1e-3
    assert diff.max() < 2.5 / 255


def test_identity_and_translation_are_exact(level):
    img = rand_img(50, 60, seed=1)
    np.testing.assert_array_equal(core.warp_affine(img, similarity(0, 1, 0, 0), 60, 50), img.astype(np.float32))
    got = core.warp_affine(img, similarity(0, 1, 7, 3), 60, 50)
    exp = np.zeros((50, 60, 3), np.float32)
    exp[:47, :53] = img[3:, 7:]
    np.testing.assert_array_equal(got, exp)


def test_outside_is_zero_then_normalised(level):
    img = rand_img(30, 30, seed=2)
    got = core.warp_affine(img, similarity(0, 1, 1e4, -1e4), 20, 20, (10, 20, 30), (2, 3, 4))
    np.testing.assert_allclose(got, np.broadcast_to(np.array([-20, -60, -120], np.float32), got.shape))
    huge = np.array([[1e30, 1e30, 0], [-1e30, 3e29, 1e30]], np.float32)
    assert not core.warp_affine(img, huge, 16, 16).any()


def test_mean_scale(level):
    img = rand_img(64, 64, seed=3)
    M = MATS[1]
    mean, scale = (123.7, 116.3, 103.5), (1 / 58.4, 1 / 57.1, 1 / 57.4)
    np.testing.assert_allclose(core.warp_affine(img, M, 48, 40, mean, scale),
                               ref_warp(img, M, 48, 40, mean, scale), rtol=0, atol=1e-3)


def test_levels_agree(level, at_scalar):
    img = rand_img(250, 300, seed=5)
    for M in MATS:
        np.testing.assert_allclose(core.warp_affine(img, M, 131, 97, 127.5, 1 / 128),
                                   at_scalar(core.warp_affine, img, M, 131, 97, 127.5, 1 / 128), rtol=1e-5, atol=1e-4)


def test_non_contiguous_image(level):
    big = rand_img(120, 160, seed=6)
    M = MATS[4]
    for view in (big[10:90, 20:150], big[::-1], big[:, ::2]):
        np.testing.assert_array_equal(core.warp_affine(view, M, 64, 64),
                                      core.warp_affine(np.ascontiguousarray(view), M, 64, 64))


@pytest.mark.parametrize("case", ["nan_M", "inf_M", "M_shape", "img_dtype", "img_shape", "out0", "mean_len"])
def test_warp_bad_inputs(case):
    img, M, ow, oh, mean = rand_img(10, 10), MATS[0].copy(), 8, 8, (0, 0, 0)
    if case == "nan_M":
        M[0, 1] = np.nan
    elif case == "inf_M":
        M[1, 2] = np.inf
    elif case == "M_shape":
        M = np.eye(3, dtype=np.float32)
    elif case == "img_dtype":
        img = img.astype(np.float32)
    elif case == "img_shape":
        img = img[..., :2]
    elif case == "out0":
        ow = 0
    elif case == "mean_len":
        mean = (1, 2, 3, 4)
    with pytest.raises(ValueError):
        core.warp_affine(img, M, ow, oh, mean)


# ---------------------------------------------------------------- transform_points
@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("n", [0, 1, 5, 468])
def test_transform_points(d, n):
    rng = np.random.default_rng(n + d)
    pts = rng.normal(100, 50, (n, d)).astype(np.float32)
    M = similarity(23, 1.7, -4, 9)
    got = core.transform_points(pts, M)
    assert got.dtype == np.float32 and got.shape == (n, d)
    Md = M.astype(np.float64)
    exp = pts.astype(np.float64).copy()
    exp[:, :2] = pts[:, :2] @ Md[:, :2].T + Md[:, 2]
    if d == 3:
        exp[:, 2] *= np.sqrt(abs(np.linalg.det(Md[:, :2])))
        np.testing.assert_allclose(np.sqrt(abs(np.linalg.det(Md[:, :2]))), 1.7, rtol=1e-6)
    np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-4)


def test_transform_points_consistent_with_warp():
    # a pixel at input (u, v) lands at output (x, y) with M_inv mapping input -> output
    M = similarity(-30, 0.5, 40, 10)  # output -> input
    Minv = cv2.invertAffineTransform(M)
    p = np.array([[40.0, 10.0], [12.5, 3.25]], np.float32)
    back = core.transform_points(core.transform_points(p, Minv), M)
    np.testing.assert_allclose(back, p, atol=1e-4)


def test_transform_points_bad_inputs():
    M = similarity(0, 1, 0, 0)
    with pytest.raises(ValueError):
        core.transform_points(np.zeros((3, 4), np.float32), M)
    with pytest.raises(ValueError):
        core.transform_points(np.zeros(6, np.float32), M)
    with pytest.raises(ValueError):
        core.transform_points(np.zeros((3, 2), np.float32), np.zeros((3, 3), np.float32))
    nan_pts = np.array([[np.nan, 1.0]], np.float32)
    assert np.isnan(core.transform_points(nan_pts, M)[0, 0])  # NaN points propagate
