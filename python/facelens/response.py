"""Rekognition's response shapes, assembled in one place.

Pixels become ratios of the image's width and height here and nowhere else; angles are degrees; confidences
are percentages.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from .pipeline import FaceAnalysis

# Rekognition landmark type → FaceMesh index. Names are image-side: "left" is the image's left, so eyeLeft is
# the subject's right eye. Pairs are mirror images of each other, so a mirrored photo swaps them.
LANDMARKS_ALL: Tuple[Tuple[str, object], ...] = (
    ("eyeLeft", (33, 133)),  # midpoint of the eye corners
    ("eyeRight", (263, 362)),
    ("nose", 1),
    ("mouthLeft", 61),
    ("mouthRight", 291),
    ("leftEyeBrowLeft", 70),
    ("leftEyeBrowRight", 107),
    ("leftEyeBrowUp", 105),
    ("rightEyeBrowLeft", 336),
    ("rightEyeBrowRight", 300),
    ("rightEyeBrowUp", 334),
    ("leftEyeLeft", 33),
    ("leftEyeRight", 133),
    ("leftEyeUp", 159),
    ("leftEyeDown", 145),
    ("rightEyeLeft", 362),
    ("rightEyeRight", 263),
    ("rightEyeUp", 386),
    ("rightEyeDown", 374),
    ("noseLeft", 98),
    ("noseRight", 327),
    ("mouthUp", 0),
    ("mouthDown", 17),
    ("leftPupil", 468),
    ("rightPupil", 473),
    ("upperJawlineLeft", 234),
    ("midJawlineLeft", 172),
    ("chinBottom", 152),
    ("midJawlineRight", 397),
    ("upperJawlineRight", 454),
)
LANDMARKS_DEFAULT = LANDMARKS_ALL[:5]


def _point(mesh: np.ndarray, index) -> Tuple[float, float]:
    if isinstance(index, tuple):
        p = mesh[list(index), :2].mean(axis=0)
    else:
        p = mesh[index, :2]
    return float(p[0]), float(p[1])


def bounding_box(box: np.ndarray, width: int, height: int) -> Dict[str, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"Width": (x2 - x1) / width, "Height": (y2 - y1) / height, "Left": x1 / width, "Top": y1 / height}


def landmarks(face: FaceAnalysis, width: int, height: int, full: bool) -> List[Dict[str, object]]:
    table = LANDMARKS_ALL if full else LANDMARKS_DEFAULT
    out = []
    for name, index in table:
        x, y = _point(face.mesh, index)
        out.append({"Type": name, "X": x / width, "Y": y / height})
    return out


def _angle(v: float) -> float:
    return float(max(-180.0, min(180.0, v)))


def _percent(v: float) -> float:
    return float(max(0.0, min(100.0, v)))


def face_detail(face: FaceAnalysis, width: int, height: int, attributes: frozenset) -> Dict[str, object]:
    """One FaceDetail. ``width``/``height`` are the pixel size of the image the face's coordinates refer to."""
    yaw, pitch, roll = face.pose
    brightness, sharpness = face.quality
    detail: Dict[str, object] = {
        "BoundingBox": bounding_box(face.box, width, height),
        "Landmarks": landmarks(face, width, height, full="ALL" in attributes),
        "Pose": {"Roll": _angle(roll), "Yaw": _angle(yaw), "Pitch": _angle(pitch)},
        "Quality": {"Brightness": _percent(brightness), "Sharpness": _percent(sharpness)},
        "Confidence": _percent(100.0 * face.score),
    }
    if "EYE_DIRECTION" in attributes and face.eye_direction is not None:
        gy, gp, gc = face.eye_direction
        detail["EyeDirection"] = {"Yaw": _angle(gy), "Pitch": _angle(gp), "Confidence": _percent(gc)}
    return detail


def detect_faces(faces: List[FaceAnalysis], width: int, height: int, attributes: frozenset) -> Dict[str, object]:
    return {"FaceDetails": [face_detail(f, width, height, attributes) for f in faces]}
