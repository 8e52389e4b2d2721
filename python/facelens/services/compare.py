"""CompareFaces: the largest face of a source image against each of the 100 largest faces of a target image.

Both images are analysed by the engine; the faces that fail QualityFilter (default NONE; the bars of IndexFaces,
``collections/quality.py``) are not compared and not returned. The source's largest remaining face and every
remaining target face get dlib descriptors (``Engine.descriptors``) and each target face the Similarity of its
distance to the source (``collections/similarity.py``, the scale of SearchFaces): those at SimilarityThreshold
(default 80) or above are matches, highest first; the rest are unmatched, largest first. No face detected in either
image is InvalidParameterException, as AWS documents. The result is typed; ``response.compare_faces`` shapes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Tuple

import numpy as np

from .. import contract, images, response
from ..collections import quality
from ..collections.similarity import similarity
from ..errors import InvalidParameterException
from .collections import largest_usable_face

if TYPE_CHECKING:
    from ..pipeline import FaceAnalysis

MAX_TARGET_FACES = 100
DEFAULT_THRESHOLD = 80.0  # SimilarityThreshold
DEFAULT_QUALITY_FILTER = "NONE"


@dataclass(frozen=True)
class Comparison:
    source: FaceAnalysis  # the source face compared
    source_size: Tuple[int, int]  # (width, height) of the source image, pixels
    matches: List[Tuple[FaceAnalysis, float]]  # target faces at or above the threshold and their Similarity
    unmatched: List[FaceAnalysis]  # the other compared target faces, largest first
    target_size: Tuple[int, int]


def compare_faces(request: Dict[str, Any], engine: Any,
                  load_image: Callable[[Dict[str, Any]], images.DecodedImage]) -> Comparison:
    """``request``: a validated CompareFaces request; ``engine``: the pipeline Engine; ``load_image(Image)``
    decodes a request's Image (Bytes or S3Object)."""
    contract.image_source(request["SourceImage"])  # both images' shapes before any work, as botocore checks them
    contract.image_source(request["TargetImage"])
    level = request.get("QualityFilter") or DEFAULT_QUALITY_FILTER
    threshold = request.get("SimilarityThreshold")
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)

    source_image = load_image(request["SourceImage"])
    source = largest_usable_face(engine.analyze(source_image), level, source_image.scale)
    target_image = load_image(request["TargetImage"])
    detected = engine.analyze(target_image, attributes=response.COMPARED_FACE_ATTRIBUTES)[:MAX_TARGET_FACES]
    if not detected:
        raise InvalidParameterException("There are no faces in the target image. Should be at least 1.")
    targets = [f for f in detected if not quality.reasons(f, level, target_image.scale)]

    source_vector = engine.descriptors(source_image, [source])[0]
    scores: List[float] = []
    if targets:
        vectors = engine.descriptors(target_image, targets)
        scores = [float(s) for s in np.atleast_1d(similarity(np.linalg.norm(vectors - source_vector, axis=1)))]
    matched = sorted(((f, s) for f, s in zip(targets, scores) if s >= threshold), key=lambda m: -m[1])
    unmatched = [f for f, s in zip(targets, scores) if s < threshold]
    return Comparison(source, _size(source_image), matched, unmatched, _size(target_image))


def _size(image: images.DecodedImage) -> Tuple[int, int]:
    height, width = image.rgb.shape[:2]
    return width, height
