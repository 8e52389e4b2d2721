"""head_pose (weighted Umeyama via Horn's quaternions) and rotation_to_euler."""
import numpy as np
import pytest

import facelens._core as core


def rot(yaw, pitch, roll):
    y, p, r = np.deg2rad([yaw, pitch, roll])
    Rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    Ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    Rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return Ry @ Rx @ Rz


def random_rotation(rng):
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def ref_umeyama(P, Q, w=None):
    """Weighted Umeyama (SVD) aligning reference Q onto points P: P ~ s R Q + t."""
    P, Q = P.astype(np.float64), Q.astype(np.float64)
    w = np.ones(len(P)) if w is None else np.asarray(w, np.float64)
    w = w / w.sum()
    mp, mq = w @ P, w @ Q
    Pc, Qc = P - mp, Q - mq
    cov = (Pc * w[:, None]).T @ Qc
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1
    R = U @ S @ Vt
    s = np.trace(np.diag(D) @ S) / (w * (Qc ** 2).sum(1)).sum()
    return R, s, mp - s * R @ mq


@pytest.mark.parametrize("n", [3, 5, 68, 468])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_matches_numpy_umeyama(n, weighted, seed):
    rng = np.random.default_rng(seed * 1000 + n)
    ref = rng.normal(0, 50, (n, 3)).astype(np.float32)
    R0, s0, t0 = random_rotation(rng), rng.uniform(0.3, 4), rng.normal(0, 100, 3)
    pts = (s0 * ref @ R0.T + t0 + rng.normal(0, 0.5, (n, 3))).astype(np.float32)
    w = rng.uniform(0.1, 2.0, n).astype(np.float32) if weighted else None
    R, s, t = core.head_pose(pts, ref, w)
    assert R.dtype == np.float32 and R.shape == (3, 3) and t.dtype == np.float32 and t.shape == (3,)
    assert isinstance(s, float)
    Rr, sr, tr = ref_umeyama(pts, ref, w)
    np.testing.assert_allclose(R, Rr, atol=2e-5)
    assert s == pytest.approx(sr, rel=1e-5)
    np.testing.assert_allclose(t, tr, rtol=1e-4, atol=1e-3 * (1 + np.abs(tr).max()))
    assert np.linalg.det(R.astype(np.float64)) == pytest.approx(1.0, abs=1e-5)


def test_exact_recovery_without_noise():
    rng = np.random.default_rng(7)
    ref = rng.normal(0, 1, (20, 3))
    R0 = rot(25, -10, 5)
    pts = 2.5 * ref @ R0.T + np.array([1.0, -2.0, 3.0])
    R, s, t = core.head_pose(pts, ref)
    np.testing.assert_allclose(R, R0, atol=1e-6)
    assert s == pytest.approx(2.5, rel=1e-6)
    np.testing.assert_allclose(t, [1, -2, 3], atol=1e-5)
    yaw, pitch, roll = core.rotation_to_euler(R)
    assert (yaw, pitch, roll) == pytest.approx((25, -10, 5), abs=1e-3)


def test_never_returns_reflection():
    rng = np.random.default_rng(3)
    for _ in range(20):
        ref = rng.normal(0, 1, (10, 3)).astype(np.float32)
        pts = ref * np.array([1, 1, -1], np.float32)  # mirror image: best orthogonal map is a reflection
        pts = pts @ random_rotation(rng).T.astype(np.float32)
        R, s, _t = core.head_pose(pts, ref)
        assert np.linalg.det(R.astype(np.float64)) == pytest.approx(1.0, abs=1e-5)
        Rr, sr, _ = ref_umeyama(pts, ref)
        np.testing.assert_allclose(R, Rr, atol=1e-4)
        assert s == pytest.approx(sr, rel=1e-4, abs=1e-6)


def test_planar_reference_and_weights_effect():
    rng = np.random.default_rng(5)
    ref = np.c_[rng.normal(0, 1, (6, 2)), np.zeros(6)].astype(np.float32)  # coplanar
    R0 = rot(-30, 20, 10)
    pts = (ref @ R0.T).astype(np.float32)
    R, _s, _t = core.head_pose(pts, ref)
    np.testing.assert_allclose(R, R0, atol=1e-5)
    # zero weight on an outlier removes its influence
    pts2 = pts.copy()
    pts2[0] += 100
    w = np.ones(6, np.float32)
    w[0] = 0
    R2, s2, _t2 = core.head_pose(pts2, ref, w)
    np.testing.assert_allclose(R2, R0, atol=1e-5)
    assert s2 == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("case", ["n2", "nan", "inf_ref", "neg_w", "zero_w", "w_len", "shape", "mismatch",
                                  "degenerate"])
def test_head_pose_bad_inputs(case):
    rng = np.random.default_rng(0)
    pts, ref, w = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), None
    if case == "n2":
        pts, ref = pts[:2], ref[:2]
    elif case == "nan":
        pts[1, 1] = np.nan
    elif case == "inf_ref":
        ref[2, 0] = np.inf
    elif case == "neg_w":
        w = np.array([1, 1, -1, 1, 1.0])
    elif case == "zero_w":
        w = np.zeros(5)
    elif case == "w_len":
        w = np.ones(4)
    elif case == "shape":
        pts, ref = pts[:, :2], ref[:, :2]
    elif case == "mismatch":
        ref = ref[:4]
    elif case == "degenerate":
        ref = np.ones((5, 3))
    with pytest.raises(ValueError):
        core.head_pose(pts, ref, w)


# ---------------------------------------------------------------- euler
def test_euler_round_trip():
    rng = np.random.default_rng(11)
    for _ in range(500):
        yaw, roll = rng.uniform(-179.9, 179.9, 2)
        pitch = rng.uniform(-89.5, 89.5)
        got = core.rotation_to_euler(rot(yaw, pitch, roll))
        assert got == pytest.approx((yaw, pitch, roll), abs=1e-6)
        got32 = core.rotation_to_euler(rot(yaw, pitch, roll).astype(np.float32))
        assert got32 == pytest.approx((yaw, pitch, roll), abs=0.05)


@pytest.mark.parametrize("pitch", [90.0, -90.0])
@pytest.mark.parametrize(("yaw", "roll"), [(0, 0), (30, 0), (10, 40), (-120, 75)])
def test_euler_gimbal_lock(pitch, yaw, roll):
    R = rot(yaw, pitch, roll)
    y, p, r = core.rotation_to_euler(R)
    assert p == pytest.approx(pitch, abs=1e-6)
    assert r == 0.0
    np.testing.assert_allclose(rot(y, p, r), R, atol=1e-9)


def test_euler_identity_and_bad_input():
    assert core.rotation_to_euler(np.eye(3)) == pytest.approx((0, 0, 0), abs=1e-12)
    with pytest.raises(ValueError):
        core.rotation_to_euler(np.eye(4))
    with pytest.raises(ValueError):
        core.rotation_to_euler(np.full((3, 3), np.nan))
