"""eye_direction: the eyeball model recovers known gaze directions from synthetic landmarks."""

import math

import numpy as np
import pytest

import facelens._core as core

RADIUS = 1.2
EYEBALLS = np.array([[-3.2, -2.6, -2.4], [3.2, -2.6, -2.4]], np.float32)  # head frame, cm
IRIS, OUTER, INNER, UPPER, LOWER = (468, 473), (33, 263), (133, 362), (159, 386), (145, 374)


def rot(yaw, pitch, roll):
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def direction(yaw, pitch):
    """Unit vector out of the eye for facelens' convention (yaw > 0 toward image-left, pitch > 0 up)."""
    y, p = math.radians(yaw), math.radians(pitch)
    return np.array([-math.sin(y) * math.cos(p), -math.sin(p), -math.cos(y) * math.cos(p)])


def angles(v):
    return math.degrees(math.atan2(-v[0], -v[2])), math.degrees(math.atan2(-v[1], math.hypot(v[0], v[2])))


def scene(head, eye_in_head, scale=40.0, open_gap=0.3):
    """Landmarks of a head with pose `head` whose eyes both turn by `eye_in_head` (degrees)."""
    r = rot(*head)
    t = np.array([320.0, 240.0, 0.0])
    pts = np.zeros((478, 3), np.float32)
    g = direction(*eye_in_head)
    for k in range(2):
        centre = EYEBALLS[k].astype(np.float64)
        iris = centre + RADIUS * g
        corner_dx = np.array([1.4, 0, 0])
        lid_dy = np.array([0, open_gap * 2.8 / 2, 0])
        mid = centre + np.array([0, 0, -0.6])
        for index, p in ((IRIS[k], iris), (OUTER[k], mid - corner_dx), (INNER[k], mid + corner_dx),
                         (UPPER[k], mid - lid_dy), (LOWER[k], mid + lid_dy)):
            pts[index] = scale * (r @ p) + t
    return pts, r.astype(np.float32), scale, t.astype(np.float32)


def camera_gaze(head, eye_in_head):
    return angles(rot(*head) @ direction(*eye_in_head))


@pytest.mark.parametrize("head", [(0, 0, 0), (25, -10, 5), (-30, 15, -8), (10, 20, 30)])
@pytest.mark.parametrize("eye", [(0, 0), (20, 0), (-15, 10), (5, -20)])
def test_recovers_the_gaze_of_a_synthetic_head(head, eye):
    pts, r, scale, t = scene(head, eye)
    yaw, pitch, _conf, eih_yaw, eih_pitch, openness = core.eye_direction(pts, r, scale, t, EYEBALLS, RADIUS)
    want = camera_gaze(head, eye)
    assert yaw == pytest.approx(want[0], abs=0.05)
    assert pitch == pytest.approx(want[1], abs=0.05)
    assert eih_yaw == pytest.approx(eye[0], abs=0.05)
    assert eih_pitch == pytest.approx(eye[1], abs=0.05)
    assert openness == pytest.approx(1.0)


def test_looking_into_the_camera_counter_rotates_the_eyes():
    head = (30, 0, 0)
    pts, r, scale, t = scene(head, (-30, 0))
    yaw, pitch, *_ = core.eye_direction(pts, r, scale, t, EYEBALLS, RADIUS)
    assert abs(yaw) < 0.05 and abs(pitch) < 0.05


def test_prior_and_offset_are_blended_in_the_head_frame():
    pts, r, scale, t = scene((0, 0, 0), (10, 0))
    yaw, pitch, *_ = core.eye_direction(pts, r, scale, t, EYEBALLS, RADIUS, 1.0, 30.0, 4.0, 0.5, 2.0)
    assert yaw == pytest.approx(20.0, abs=0.05)  # (10 + 30) / 2
    assert pitch == pytest.approx(1.0, abs=0.05)  # ((0 - 2) + 4) / 2


def test_confidence_falls_for_closed_eyes_small_faces_and_turned_heads():
    base = core.eye_direction(*scene((0, 0, 0), (0, 0)), EYEBALLS, RADIUS)[2]
    closed = core.eye_direction(*scene((0, 0, 0), (0, 0), open_gap=0.05), EYEBALLS, RADIUS)[2]
    small = core.eye_direction(*scene((0, 0, 0), (0, 0), scale=1.5), EYEBALLS, RADIUS)[2]  # 9.6 px between irises
    turned = core.eye_direction(*scene((70, 0, 0), (0, 0)), EYEBALLS, RADIUS)[2]
    absent = core.eye_direction(*scene((0, 0, 0), (0, 0)), EYEBALLS, RADIUS, 0.1)[2]
    assert base == pytest.approx(100.0)
    assert closed == 0.0
    assert small == 0.0
    assert turned < 20
    assert absent == pytest.approx(10.0)


def test_mirror_image_gives_the_opposite_yaw():
    pts, r, scale, t = scene((20, 5, 3), (12, -6))
    yaw, pitch, *_ = core.eye_direction(pts, r, scale, t, EYEBALLS, RADIUS)
    flip = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)
    m = pts.copy()
    m[:, 0] = 640 - m[:, 0]
    m[[IRIS[0], IRIS[1], OUTER[0], OUTER[1], INNER[0], INNER[1], UPPER[0], UPPER[1], LOWER[0], LOWER[1]]] = m[
        [IRIS[1], IRIS[0], OUTER[1], OUTER[0], INNER[1], INNER[0], UPPER[1], UPPER[0], LOWER[1], LOWER[0]]]
    rm = flip @ r @ flip
    tm = np.array([640 - t[0], t[1], t[2]], np.float32)
    yaw_m, pitch_m, *_ = core.eye_direction(m, rm, scale, tm, EYEBALLS, RADIUS)
    assert yaw_m == pytest.approx(-yaw, abs=0.05)
    assert pitch_m == pytest.approx(pitch, abs=0.05)


@pytest.mark.parametrize("bad", ["few_points", "nan", "zero_scale"])
def test_bad_input_raises_value_error(bad):
    pts, r, scale, t = scene((0, 0, 0), (0, 0))
    if bad == "few_points":
        pts = pts[:400]
    elif bad == "nan":
        pts[468, 0] = np.nan
    else:
        scale = 0.0
    with pytest.raises(ValueError):
        core.eye_direction(pts, r, scale, t, EYEBALLS, RADIUS)
