"""Face collections: what IndexFaces, SearchFaces(ByImage), ListFaces and the collection operations do, over a
``storage.collections.CollectionStore`` and the engine. Results are typed; ``response.py`` shapes them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import contract, images, response
from ..collections import FACE_MODEL_VERSION, quality
from ..collections.similarity import distance_bound, similarity
from ..errors import InvalidParameterException, ResourceNotFoundException, ServiceQuotaExceededException
from ..pagination import Tokens
from ..storage.collections import CollectionInfo, CollectionStore, NewFace, StoredFace, UserInfo

if TYPE_CHECKING:
    from ..pipeline import FaceAnalysis

IMAGE_ID_NAMESPACE = uuid.UUID("6f1c3c1e-6b1f-5d8a-9a43-3d6f2f0c9e57")  # facelens ImageIds: uuid5(this, sha256)
DEFAULT_PAGE = 1000  # ListCollections / ListFaces MaxResults when absent or 0
DEFAULT_THRESHOLD = 80.0  # FaceMatchThreshold
DEFAULT_MAX_MATCHES = 80  # SearchFaces(ByImage) MaxFaces when absent
DEFAULT_USER_MATCH_THRESHOLD = 80.0  # SearchUsers(ByImage) UserMatchThreshold (AWS's documented default)
DEFAULT_ASSOCIATE_THRESHOLD = 75.0  # AssociateFaces UserMatchThreshold (AWS's documented default)
DEFAULT_MAX_USERS = 80  # SearchUsers(ByImage) MaxUsers when absent (as MaxFaces)
DEFAULT_USER_PAGE = 500  # ListUsers MaxResults when absent (its maximum)
MAX_TAGS = 50  # tags on one resource
SEARCH_DEPTH = 4096  # faces looked at per query vector when scoring users

Match = Tuple[StoredFace, float]  # a stored face and its Similarity (0..100)


@dataclass(frozen=True)
class Page:
    items: list
    next_token: Optional[str]


@dataclass(frozen=True)
class IndexedFaces:
    info: CollectionInfo
    faces: List[FaceAnalysis]  # every face found, largest first
    records: List[Tuple[StoredFace, int]]  # (stored record, index into faces), largest first
    unindexed: List[Tuple[int, List[str]]]  # (index into faces, Reasons)
    width: int
    height: int
    attributes: frozenset


@dataclass(frozen=True)
class UserSearch:
    info: CollectionInfo
    matches: List[Tuple[UserInfo, float]]  # best first
    face_id: Optional[str] = None  # what was searched with
    user_id: Optional[str] = None


@dataclass(frozen=True)
class UserImageSearch:
    info: CollectionInfo
    face: FaceAnalysis
    unsearched: List[Tuple[FaceAnalysis, List[str]]]
    width: int
    height: int
    matches: List[Tuple[UserInfo, float]]


@dataclass(frozen=True)
class SearchedFace:
    info: CollectionInfo
    face: FaceAnalysis  # the image's largest usable face
    faces: List[FaceAnalysis]  # every face found
    vector: np.ndarray
    width: int
    height: int
    level: str  # QualityFilter
    scale: float  # pixels of the analysed image per pixel of the original

    def unsearched(self) -> List[Tuple[FaceAnalysis, List[str]]]:
        """The other faces, with why they were not searched."""
        return [(f, ["FACE_NOT_LARGEST", *quality.reasons(f, self.level, self.scale)])
                for f in self.faces if f is not self.face]


@dataclass(frozen=True)
class ImageSearch:
    info: CollectionInfo
    face: FaceAnalysis  # the face searched with
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
                 image_bytes: Callable[[Dict[str, Any]], Tuple[bytes, int]], tokens: Tokens,
                 account_id: str = "000000000000") -> None:
        self.store = store
        self.account_id = account_id
        self._engine = engine
        self._image_bytes = image_bytes
        self.tokens = tokens

    # -- collections ------------------------------------------------------------------------------------------
    def create(self, collection_id: str, tags: Optional[Dict[str, str]] = None) -> CollectionInfo:
        if tags:
            check_tags(tags)
        return self.store.create(collection_id, tags)

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
        info, faces, more = self.store.list_faces(name, after, request.get("MaxResults") or DEFAULT_PAGE,
                                                  request.get("FaceIds"), request.get("UserId"))
        return info, Page(faces, self.tokens.next(scope, more))

    def delete_faces(self, request: Dict[str, Any]) -> Tuple[List[str], List[str]]:
        return self.store.delete_faces(request["CollectionId"], request["FaceIds"])

    # -- search -----------------------------------------------------------------------------------------------
    def matches(self, collection: Union[str, CollectionInfo], vector: np.ndarray, threshold: Optional[float] = None,
                max_faces: Optional[int] = None, exclude: Optional[str] = None) -> List[Match]:
        """The collection's faces with Similarity >= threshold to ``vector``, best first, at most max_faces
        (``collection``: its name, or its record just read, which saves a query)."""
        threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        bound = distance_bound(threshold)
        hits = self.store.search(collection, vector, max_faces or DEFAULT_MAX_MATCHES,
                                 bound + 1e-5 if bound >= 0 else bound, exclude=exclude)
        scored = [(face, similarity(d)) for face, d in hits]
        return [(face, s) for face, s in scored if s >= threshold]

    def search_faces(self, request: Dict[str, Any]) -> Tuple[CollectionInfo, List[Match]]:
        name, face_id = request["CollectionId"], request["FaceId"]
        info, vector = self.store.described_face_vector(name, face_id)
        if vector is None:
            raise InvalidParameterException(f"faceId {face_id} was not found in the collection.")
        return info, self.matches(info, vector, request.get("FaceMatchThreshold"), request.get("MaxFaces"),
                                  exclude=face_id)

    def _searched_face(self, request: Dict[str, Any]) -> SearchedFace:
        """For the *ByImage searches: the image's largest usable face and its descriptor."""
        contract.image_source(request["Image"])
        info = self.store.describe(request["CollectionId"])
        image, _ = self._decode(request["Image"])
        engine = self._engine()
        faces = engine.analyze(image)
        level = request.get("QualityFilter") or "NONE"
        face = largest_usable_face(faces, level, image.scale)
        height, width = image.rgb.shape[:2]
        return SearchedFace(info, face, faces, engine.descriptors(image, [face])[0], width, height, level,
                            image.scale)

    def search_faces_by_image(self, request: Dict[str, Any]) -> ImageSearch:
        searched = self._searched_face(request)
        matches = self.matches(searched.info, searched.vector, request.get("FaceMatchThreshold"),
                               request.get("MaxFaces"))
        return ImageSearch(searched.info, searched.face, searched.width, searched.height, matches)


    # -- users ------------------------------------------------------------------------------------------------
    def create_user(self, request: Dict[str, Any]) -> None:
        self.store.create_user(request["CollectionId"], request["UserId"], request.get("ClientRequestToken"))

    def delete_user(self, request: Dict[str, Any]) -> None:
        self.store.delete_user(request["CollectionId"], request["UserId"])

    def list_users(self, request: Dict[str, Any]) -> Page:
        info = self.store.describe(request["CollectionId"])
        scope = f"ListUsers.{info.rid}"
        after = self.tokens.start(request.get("NextToken"), scope)
        users, more = self.store.list_users(info.name, after, request.get("MaxResults") or DEFAULT_USER_PAGE)
        return Page(users, self.tokens.next(scope, more))

    def associate_faces(self, request: Dict[str, Any]
                        ) -> Tuple[List[str], List[Tuple[str, Optional[str], Optional[float], str]], UserInfo]:
        threshold = _threshold(request.get("UserMatchThreshold"), DEFAULT_ASSOCIATE_THRESHOLD)

        def accept(user_vectors: np.ndarray, vector: np.ndarray) -> Tuple[bool, float]:
            best = float(similarity(float(np.sqrt(((user_vectors - vector) ** 2).sum(axis=1)).min())))
            return best >= threshold, best

        return self.store.associate_faces(request["CollectionId"], request["UserId"], request["FaceIds"], accept)

    def disassociate_faces(self, request: Dict[str, Any]) -> Tuple[List[str], List[Tuple[str, Optional[str], str]], UserInfo]:
        return self.store.disassociate_faces(request["CollectionId"], request["UserId"], request["FaceIds"])

    def _user_matches(self, collection: CollectionInfo, vectors: np.ndarray, threshold: float, max_users: int,
                      exclude_user: Optional[str] = None, exclude_face: Optional[str] = None
                      ) -> List[Tuple[UserInfo, float]]:
        """Users scored by their best-matching face against any of ``vectors``; Similarity >= threshold, best
        first, at most max_users."""
        best: Dict[str, float] = {}
        faces: Dict[str, int] = {}
        for vector in vectors:
            for face, sim in self.matches(collection, vector, threshold, SEARCH_DEPTH, exclude=exclude_face):
                if face.user_id is None or face.user_id == exclude_user:
                    continue
                faces[face.user_id] = faces.get(face.user_id, 0) + 1
                best[face.user_id] = max(best.get(face.user_id, 0.0), sim)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:max_users]
        return [(UserInfo(uid, faces[uid]), sim) for uid, sim in ranked]

    def search_users(self, request: Dict[str, Any]) -> UserSearch:
        name = request["CollectionId"]
        user_id, face_id = request.get("UserId"), request.get("FaceId")
        if (user_id is None) == (face_id is None):
            raise InvalidParameterException("SearchUsers needs exactly one of UserId and FaceId.")
        threshold = _threshold(request.get("UserMatchThreshold"), DEFAULT_USER_MATCH_THRESHOLD)
        max_users = request.get("MaxUsers") or DEFAULT_MAX_USERS
        if face_id is not None:
            info, vector = self.store.described_face_vector(name, face_id)
            if vector is None:
                raise InvalidParameterException(f"faceId {face_id} was not found in the collection.")
            matches = self._user_matches(info, vector[None], threshold, max_users, exclude_face=face_id)
        else:
            assert user_id is not None  # exactly one of the two, checked above
            info = self.store.describe(name)
            _, vectors = self.store.user_vectors(name, user_id)
            matches = self._user_matches(info, vectors, threshold, max_users, exclude_user=user_id)
        return UserSearch(info, matches, face_id, user_id)

    def search_users_by_image(self, request: Dict[str, Any]) -> UserImageSearch:
        searched = self._searched_face(request)
        threshold = _threshold(request.get("UserMatchThreshold"), DEFAULT_USER_MATCH_THRESHOLD)
        matches = self._user_matches(searched.info, searched.vector[None], threshold,
                                     request.get("MaxUsers") or DEFAULT_MAX_USERS)
        return UserImageSearch(searched.info, searched.face, searched.unsearched(), searched.width, searched.height,
                               matches)

    # -- tags -------------------------------------------------------------------------------------------------
    def _tagged(self, arn: str) -> str:
        """The CollectionId an ARN of this region and account names (ResourceNotFoundException for any other)."""
        m = _COLLECTION_ARN.fullmatch(arn or "")
        if m is None:
            raise InvalidParameterException(f"ResourceArn {arn!r:.100} is not a collection ARN "
                                            "(arn:aws:rekognition:REGION:ACCOUNT:collection/ID).")
        region, account, collection_id = m.groups()
        if region != self.store.region or account != self.account_id:
            raise ResourceNotFoundException(f"The resource {arn} does not exist.")
        return collection_id

    def tag_resource(self, request: Dict[str, Any]) -> None:
        tags = request["Tags"]
        check_tags(tags)
        self.store.tag(self._tagged(request["ResourceArn"]), dict(tags), MAX_TAGS)

    def untag_resource(self, request: Dict[str, Any]) -> None:
        for key in request["TagKeys"]:
            _check_tag_key(key)
        self.store.untag(self._tagged(request["ResourceArn"]), request["TagKeys"])

    def list_tags(self, request: Dict[str, Any]) -> Dict[str, str]:
        return self.store.tags(self._tagged(request["ResourceArn"]))


_COLLECTION_ARN = re.compile(r"arn:aws:rekognition:([a-z0-9-]+):(\d{12}):collection/([a-zA-Z0-9_.\-]{1,255})")


def _threshold(value: Optional[float], default: float) -> float:
    return default if value is None else float(value)


def _tag_text_ok(text: str) -> bool:
    """Rekognition's tag alphabet: Unicode letters, separators and numbers, and _.:/=+-@."""
    return all(ch in "_.:/=+-@" or unicodedata.category(ch)[0] in "LZN" for ch in text)


def _check_tag_key(key: Any) -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= 128 or not _tag_text_ok(key):
        raise InvalidParameterException(f"Tag key {key!r:.140} must be 1-128 letters, digits, spaces or _.:/=+-@.")
    if key.lower().startswith("aws:"):
        raise InvalidParameterException(f"Tag key {key!r:.140} must not start with aws: (reserved).")


def check_tags(tags: Dict[str, Any]) -> None:
    if len(tags) > MAX_TAGS:
        raise ServiceQuotaExceededException(f"A resource holds at most {MAX_TAGS} tags; got {len(tags)}.")
    for key, value in tags.items():
        _check_tag_key(key)
        if not isinstance(value, str) or len(value) > 256 or not _tag_text_ok(value):
            raise InvalidParameterException(
                f"Tag value {value!r:.140} of {key!r:.60} must be 0-256 letters, digits, spaces or _.:/=+-@.")


def largest_usable_face(faces: Sequence[FaceAnalysis], level: str, scale: float) -> FaceAnalysis:
    """The largest face that passes QualityFilter ``level`` (faces come largest first); InvalidParameterException,
    as AWS gives, when there is none."""
    usable = [f for f in faces if not quality.reasons(f, level, scale)]
    if not usable:
        raise InvalidParameterException("There are no faces in the image. Should be at least 1.")
    return usable[0]


__all__ = ["FACE_MODEL_VERSION", "Collections", "ImageSearch", "IndexedFaces", "Page", "image_id"]
