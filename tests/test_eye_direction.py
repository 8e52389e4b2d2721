"""EyeDirection on labelled photos: signs, the looking-at-camera case, and what lowers its confidence."""

import cv2
import numpy as np
import pytest
from tools import labelled

from tests.support.data import data_path, image_bytes

pytestmark = pytest.mark.data


def _labelled():
    data_path("annotated/attributes_by_eye.tsv")  # skips when the data is absent
    return labelled.read_tsv("annotated/attributes_by_eye.tsv")


def _largest(client, data):
    faces = client.detect_faces(Image={"Bytes": data}, Attributes=["EYE_DIRECTION"])["FaceDetails"]
    if not faces:
        return None
    return max(faces, key=lambda f: f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"])


@pytest.fixture(scope="module")
def gaze_by_label(client):
    out = {}
    for row in _labelled():
        if row["gaze"] not in ("camera", "left", "right", "up", "down") or row["eyes_open"] != "1":
            continue
        face = _largest(client, image_bytes(row["file"]))
        if face is None:
            continue
        out.setdefault(row["gaze"], []).append(face["EyeDirection"])
    return out


def test_looking_at_the_camera_is_near_zero(gaze_by_label):
    cam = gaze_by_label["camera"]
    assert len(cam) >= 40
    yaw = np.median([abs(g["Yaw"]) for g in cam])
    pitch = np.median([abs(g["Pitch"]) for g in cam])
    print(f"camera-gaze faces: median |yaw| {yaw:.1f}, median |pitch| {pitch:.1f} deg (n={len(cam)})")
    assert yaw < 10
    assert pitch < 12


def test_left_and_right_gazes_have_the_documented_signs(gaze_by_label):
    left = [g["Yaw"] for g in gaze_by_label.get("left", [])]
    right = [g["Yaw"] for g in gaze_by_label.get("right", [])]
    assert len(left) >= 4 and len(right) >= 3
    correct = sum(y > 0 for y in left) + sum(y < 0 for y in right)
    print(f"left/right gaze sign accuracy {correct}/{len(left) + len(right)}")
    assert np.mean(left) > 10  # yaw > 0: looking toward image-left
    assert np.mean(right) < -10
    assert correct / (len(left) + len(right)) >= 0.75


def test_up_and_down_gazes_have_the_documented_signs(gaze_by_label):
    up = [g["Pitch"] for g in gaze_by_label.get("up", [])]
    down = [g["Pitch"] for g in gaze_by_label.get("down", [])]
    assert up and down
    assert np.mean(up) > np.mean(down) + 10


def test_confidence_drops_for_closed_eyes(client):
    open_face = _largest(client, data_path("images/inspireface/reaction_open_eyes.png").read_bytes())
    closed_face = _largest(client, data_path("images/inspireface/reaction_close_eyes.jpeg").read_bytes())
    assert closed_face["EyeDirection"]["Confidence"] < 50
    assert closed_face["EyeDirection"]["Confidence"] < open_face["EyeDirection"]["Confidence"] - 30


def test_confidence_drops_for_tiny_faces(client):
    img = cv2.imread(str(data_path("images/fr_obama.jpg")))
    full = _largest(client, cv2.imencode(".png", img)[1].tobytes())
    canvas = np.full((1000, 1000, 3), 127, np.uint8)
    small = cv2.resize(img, (60, 75), interpolation=cv2.INTER_AREA)
    canvas[400:475, 400:460] = small
    tiny = _largest(client, cv2.imencode(".png", canvas)[1].tobytes())
    assert full["EyeDirection"]["Confidence"] > 80
    assert tiny is not None and tiny["EyeDirection"]["Confidence"] < full["EyeDirection"]["Confidence"] - 30


def test_confidence_drops_for_extreme_pose(client):
    frontal = _largest(client, data_path("annotated/aflw2000_prnet/image00050.jpg").read_bytes())
    profile = _largest(client, data_path("images/prnet_3.jpg").read_bytes())
    assert profile["EyeDirection"]["Confidence"] < frontal["EyeDirection"]["Confidence"] - 30
