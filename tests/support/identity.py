"""The identification protocol's probe photo, shared by tests/test_collections_identity.py and
bench/compare_accuracy.py (the photos and splits are tools.labelled.identity_photos)."""

from __future__ import annotations

import cv2
import numpy as np


def probe_bytes(client, data: bytes, pick: str) -> bytes:
    """The photo, cropped to the labelled face's side when the label names the left or right person (so that
    the largest face SearchFacesByImage picks is the labelled one)."""
    if pick == "largest":
        return data
    faces = client.detect_faces(Image={"Bytes": data})["FaceDetails"][:2]
    centres = sorted(f["BoundingBox"]["Left"] + f["BoundingBox"]["Width"] / 2 for f in faces)
    cut = (centres[0] + centres[1]) / 2
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    w = img.shape[1]
    part = img[:, : int(cut * w)] if pick == "left" else img[:, int(cut * w):]
    return cv2.imencode(".png", part)[1].tobytes()
