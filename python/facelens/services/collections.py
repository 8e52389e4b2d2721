"""Face collections: what IndexFaces, SearchFaces(ByImage), ListFaces and the collection operations do, over a
``storage.collections.CollectionStore`` and the engine. Results are typed; ``response.py`` shapes them."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import contract, images, response
from ..collections import FACE_MODEL_VERSION, quality
from ..collections.similarity import distance_bound, similarity
from ..errors import InvalidParameterException
from ..pagination import Tokens
from ..storage.collections import CollectionInfo, CollectionStore, NewFace, StoredFace

if TYPE_CHECKING:
    from ..pipeline import FaceAnalysis

IMAGE_ID_NAMESPACE = uuid.UUID("6f1c3c1e-6b1f-5d8a-9a43-3d6f2f0c9e57")  # facelens ImageIds: uuid5(this, sha256)
DEFAULT_PAGE = 1000  # ListCollections / ListFaces MaxResults when absent or 0
DEFAULT_THRESHOLD = 80.0  # FaceMatchThreshold
DEFAULT_MAX_MATCHES = 80  # SearchFaces(ByImage) MaxFaces when absent

Match = Tuple[StoredFace, float]  # a stored face and its Similarity (0..100)


@dataclass(frozen=True)
class Page:
    items: list
    next_token: Optional[str]


@dataclass(frozen=True)
class IndexedFaces:
    info: CollectionInfo
    faces: List["FaceAnalysis"]  # every face found, largest first
    records: List[Tuple[StoredFace, int]]  # (stored record, index into faces), largest first
    unindexed: List[Tuple[int, List[str]]]  # (index into faces, Reasons)
    width: int
    height: int
    attributes: frozenset


@dataclass(frozen=True)
class ImageSearch:
    info: CollectionInfo
    face: "FaceAnalysis"  # the face searched with
    width: int
    height: int
    matches: List[Match]


def image_id(data: bytes) -> str:
    """A UUID derived from the sha256 of the image's bytes: the same image always gets the same ImageId."""
    return str(uuid.uuid5(IMAGE_ID_NAMESPACE, hashlib.sha256(data).hexdigest()))


class Collections:
    """Args: the store; ``engine()`` returns the pipeline Engine (loaded on first use); ``image_bytes(Image)``
    returns (bytes, size limit) of a request's Image; ``tokens`` signs pagination."""

    def __init__(self, store: CollectionStore, engine: Callable[[], Any],
                 image_bytes: Callable[[Dict[str, Any]], Tuple[bytes, int]], tokens: Tokens) -> None:
        self.store = store
        self._engine = engine
        self._image_bytes = image_bytes
        self.tokens = tokens

    # -- collections ------------------------------------------------------------------------------------------
    def create(self, collection_id: str) -> CollectionInfo:
        return self.store.create(collection_id)

    def delete(self, collection_id: str) -> None:
        self.store.delete(collection_id)

    def describe(self, collection_id: str) -> CollectionInfo:
        return self.store.describe(collection_id)

    def list(self, request: Dict[str, Any]) -> Page:
        after = self.tokens.start(request.get("NextToken"), "ListCollections")
        page, more = self.store.list(after, request.get("MaxResults") or DEFAULT_PAGE)
        return Page(page, self.tokens.next("ListCollections", more))

    # -- faces ------------------------------------------------------------------------------------------------
    def _decode(self, image: Dict[str, Any]) -> Tuple[images.DecodedImage, str]:
        data, limit = self._image_bytes(image)
        return images.decode(data, max_bytes=limit), image_id(data)

    def index_faces(self, request: Dict[str, Any]) -> IndexedFaces:
        contract.image_source(request["Image"])  # the request's shape first, as botocore checks it
        info = self.store.describe(request["CollectionId"])  # ResourceNotFoundException before any work
        attributes = contract.wanted_attributes(request.get("DetectionAttributes"))
        image, iid = self._decode(request["Image"])
        engine = self._engine()
        faces = engine.analyze(image, want_eyes="EYE_DIRECTION" in attributes, attributes=attributes)
        level = request.get("QualityFilter") or "AUTO"
        kept, left_out = quality.select(faces, level, request.get("MaxFaces") or len(faces) or 1, image.scale)
        height, width = image.rgb.shape[:2]
        vectors = engine.descriptors(image, [faces[i] for i in kept])
        new = []
        for i, vector in zip(kept, vectors):
            box = response.bounding_box(faces[i].box, width, height)
            new.append(NewFace((box["Left"], box["Top"], box["Width"], box["Height"]), faces[i].confidence, vector))
        stored = self.store.add_faces(info.name, iid, request.get("ExternalImageId"), new)
        return IndexedFaces(info, faces, list(zip(stored, kept)), list(left_out), width, height, attributes)

    def list_faces(self, request: Dict[str, Any]) -> Tuple[CollectionInfo, Page]:
        name = request["CollectionId"]
        info = self.store.describe(name)
        scope = f"ListFaces.{info.rid}"
        after = self.tokens.start(request.get("NextToken"), scope)
        if request.get("UserId") is not None:  # no user vectors yet: no face belongs to a user
            return info, Page([], None)
        info, faces, more = self.store.list_faces(name, after, request.get("MaxResults") or DEFAULT_PAGE,
                                                  request.get("FaceIds"))
        return info, Page(faces, self.tokens.next(scope, more))

    def delete_faces(self, request: Dict[str, Any]) -> Tuple[List[str], List[str]]:
        return self.store.delete_faces(request["CollectionId"], request["FaceIds"])

    # -- search -----------------------------------------------------------------------------------------------
    def matches(self, collection_id: str, vector: np.ndarray, threshold: Optional[float] = None,
                max_faces: Optional[int] = None, exclude: Optional[str] = None) -> List[Match]:
        """The collection's faces with Similarity >= threshold to ``vector``, best first, at most max_faces."""
        threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        bound = distance_bound(threshold)
        hits = self.store.search(collection_id, vector, max_faces or DEFAULT_MAX_MATCHES,
                                 bound + 1e-5 if bound >= 0 else bound, exclude=exclude)
        scored = [(face, similarity(d)) for face, d in hits]
        return [(face, s) for face, s in scored if s >= threshold]

    def search_faces(self, request: Dict[str, Any]) -> Tuple[CollectionInfo, List[Match]]:
        name, face_id = request["CollectionId"], request["FaceId"]
        info = self.store.describe(name)
        vector = self.store.face_vector(name, face_id)
        if vector is None:
            raise InvalidParameterException(f"faceId {face_id} was not found in the collection.")
        return info, self.matches(name, vector, request.get("FaceMatchThreshold"), request.get("MaxFaces"),
                                  exclude=face_id)

    def search_faces_by_image(self, request: Dict[str, Any]) -> ImageSearch:
        contract.image_source(request["Image"])
        name = request["CollectionId"]
        info = self.store.describe(name)
        image, _ = self._decode(request["Image"])
        engine = self._engine()
        face = largest_usable_face(engine.analyze(image), request.get("QualityFilter") or "NONE", image.scale)
        vector = engine.descriptors(image, [face])[0]
        height, width = image.rgb.shape[:2]
        matches = self.matches(name, vector, request.get("FaceMatchThreshold"), request.get("MaxFaces"))
        return ImageSearch(info, face, width, height, matches)


def largest_usable_face(faces: Sequence["FaceAnalysis"], level: str, scale: float) -> "FaceAnalysis":
    """The largest face that passes QualityFilter ``level`` (faces come largest first); InvalidParameterException,
    as AWS gives, when there is none."""
    usable = [f for f in faces if not quality.reasons(f, level, scale)]
    if not usable:
        raise InvalidParameterException("There are no faces in the image. Should be at least 1.")
    return usable[0]


__all__ = ["Collections", "FACE_MODEL_VERSION", "IndexedFaces", "ImageSearch", "Page", "image_id"]
