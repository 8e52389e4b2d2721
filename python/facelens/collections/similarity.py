"""Descriptor distance → Rekognition's Similarity (0-100).

Similarity = 100 / (1 + exp((d - D50) / SCALE)) with d the Euclidean distance of two dlib face descriptors.
``tools/calibrate_similarity.py`` fits both constants on its FIT split (annotated/dlib_johns_identities and the
even-numbered deepface identity groups) and prints these lines: Similarity 80, the default FaceMatchThreshold,
sits half-way between the 99th percentile of same-person distances and the 1st percentile of different-person
distances, and the median same-person pair scores 99.
"""

from __future__ import annotations

import math
from typing import Any, Union, overload

import numpy as np

SIMILARITY_D50 = 0.7047
SIMILARITY_SCALE = 0.0813


@overload
def similarity(distance: float) -> float: ...
@overload
def similarity(distance: np.ndarray) -> Union[float, np.ndarray]: ...
def similarity(distance: Any) -> Union[float, np.ndarray]:
    """Similarity in 0..100 (float64 array, or float for a scalar) of descriptor distances."""
    d = np.asarray(distance, np.float64)
    out = 100.0 / (1.0 + np.exp(np.clip((d - SIMILARITY_D50) / SIMILARITY_SCALE, -700, 700)))
    return float(out) if out.ndim == 0 else out


def distance_bound(threshold: float) -> float:
    """The largest distance whose Similarity is >= threshold (inf for 0; negative, i.e. none, for 100)."""
    if threshold <= 0:
        return math.inf
    if threshold >= 100:
        return -1.0
    return SIMILARITY_D50 + SIMILARITY_SCALE * math.log(100.0 / threshold - 1.0)
