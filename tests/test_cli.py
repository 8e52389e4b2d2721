"""The ``facelens`` command line on real photos: each command runs as its own process (``python -m facelens``)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import facelens
from tests.support.cli import run_cli
from tests.support.data import data_path

SAMPLE = Path(facelens.__file__).parent / "data" / "sample.jpg"


@pytest.mark.data
def test_cli_collection_scenario(tmp_path):
    """create → index (with --draw) → search by image (another photo of the same person) → search by id →
    describe/list → delete faces → delete collection; then the errors."""
    indexed, other = data_path("images/fr_obama.jpg"), data_path("images/fr_test_obama1.jpg")
    biden = data_path("images/fr_biden.jpg")
    home = tmp_path / "home"
    created = run_cli(home, "create-collection", "people")
    assert created["StatusCode"] == 200 and created["CollectionArn"].endswith("/people")

    drawn = tmp_path / "indexed.png"
    idx = run_cli(home, "index-faces", "people", indexed, "--external-image-id", "obama", "--draw", drawn)
    assert len(idx["FaceRecords"]) == 1 and idx["FaceRecords"][0]["Face"]["ExternalImageId"] == "obama"
    obama = idx["FaceRecords"][0]["Face"]["FaceId"]
    assert drawn.stat().st_size > 0
    bid = run_cli(home, "index-faces", "people", biden, "--external-image-id", "biden", "--max-faces", "1",
              "--quality-filter", "none")
    biden_id = bid["FaceRecords"][0]["Face"]["FaceId"]

    hit = run_cli(home, "search-faces-by-image", "people", other, "--threshold", "80")
    assert [m["Face"]["FaceId"] for m in hit["FaceMatches"]] == [obama]
    assert hit["FaceMatches"][0]["Similarity"] >= 80
    by_id = run_cli(home, "search-faces", "people", obama, "--threshold", "0", "--max-faces", "5")
    assert [m["Face"]["FaceId"] for m in by_id["FaceMatches"]] == [biden_id]

    desc = run_cli(home, "describe-collection", "people")
    assert desc["FaceCount"] == 2
    assert desc["CreationTimestamp"][:2] == "20" and desc["CreationTimestamp"].endswith("+00:00")  # ISO 8601
    assert run_cli(home, "list-collections")["CollectionIds"] == ["people"]
    faces = run_cli(home, "list-faces", "people")
    assert {f["FaceId"] for f in faces["Faces"]} == {obama, biden_id} and "NextToken" not in faces

    missing = "11111111-2222-4333-8444-555555555555"
    deleted = run_cli(home, "delete-faces", "people", obama, missing)
    assert deleted["DeletedFaces"] == [obama]
    assert [u["FaceId"] for u in deleted["UnsuccessfulFaceDeletions"]] == [missing]
    assert run_cli(home, "delete-collection", "people")["StatusCode"] == 200

    for argv, text in ((("describe-collection", "people"), "ResourceNotFoundException"),
                       (("index-faces", "people", tmp_path / "nope.jpg"), "cannot read")):
        bad = run_cli(home, *argv, ok=False)
        assert bad.returncode == 2 and text in bad.stderr and bad.stdout == ""


def test_cli_draw(tmp_path):
    """--draw writes a PNG of the input's size that differs from the input; EyeDirection is requested for it."""
    import cv2

    out = tmp_path / "drawn.png"
    resp = run_cli(tmp_path, "detect-faces", SAMPLE, "--draw", out)
    assert "EyeDirection" in resp["FaceDetails"][0]
    drawn = cv2.imread(str(out), cv2.IMREAD_COLOR)
    original = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)
    assert drawn is not None and drawn.shape == original.shape
    changed = np.any(np.abs(drawn.astype(int) - original.astype(int)) > 40, axis=2)
    assert 200 < changed.sum() < 0.05 * changed.size  # lines were drawn, the photo is still there
    box = resp["FaceDetails"][0]["BoundingBox"]
    h, w = changed.shape
    x0, y0 = int(box["Left"] * w), int(box["Top"] * h)
    assert changed[max(0, y0 - 2):y0 + 3, x0:x0 + int(box["Width"] * w)].any()  # the box's top edge


def test_draw_signs():
    """Arrows and axes follow README "Conventions": Yaw > 0 toward the image's left, Pitch > 0 up, Roll > 0
    clockwise."""
    from facelens.draw import gaze_vector, head_axes

    assert gaze_vector(30, 0)[0] < 0 and gaze_vector(0, 30)[1] < 0
    axes = head_axes(30, 0, 0)
    assert axes[0, 2] < 0  # forward turns toward the image's left
    assert head_axes(0, 30, 0)[1, 2] < 0  # forward tilts up
    assert head_axes(0, 0, 30)[1, 0] > 0  # the head's x axis rotates clockwise (down on its right)
    np.testing.assert_allclose(head_axes(0, 0, 0), np.diag([1.0, -1.0, -1.0]), atol=1e-12)


@pytest.mark.data
def test_cli_video_wait(tmp_path):
    """start-face-detection --wait: a progress bar on stderr, then every page of GetFaceDetection as one JSON."""
    pytest.importorskip("av")
    video = data_path("videos/pyfeat_single_face.mp4")
    home = tmp_path / "home"
    (home / "s3" / "clips").mkdir(parents=True)
    shutil.copy(video, home / "s3" / "clips" / "single.mp4")
    out = subprocess.run([sys.executable, "-m", "facelens", "--home", str(home), "start-face-detection",
                          "--bucket", "clips", "--name", "single.mp4", "--wait"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    resp = json.loads(out.stdout)
    assert resp["JobStatus"] == "SUCCEEDED" and "NextToken" not in resp
    assert len(resp["Faces"]) >= 10 and resp["VideoMetadata"]["FrameWidth"] == 640
    assert "100.0%" in out.stderr and "SUCCEEDED" in out.stderr
    again = run_cli(home, "get-face-detection", resp["JobId"])
    assert again["Faces"] == resp["Faces"]
