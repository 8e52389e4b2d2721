"""Draws a Rekognition face response onto its image (``facelens detect-faces --draw OUT.png``).

``draw_faces(image, response)`` is a pure function: an RGB or BGR uint8 image [H, W, 3] and a DetectFaces /
IndexFaces response (or a list of FaceDetails) in, a new image of the same size and channel order out. It draws
for each face: the BoundingBox, the Landmarks, head-pose axes at the nose from Pose, and a gaze arrow at each
pupil from EyeDirection. Signs follow README "Conventions": Yaw > 0 turns/looks toward the image's left, Pitch > 0
up, Roll > 0 rotates clockwise in the image. The axes are the head's own: red = the direction of the image's +x
for a frontal face, green = up, blue = forward (out of the face; a dot when the face looks into the camera).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Mapping, Tuple, Union

import numpy as np

# colours as (R, G, B); swapped when the caller says the image is BGR
BOX = (0, 220, 0)
LANDMARK = (255, 220, 0)
AXIS_X = (230, 40, 40)
AXIS_Y = (40, 200, 40)
AXIS_Z = (40, 80, 255)
GAZE = (255, 0, 255)


def _face_details(response: Union[Mapping[str, Any], Iterable[Mapping[str, Any]]]) -> List[Mapping[str, Any]]:
    if isinstance(response, Mapping):
        if "FaceDetails" in response:
            return list(response["FaceDetails"])
        if "FaceRecords" in response:
            return [r["FaceDetail"] for r in response["FaceRecords"] if "FaceDetail" in r]
        if "BoundingBox" in response:
            return [response]
        return []
    return list(response)


def head_axes(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 matrix whose columns are the head's x (image-right when frontal), up and forward axes in camera
    coordinates (x right, y down, z away from the camera), with README's signs."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])  # pitch up: y < 0
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])  # clockwise on screen
    rot = rz @ ry @ rx
    return rot @ np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]]).T


def gaze_vector(yaw: float, pitch: float) -> np.ndarray:
    """Image-plane (dx, dy) of a gaze direction with README's signs (yaw > 0 toward image left, pitch > 0 up)."""
    y, p = math.radians(yaw), math.radians(pitch)
    return np.array([-math.sin(y) * math.cos(p), -math.sin(p)])


def draw_faces(image: np.ndarray, response: Union[Mapping[str, Any], Iterable[Mapping[str, Any]]],
               bgr: bool = False) -> np.ndarray:
    """A copy of ``image`` with every face of ``response`` drawn on it (see the module docstring)."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    col = (lambda c: c[::-1]) if bgr else (lambda c: c)
    thick = max(1, round(max(h, w) / 400))

    def pt(x: float, y: float) -> Tuple[int, int]:
        return int(round(x)), int(round(y))

    for face in _face_details(response):
        box = face.get("BoundingBox")
        if not box:
            continue
        x0, y0 = box["Left"] * w, box["Top"] * h
        bw, bh = box["Width"] * w, box["Height"] * h
        cv2.rectangle(out, pt(x0, y0), pt(x0 + bw, y0 + bh), col(BOX), thick, cv2.LINE_AA)
        marks: Dict[str, tuple] = {m["Type"]: (m["X"] * w, m["Y"] * h) for m in face.get("Landmarks", [])}
        for x, y in marks.values():
            cv2.circle(out, pt(x, y), thick + 1, col(LANDMARK), -1, cv2.LINE_AA)
        size = max(bw, bh)

        pose = face.get("Pose")
        if pose:
            nose = marks.get("nose", (x0 + bw / 2, y0 + bh / 2))
            axes = head_axes(pose.get("Yaw", 0.0), pose.get("Pitch", 0.0), pose.get("Roll", 0.0))
            for i, c in ((2, AXIS_Z), (1, AXIS_Y), (0, AXIS_X)):
                d = axes[:2, i] * 0.5 * size
                cv2.line(out, pt(*nose), pt(nose[0] + d[0], nose[1] + d[1]), col(c), thick + 1, cv2.LINE_AA)

        gaze = face.get("EyeDirection")
        if gaze:
            d = gaze_vector(gaze.get("Yaw", 0.0), gaze.get("Pitch", 0.0)) * 0.6 * size
            for pupil, eye in (("leftPupil", "eyeLeft"), ("rightPupil", "eyeRight")):
                p = marks.get(pupil) or marks.get(eye)
                if p is None:
                    continue
                cv2.arrowedLine(out, pt(*p), pt(p[0] + d[0], p[1] + d[1]), col(GAZE), thick + 1, cv2.LINE_AA,
                                tipLength=0.25)
    return out
