"""Fits the Sharpness scale: Quality.Sharpness = 100 * (1 - exp(-v / K)), v = Laplacian variance of the face box
resized to 64x64 luma. K is set so that the median face of the fit split scores 75.

Fit split: every face detected in annotated/dlib_faces/*.jpg and annotated/deepface_dataset/*.jpg of
../shared/data (ordinary, in-focus photos). Blur makes v fall fast: a Gaussian blur of sigma 2 px drops the
median face of the same split to about a fifth.

    python tools/calibrate_sharpness.py     # prints SHARPNESS_K for python/facelens/pipeline.py
"""

import math
import os
from pathlib import Path

import cv2
import numpy as np

import facelens
from facelens import _core, images

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MEDIAN_SCORE = 75.0


def main():
    engine = facelens.Client().engine
    values = []
    for pattern in ("annotated/dlib_faces/*.jpg", "annotated/deepface_dataset/*.jpg"):
        for path in sorted(DATA.glob(pattern)):
            bgr = cv2.imread(str(path))
            if bgr is None:
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            for face in engine.analyze(images.from_array(rgb)):
                values.append(_core.face_quality(rgb, tuple(float(v) for v in face.box), 64)[1])
    median = float(np.median(values))
    k = median / -math.log(1 - MEDIAN_SCORE / 100)
    print(f"{len(values)} faces, median Laplacian variance {median:.1f}")
    print(f"SHARPNESS_K = {k:.1f}")


if __name__ == "__main__":
    main()
