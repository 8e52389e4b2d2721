"""Cost of the FaceDetail attributes: DetectFaces with ALL against DEFAULT, per face.

Run: pytest bench/bench_attributes.py --benchmark-only      (pytest-benchmark groups DEFAULT / ALL side by side)
or:  python -m bench.bench_attributes                       (prints the per-face times and the ALL/DEFAULT ratio)
Same 640x480 JPEGs as bench_detect.py: one face (fr_obama.jpg) and six (if_t1.jpg). Target: ALL <= 2.5x DEFAULT.
"""

import time

import pytest

import facelens
from bench.bench_detect import PHOTOS, _jpeg_640x480

CASES = {"DEFAULT": ["DEFAULT"], "ALL": ["ALL"], "ALL_but_EYE_DIRECTION": [
    "AGE_RANGE", "GENDER", "EMOTIONS", "SMILE", "EYES_OPEN", "MOUTH_OPEN", "EYEGLASSES", "SUNGLASSES", "BEARD",
    "MUSTACHE", "FACE_OCCLUDED"]}


@pytest.fixture(scope="module")
def client():
    return facelens.Client()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_detect_faces_attributes(benchmark, client, photo, case):
    data = _jpeg_640x480(PHOTOS[photo])
    client.detect_faces(Image={"Bytes": data}, Attributes=CASES[case])  # warm-up (loads the models)
    benchmark.group = f"attributes {photo}"
    resp = benchmark(client.detect_faces, Image={"Bytes": data}, Attributes=CASES[case])
    assert len(resp["FaceDetails"]) == (1 if photo == "1face" else 6)


def main(rounds: int = 30):
    """Cases are interleaved round by round, so that load from other processes hits them alike; medians of the
    process CPU time (one onnxruntime thread), which other processes' load on a shared machine barely moves,
    and of the wall time."""
    client = facelens.Client(threads=1)
    for photo, rel in PHOTOS.items():
        data = _jpeg_640x480(rel)
        n = {c: len(client.detect_faces(Image={"Bytes": data}, Attributes=a)["FaceDetails"]) for c, a in CASES.items()}
        cpu = {c: [] for c in CASES}
        wall = {c: [] for c in CASES}
        for _ in range(rounds):
            for case, attrs in CASES.items():
                t, p = time.perf_counter(), time.process_time()
                client.detect_faces(Image={"Bytes": data}, Attributes=attrs)
                cpu[case].append(time.process_time() - p)
                wall[case].append(time.perf_counter() - t)
        for label, times in (("CPU", cpu), ("wall", wall)):
            per = {c: sorted(v)[len(v) // 2] * 1000 / n[c] for c, v in times.items()}
            print(f"{photo} {label}: " + ", ".join(f"{c} {v:.1f} ms/face" for c, v in per.items())
                  + f"; ALL/DEFAULT = {per['ALL'] / per['DEFAULT']:.2f}")


if __name__ == "__main__":
    main()
