"""CompareFaces end to end, beside the two DetectFaces calls it contains (same images, same run).

Run: pytest bench/bench_compare.py --benchmark-only
Images are 640x480 JPEGs made from photos in ../shared/data (as in bench_detect.py): the source is fr_obama.jpg
(one face), the target fr_obama2.jpg (one face) or if_t1.jpg (six). The DetectFaces pair is what CompareFaces
must do anyway (the source with DEFAULT, the target with the ComparedFace attributes EMOTIONS and SMILE); the
difference is the dlib descriptors (one per face) and the comparison.
"""

import pytest

import facelens
from bench.bench_detect import _jpeg_640x480

TARGETS = {"1face": "images/fr_obama2.jpg", "6faces": "images/if_t1.jpg"}


@pytest.fixture(scope="module")
def client():
    return facelens.Client()


@pytest.fixture(scope="module")
def source():
    return _jpeg_640x480("images/fr_obama.jpg")


@pytest.mark.parametrize("target", list(TARGETS))
def test_compare_faces(benchmark, client, source, target):
    data = _jpeg_640x480(TARGETS[target])
    call = dict(SourceImage={"Bytes": source}, TargetImage={"Bytes": data}, SimilarityThreshold=0)
    client.compare_faces(**call)  # warm-up (loads the recognition network)
    benchmark.group = f"compare_faces {target}"
    resp = benchmark(client.compare_faces, **call)
    assert len(resp["FaceMatches"]) == (1 if target == "1face" else 6)


@pytest.mark.parametrize("target", list(TARGETS))
def test_two_detect_faces(benchmark, client, source, target):
    data = _jpeg_640x480(TARGETS[target])

    def both():
        client.detect_faces(Image={"Bytes": source})
        return client.detect_faces(Image={"Bytes": data}, Attributes=["EMOTIONS", "SMILE"])

    both()
    benchmark.group = f"compare_faces {target}"
    assert len(both()["FaceDetails"]) == (1 if target == "1face" else 6)
    benchmark(both)
