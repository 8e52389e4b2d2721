"""The whole pipeline against bench/reference_pipeline.py (same models, numpy/OpenCV in place of the C++ core)."""

import cv2
import numpy as np
import pytest
from bench.reference_pipeline import ReferencePipeline

from tests.support.data import read

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def reference():
    return ReferencePipeline()


@pytest.mark.parametrize("rel", ["images/if_t1.jpg", "images/fr_two_people.jpg", "annotated/aflw2000_prnet/image00081.jpg"])
def test_boxes_and_pose_match_the_numpy_pipeline(client, reference, rel):
    data = read(rel)
    h, w = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
    ours = client.detect_faces(Image={"Bytes": data})["FaceDetails"]
    theirs = reference.detect(data, eyes=False)
    assert len(ours) == len(theirs) > 0
    for face in ours:
        b = face["BoundingBox"]
        box = np.array([b["Left"] * w, b["Top"] * h, (b["Left"] + b["Width"]) * w, (b["Top"] + b["Height"]) * h])
        # faces of near-equal size may come in another order (largest first)
        ref = min(theirs, key=lambda r: np.abs(box - r["box"]).max())
        side = ref["box"][2] - ref["box"][0]
        # if_t1's faces come from the detector's 320 px first look, where they are about 27 px on the network's
        # input: the two resampling filters (the C++ letterbox, cv2.resize) move their boxes by up to 2.8 px there
        # (an AVX2 machine; 2.5 px on an AVX-512 one). The pose follows the landmark crop, which follows the box:
        # 2.4 deg apart for such a face.
        small = side * 320 / max(w, h) < 40
        assert np.abs(box - ref["box"]).max() < (0.15 if small else 0.1) * side
        tolerance = 3.0 if small else 1.5
        yaw, pitch, roll = ref["pose"]
        assert abs(face["Pose"]["Yaw"] - yaw) < tolerance
        assert abs(face["Pose"]["Pitch"] - pitch) < tolerance
        assert abs(face["Pose"]["Roll"] - roll) < tolerance
