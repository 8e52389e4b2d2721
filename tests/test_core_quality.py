"""face_quality: mean luma and Laplacian variance of a face crop."""
import cv2
import numpy as np
import pytest

import facelens._core as core


def axis_weights(n_in, n_out):
    """Area when shrinking, cv2 INTER_LINEAR geometry otherwise."""
    Wm = np.zeros((n_out, n_in))
    s = n_in / n_out
    for i in range(n_out):
        if s > 1:
            a, b = i * s, min((i + 1) * s, n_in)
            for j in range(int(np.floor(a)), int(np.ceil(b))):
                Wm[i, j] = (min(j + 1, b) - max(j, a)) / (b - a)
        else:
            f = (i + 0.5) * s - 0.5
            j = int(np.floor(f))
            t = f - j
            Wm[i, min(max(j, 0), n_in - 1)] += 1 - t
            Wm[i, min(max(j + 1, 0), n_in - 1)] += t
    return Wm


def crop_of(img, box):
    H, W = img.shape[:2]
    x1, x2 = np.clip([box[0], box[2]], 0, W)
    y1, y2 = np.clip([box[1], box[3]], 0, H)
    return img[int(np.floor(y1)):int(np.ceil(y2)), int(np.floor(x1)):int(np.ceil(x2))]


def ref_quality(img, box, size=64):
    crop = crop_of(img, box).astype(np.float64)
    ch, cw = crop.shape[:2]
    rs = np.einsum("yi,ijc,xj->yxc", axis_weights(ch, size), crop, axis_weights(cw, size), optimize=True)
    luma = rs @ np.array([0.299, 0.587, 0.114])
    lap = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4 * luma[1:-1, 1:-1])
    return luma.mean(), lap.var()


def cv2_quality(img, box, size=64):
    """The same statistic computed with OpenCV primitives (float pipeline)."""
    crop = crop_of(img, box).astype(np.float32)
    ch, cw = crop.shape[:2]
    interp = cv2.INTER_AREA if (cw >= size and ch >= size) else cv2.INTER_LINEAR
    rs = cv2.resize(crop, (size, size), interpolation=interp)
    luma = cv2.cvtColor(rs, cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = cv2.Laplacian(luma, cv2.CV_64F, ksize=1)[1:-1, 1:-1]
    return luma.mean(), lap.var()


def textured(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


BOXES = [(10.5, 20.2, 90.7, 80.1), (0, 0, 200, 150), (-30, -40, 50, 60), (150.2, 100.9, 260, 400),
         (33, 44, 34, 45), (12.3, 12.3, 12.9, 12.8), (5, 5, 150, 20), (5, 5, 20, 150)]


@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("size", [64, 3, 17])
def test_matches_reference(level, box, size):
    img = textured(150, 200, seed=1)
    mean, var = core.face_quality(img, box, size)
    rm, rv = ref_quality(img, box, size)
    assert isinstance(mean, float) and isinstance(var, float)
    assert 0 <= mean <= 255
    assert mean == pytest.approx(rm, rel=1e-5, abs=1e-4)
    assert var == pytest.approx(rv, rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("box", [(0, 0, 200, 150), (10, 10, 170, 120), (50, 40, 70, 60), (60, 50, 68, 58)])
def test_matches_cv2(level, box):
    img = textured(150, 200, seed=2)
    mean, var = core.face_quality(img, box, 64)
    cm, cv = cv2_quality(img, box, 64)
    assert mean == pytest.approx(cm, rel=1e-4)
    assert var == pytest.approx(cv, rel=1e-3)


def test_flat_and_sharp(level):
    flat = np.full((80, 80, 3), (200, 100, 50), np.uint8)
    mean, var = core.face_quality(flat, (5, 5, 70, 75))
    assert mean == pytest.approx(0.299 * 200 + 0.587 * 100 + 0.114 * 50, rel=1e-6)
    assert var == pytest.approx(0.0, abs=1e-6)
    sharp = textured(128, 128, seed=3)
    blurry = cv2.GaussianBlur(sharp, (0, 0), 3)
    assert core.face_quality(sharp, (0, 0, 128, 128))[1] > 5 * core.face_quality(blurry, (0, 0, 128, 128))[1]


def test_levels_agree(level, at_scalar):
    img = textured(300, 400, seed=4)
    for b in BOXES:
        np.testing.assert_allclose(core.face_quality(img, b), at_scalar(core.face_quality, img, b),
                                   rtol=1e-5, atol=1e-4, err_msg=str(b))


def test_tiny_image():
    img = np.array([[[10, 20, 30]]], np.uint8)
    mean, var = core.face_quality(img, (0, 0, 1, 1), 8)
    assert mean == pytest.approx(0.299 * 10 + 0.587 * 20 + 0.114 * 30, rel=1e-6) and var == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("box", [(300, 300, 400, 400), (-50, -50, -1, -1), (10, 10, 10, 50),
                                 (40, 40, 20, 60), (np.nan, 0, 10, 10), (0, 0, 10), (0, 0, 10, 10, 10)])
def test_bad_boxes_raise(box):
    with pytest.raises(ValueError):
        core.face_quality(textured(100, 100), box)


@pytest.mark.parametrize("size", [0, 2, -5])
def test_bad_size_raises(size):
    with pytest.raises(ValueError):
        core.face_quality(textured(50, 50), (0, 0, 20, 20), size)


def test_bad_image_raises():
    with pytest.raises(ValueError):
        core.face_quality(np.zeros((10, 10, 3), np.float32), (0, 0, 5, 5))
