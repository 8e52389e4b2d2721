"""End-to-end DetectFaces: facelens (C++ core) beside the same models driven by a numpy/OpenCV pipeline.

Run: pytest bench/bench_detect.py --benchmark-only
Images are 640x480 JPEGs made from photos in ../shared/data: one face (fr_obama.jpg) and six (if_t1.jpg).
"""

import os
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import facelens
from bench.reference_pipeline import ReferencePipeline

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _jpeg_640x480(rel: str) -> bytes:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"{path} not available")
    img = cv2.imread(str(path))
    h, w = img.shape[:2]
    s = min(640 / w, 480 / h)
    small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    _ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return buf.tobytes()


PHOTOS = {"1face": "images/fr_obama.jpg", "6faces": "images/if_t1.jpg"}


@pytest.fixture(scope="module")
def client():
    return facelens.Client()


@pytest.fixture(scope="module")
def reference():
    return ReferencePipeline()


@pytest.mark.parametrize("attrs", [["DEFAULT"], ["DEFAULT", "EYE_DIRECTION"]], ids=["DEFAULT", "EYE_DIRECTION"])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_detect_faces_facelens(benchmark, client, photo, attrs):
    data = _jpeg_640x480(PHOTOS[photo])
    expected = 1 if photo == "1face" else 6
    client.detect_faces(Image={"Bytes": data}, Attributes=attrs)  # warm-up
    benchmark.group = f"detect_faces {photo} {attrs[-1]}"
    resp = benchmark(client.detect_faces, Image={"Bytes": data}, Attributes=attrs)
    assert len(resp["FaceDetails"]) == expected


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_detect_faces_precision(benchmark, photo, precision):
    """DEFAULT with every network in fp32 beside the default int8 networks (same run)."""
    client = facelens.Client(precision=precision)
    data = _jpeg_640x480(PHOTOS[photo])
    client.detect_faces(Image={"Bytes": data})
    benchmark.group = f"precision {photo} DEFAULT"
    resp = benchmark(client.detect_faces, Image={"Bytes": data})
    assert len(resp["FaceDetails"]) == (1 if photo == "1face" else 6)


@pytest.mark.parametrize("eyes", [False, True], ids=["DEFAULT", "EYE_DIRECTION"])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_detect_faces_numpy_reference(benchmark, reference, photo, eyes):
    data = _jpeg_640x480(PHOTOS[photo])
    expected = 1 if photo == "1face" else 6
    reference.detect(data, eyes)
    benchmark.group = f"detect_faces {photo} {'EYE_DIRECTION' if eyes else 'DEFAULT'}"
    faces = benchmark(reference.detect, data, eyes)
    assert len(faces) == expected


def test_peak_rss_with_models_loaded(benchmark):
    """Peak resident memory of a fresh process that loads the models and analyses both photos."""
    script = (
        "import resource, sys, facelens\n"
        "c = facelens.Client()\n"
        "for p in sys.argv[1:]:\n"
        "    c.detect_faces(Image={'Bytes': open(p, 'rb').read()}, Attributes=['ALL'])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    paths = [str(DATA / p) for p in PHOTOS.values()] + [str(DATA / "odd/derived/t1_huge_7680x5316.jpg")]
    paths = [p for p in paths if Path(p).exists()]

    def run():
        out = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, check=True)
        return int(out.stdout.strip()) / 1024

    benchmark.group = "memory"
    peak_mb = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["peak_rss_mb"] = round(peak_mb, 1)
    print(f"peak RSS with models loaded: {peak_mb:.0f} MB")
    assert peak_mb > 0
    _ = resource  # (the child measures itself)
