"""The attribute network's training tools: the synthetic facial hair and hard negatives of tools/attribute_synth.py
and the Platt fit of tools/train_attributes.py (no torch needed: the trainer imports it only when it trains)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
synth = pytest.importorskip("attribute_synth")
train = pytest.importorskip("train_attributes")


def _face():
    """A flat grey 240 px face with a synthetic 478-point mesh: the canonical FaceMesh layout is not needed, only
    points where the masks' indices look for them, so every point gets a place on a plausible face oval."""
    rng = np.random.default_rng(0)
    mesh = np.zeros((478, 3), np.float32)
    # spread all points over the face, then put the named regions where a face has them
    mesh[:, 0] = rng.uniform(70, 170, 478)
    mesh[:, 1] = rng.uniform(60, 200, 478)

    def place(idx, cx, cy, rx, ry):
        t = np.linspace(0, 2 * np.pi, len(idx), endpoint=False)
        mesh[list(idx), 0] = cx + rx * np.cos(t)
        mesh[list(idx), 1] = cy + ry * np.sin(t)

    place(synth.LEFT_EYE, 90, 100, 14, 6)
    place(synth.RIGHT_EYE, 150, 100, 14, 6)
    place(synth.LIPS, 120, 175, 22, 8)
    place(synth.MUSTACHE_AREA, 120, 162, 26, 9)
    place(synth.BEARD_AREA, 120, 185, 60, 35)
    place(synth.GOATEE_AREA, 120, 190, 22, 25)
    mesh[10] = (120, 40, 0)
    mesh[152] = (120, 225, 0)
    mesh[1] = (120, 140, -20)
    return np.full((240, 240, 3), 170.0, np.float32), mesh


def _darkening(before, after, mask):
    return float(((before - after).mean(2) * mask).sum() / max(mask.sum(), 1))


def _change(before, after, mask):
    return float((np.abs(before - after).mean(2) * mask).sum() / max(mask.sum(), 1))


def test_short_beard_changes_the_jaw_not_the_eyes_and_far_more_than_light_stubble():
    img, mesh = _face()
    eyes = np.maximum(synth.hull_mask(img.shape, mesh, synth.LEFT_EYE), synth.hull_mask(img.shape, mesh,
                                                                                        synth.RIGHT_EYE))
    lip = synth.hull_mask(img.shape, mesh, synth.MUSTACHE_AREA) * (1 - synth.hull_mask(img.shape, mesh, synth.LIPS))
    beards = [synth.short_beard(np.random.default_rng(s), img, mesh, ("beard", "mustache")) for s in range(30)]
    stubbles = [synth.stubble(np.random.default_rng(s), img, mesh) for s in range(30)]
    beard_lip = [_change(img, b, lip) for b in beards]
    stubble_lip = [_change(img, s, lip) for s in stubbles]
    assert max(_change(img, b, eyes) for b in beards) < 1.0
    # light stubble (a hard negative) stays well below the short beards (positives): grey hair on pale skin can be
    # as faint, as it is in photos, but the two looks do not overlap as a rule
    assert np.mean(beard_lip) > 4 * np.mean(stubble_lip)
    assert np.median(beard_lip) > max(stubble_lip)
    # hair is drawn as strokes: texture inside the area, not a flat shade
    assert np.std((img - beards[0]).mean(2)[lip > 0.9]) > 5


def test_moustache_alone_leaves_the_chin():
    img, mesh = _face()
    out = synth.short_beard(np.random.default_rng(3), img, mesh, ("mustache",))
    chin = np.zeros(img.shape[:2], np.float32)
    chin[212:222, 110:130] = 1
    lip = synth.hull_mask(img.shape, mesh, synth.MUSTACHE_AREA) * (1 - synth.hull_mask(img.shape, mesh, synth.LIPS))
    assert _change(img, out, lip) > 5
    assert _change(img, out, chin) < 1.0


def test_dark_sockets_ring_the_eyes_and_leave_them_alone():
    img, mesh = _face()
    eyes = np.maximum(synth.hull_mask(img.shape, mesh, synth.LEFT_EYE), synth.hull_mask(img.shape, mesh,
                                                                                        synth.RIGHT_EYE))
    ring = np.zeros(img.shape[:2], np.float32)
    ring[78:92, 76:104] = 1  # above the left eye, below the brow: where a rim would be
    chin = np.zeros(img.shape[:2], np.float32)
    chin[200:220, 100:140] = 1
    for s in range(10):
        out = synth.dark_sockets(np.random.default_rng(s), img, mesh)
        assert _darkening(img, out, ring) > 5
        assert _darkening(img, out, eyes * (eyes > 0.99)) < 2
        assert _darkening(img, out, chin) < 0.5


def test_balanced_platt_moves_the_half_point_to_the_balanced_one():
    rng = np.random.default_rng(0)
    # 100 positives around +1, 900 negatives around -1: the prior pulls the plain fit's 0.5 point towards the
    # positives; weighing the classes equally puts it near the middle, where the two recalls are equal
    z = np.concatenate([rng.normal(1, 1, 100), rng.normal(-1, 1, 900)])
    t = np.concatenate([np.ones(100), np.zeros(900)])
    a, b = train.platt(z, t)
    ab, bb = train.platt(z, t, balanced=True)
    half, half_b = -b / a, -bb / ab
    assert half > 0.5
    assert abs(half_b) < 0.25
    rec = lambda th: 0.5 * ((z[t == 1] >= th).mean() + (z[t == 0] < th).mean())  # noqa: E731
    assert rec(half_b) > rec(half)
    # balanced data: the weighting changes nothing
    zs, ts = np.concatenate([rng.normal(1, 1, 500), rng.normal(-1, 1, 500)]), np.repeat([1.0, 0.0], 500)
    assert np.allclose(train.platt(zs, ts), train.platt(zs, ts, balanced=True), atol=1e-6)


def _weighted_fpr(p, t, w, point):
    return w[(t == 0) & (p >= point)].sum() / w[t == 0].sum()


def test_real_decision_point_keeps_the_real_faces_false_positives_under_the_cap():
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(0, 1, 200), rng.uniform(0.3, 1, 20)])
    t = np.concatenate([np.zeros(200), np.ones(20)])
    w = np.ones(len(p))
    point = train.real_decision_point(p, t, w, balanced=False)
    assert point >= 0.5
    assert _weighted_fpr(p, t, w, point) <= train.REAL_FPR_CAP
    # the lowest such point: one negative lower and the cap is broken
    below = p[(t == 0) & (p < point)].max()
    assert _weighted_fpr(p, t, w, below) > train.REAL_FPR_CAP
    # negatives that never reach 0.5: the point stays at 0.5
    assert train.real_decision_point(np.concatenate([p[:200] * 0.4, p[200:]]), t, w, balanced=False) == 0.5


def test_real_decision_point_with_balanced_accuracy_may_go_below_half_but_not_below_the_cap():
    # negatives all below 0.2, positives between 0.25 and 0.6: the best balanced point is the lowest positive
    p = np.concatenate([np.linspace(0.0, 0.2, 100), np.linspace(0.25, 0.6, 10)])
    t = np.concatenate([np.zeros(100), np.ones(10)])
    w = np.ones(len(p))
    point = train.real_decision_point(p, t, w, balanced=True)
    assert point == pytest.approx(0.25)
    assert train.real_decision_point(p, t, w, balanced=False) == 0.5
    # with a dense cluster of negatives just above the positives' bottom, the cap holds the point up
    p2 = np.concatenate([p, np.full(20, 0.3)])
    t2 = np.concatenate([t, np.zeros(20)])
    w2 = np.ones(len(p2))
    point2 = train.real_decision_point(p2, t2, w2, balanced=True)
    assert point2 > 0.3
    assert _weighted_fpr(p2, t2, w2, point2) <= train.REAL_FPR_CAP


def test_a_video_track_weighs_as_one_face():
    # 30 frames of one track read 0.8 and 70 photo faces 0.1: by crops that is 30 % false positives at 0.5, by faces
    # (the track shares a weight of 1 among its frames) 1/71, under the cap
    p = np.concatenate([np.full(30, 0.8), np.full(70, 0.1), [0.9]])
    t = np.concatenate([np.zeros(100), [1]])
    per_crop = np.ones(len(p))
    per_face = np.concatenate([np.full(30, 1 / 30), np.ones(71)])
    assert train.real_decision_point(p, t, per_crop, balanced=False) > 0.8
    assert train.real_decision_point(p, t, per_face, balanced=False) == 0.5


def test_folds_keep_groups_whole_and_deal_positive_identities_apart():
    groups = ["salley"] * 5 + ["dicaprio"] * 3 + ["dorsey"] + ["track7"] * 4 + [f"photo{i}" for i in range(40)]
    y = np.zeros((len(groups), 5), np.float32)
    y[:9, 2] = 1  # the first three identities are bearded
    folds = train.assign_folds(groups, y)
    by_group = {}
    for g, f in zip(groups, folds):
        by_group.setdefault(g, set()).add(int(f))
    assert all(len(v) == 1 for v in by_group.values())
    assert len({next(iter(by_group[g])) for g in ("salley", "dicaprio", "dorsey")}) == 3
    assert set(folds) == set(range(train.FOLDS))


def test_an_ensemble_command_trains_each_member_then_combines_them():
    from argparse import Namespace

    args = Namespace(seed=0, train_samples=7000, calibration_samples=1500, epochs=14, oof=None, ensemble=[3, 5],
                     members=Path("/tmp/members"))
    cmd = train.full_command(args)
    crops, loop, combine = cmd.split(" && ")
    assert crops.startswith("python tools/attribute_crops.py")
    assert loop.startswith("for s in 3 5; do ") and "--seed $s " in loop and "--member-out /tmp/members/member$s.pt" in loop
    assert combine.endswith("--ensemble 3 5 --members /tmp/members") and "--member-out" not in combine
    single = train.full_command(Namespace(**{**vars(args), "ensemble": None}))
    assert "--ensemble" not in single and "--member-out" not in single and single.count(" && ") == 1
