"""Rekognition's response shapes, assembled in one place.

Pixels become ratios of the image's width and height here and nowhere else; angles are degrees; confidences
are percentages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .pipeline import FaceAnalysis


def json_default(value: Any) -> Any:
    """For responses written as JSON files or to stdout (the CLI, batch results): datetimes (CreationTimestamp,
    ...) as ISO 8601 strings with their UTC offset; numpy scalars as numbers. (The HTTP endpoint writes the wire
    protocol's epoch seconds instead.)"""
    import datetime

    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")

if TYPE_CHECKING:
    from .services.collections import IndexedFaces, UserImageSearch, UserSearch
    from .services.compare import Comparison
    from .storage.celebrities import Celebrity
    from .storage.collections import CollectionInfo, StoredFace, UserInfo
    from .storage.jobs import JobRow

# Rekognition landmark type → FaceMesh index. Names are image-side: "left" is the image's left, so eyeLeft is
# the subject's right eye. Pairs are mirror images of each other, so a mirrored photo swaps them.
LANDMARKS_ALL: Tuple[Tuple[str, Union[int, Tuple[int, int]]], ...] = (
    ("eyeLeft", (33, 133)),  # midpoint of the eye corners
    ("eyeRight", (263, 362)),
    ("nose", 1),
    ("mouthLeft", 61),
    ("mouthRight", 291),
    ("leftEyeBrowLeft", 70),
    ("leftEyeBrowRight", 107),
    ("leftEyeBrowUp", 105),
    ("rightEyeBrowLeft", 336),
    ("rightEyeBrowRight", 300),
    ("rightEyeBrowUp", 334),
    ("leftEyeLeft", 33),
    ("leftEyeRight", 133),
    ("leftEyeUp", 159),
    ("leftEyeDown", 145),
    ("rightEyeLeft", 362),
    ("rightEyeRight", 263),
    ("rightEyeUp", 386),
    ("rightEyeDown", 374),
    ("noseLeft", 98),
    ("noseRight", 327),
    ("mouthUp", 0),
    ("mouthDown", 17),
    ("leftPupil", 468),
    ("rightPupil", 473),
    ("upperJawlineLeft", 234),
    ("midJawlineLeft", 172),
    ("chinBottom", 152),
    ("midJawlineRight", 397),
    ("upperJawlineRight", 454),
)
LANDMARKS_DEFAULT = LANDMARKS_ALL[:5]
DEFAULT_ATTRIBUTES = frozenset({"DEFAULT"})  # what video person/celebrity results carry


def _point(mesh: np.ndarray, index: Union[int, Tuple[int, int]]) -> Tuple[float, float]:
    p = mesh[list(index), :2].mean(axis=0) if isinstance(index, tuple) else mesh[index, :2]
    return float(p[0]), float(p[1])


def bounding_box(box: np.ndarray, width: int, height: int) -> Dict[str, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"Width": (x2 - x1) / width, "Height": (y2 - y1) / height, "Left": x1 / width, "Top": y1 / height}


def landmarks(face: FaceAnalysis, width: int, height: int, full: bool) -> List[Dict[str, Any]]:
    table = LANDMARKS_ALL if full else LANDMARKS_DEFAULT
    out = []
    for name, index in table:
        x, y = _point(face.mesh, index)
        out.append({"Type": name, "X": x / width, "Y": y / height})
    return out


def _angle(v: float) -> float:
    return float(max(-180.0, min(180.0, v)))


def _percent(v: float) -> float:
    return float(max(0.0, min(100.0, v)))


def face_detail(face: FaceAnalysis, width: int, height: int, attributes: frozenset) -> Dict[str, Any]:
    """One FaceDetail. ``width``/``height`` are the pixel size of the image the face's coordinates refer to."""
    yaw, pitch, roll = face.pose
    brightness, sharpness = face.quality
    detail: Dict[str, Any] = {
        "BoundingBox": bounding_box(face.box, width, height),
        "Landmarks": landmarks(face, width, height, full="ALL" in attributes),
        "Pose": {"Roll": _angle(roll), "Yaw": _angle(yaw), "Pitch": _angle(pitch)},
        "Quality": {"Brightness": _percent(brightness), "Sharpness": _percent(sharpness)},
        "Confidence": _percent(face.confidence),
    }
    if "EYE_DIRECTION" in attributes and face.eye_direction is not None:
        gy, gp, gc = face.eye_direction
        detail["EyeDirection"] = {"Yaw": _angle(gy), "Pitch": _angle(gp), "Confidence": _percent(gc)}
    if face.attributes:
        detail = _with_attributes(detail, face.attributes)
    return detail


# FaceDetail's members in Rekognition's order (botocore's service model).
_FACE_DETAIL_ORDER = (
    "BoundingBox", "AgeRange", "Smile", "Eyeglasses", "Sunglasses", "Gender", "Beard", "Mustache", "EyesOpen",
    "MouthOpen", "Emotions", "Landmarks", "Pose", "Quality", "Confidence", "FaceOccluded", "EyeDirection",
)
_BOOLEAN_ATTRIBUTES = ("Smile", "Eyeglasses", "Sunglasses", "Beard", "Mustache", "EyesOpen", "MouthOpen", "FaceOccluded")


def _with_attributes(detail: Dict[str, Any], attrs: dict) -> Dict[str, Any]:
    """Adds the attributes computed by engine/attributes.py, each in its Rekognition shape and place."""
    extra: Dict[str, Any] = {}
    if "AgeRange" in attrs:
        low, high = attrs["AgeRange"]
        extra["AgeRange"] = {"Low": int(low), "High": int(high)}
    if "Gender" in attrs:
        value, conf = attrs["Gender"]
        extra["Gender"] = {"Value": str(value), "Confidence": _percent(conf)}
    for name in _BOOLEAN_ATTRIBUTES:
        if name in attrs:
            value, conf = attrs[name]
            extra[name] = {"Value": bool(value), "Confidence": _percent(conf)}
    if "Emotions" in attrs:
        extra["Emotions"] = [{"Type": str(t), "Confidence": _percent(c)} for t, c in attrs["Emotions"]]
    merged = {**detail, **extra}
    return {k: merged[k] for k in _FACE_DETAIL_ORDER if k in merged}


def detect_faces(faces: List[FaceAnalysis], width: int, height: int, attributes: frozenset) -> Dict[str, Any]:
    return {"FaceDetails": [face_detail(f, width, height, attributes) for f in faces]}


# -- face collections ------------------------------------------------------------------------------------------
# A collection's ARN as CreateCollection returns it (AWS returns it without the "arn:" prefix there, and with it
# in DescribeCollection's CollectionARN). facelens is one local "region" and account.
def collection_arn(region: str, account: str, collection_id: str) -> str:
    """As CreateCollection returns it (AWS leaves out the ``arn:`` prefix there; DescribeCollection has it)."""
    return f"aws:rekognition:{region}:{account}:collection/{collection_id}"


def create_collection(info: CollectionInfo, account: str) -> Dict[str, Any]:
    """``info``: the new collection's ``storage.collections.CollectionInfo``."""
    return {"StatusCode": 200, "CollectionArn": collection_arn(info.region, account, info.name),
            "FaceModelVersion": info.face_model_version}


def delete_collection() -> Dict[str, Any]:
    return {"StatusCode": 200}


def describe_collection(info: CollectionInfo, account: str) -> Dict[str, Any]:
    """CreationTimestamp is a timezone-aware datetime, as botocore parses it."""
    import datetime

    return {
        "FaceCount": int(info.face_count),
        "FaceModelVersion": info.face_model_version,
        "CollectionARN": "arn:" + collection_arn(info.region, account, info.name),
        "CreationTimestamp": datetime.datetime.fromtimestamp(info.created, tz=datetime.timezone.utc),
        "UserCount": int(info.user_count),
    }


def list_collections(collections: List[Tuple[str, str]], next_token: Optional[str]) -> Dict[str, Any]:
    """``collections``: (CollectionId, FaceModelVersion) pairs of one page."""
    out: Dict[str, Any] = {
        "CollectionIds": [c for c, _ in collections],
        "FaceModelVersions": [v for _, v in collections],
    }
    if next_token:
        out["NextToken"] = next_token
    return out


def stored_face(face: StoredFace, with_model_version: bool = True) -> Dict[str, Any]:
    """A collection's Face. ``face`` has face_id, box (Left, Top, Width, Height ratios), image_id,
    external_image_id (or None), confidence (0..100) and model_version."""
    left, top, width, height = face.box
    out: Dict[str, Any] = {
        "FaceId": face.face_id,
        "BoundingBox": {"Width": float(width), "Height": float(height), "Left": float(left), "Top": float(top)},
        "ImageId": face.image_id,
    }
    if face.external_image_id is not None:
        out["ExternalImageId"] = face.external_image_id
    out["Confidence"] = _percent(face.confidence)
    if with_model_version:
        out["IndexFacesModelVersion"] = face.model_version
    if getattr(face, "user_id", None) is not None:
        out["UserId"] = face.user_id
    return out


# -- users and tags --------------------------------------------------------------------------------------------
def user(info: UserInfo) -> Dict[str, Any]:
    """``info``: a ``storage.collections.UserInfo``."""
    return {"UserId": info.user_id, "UserStatus": info.status}


def list_users(users: Sequence[UserInfo], next_token: Optional[str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"Users": [user(u) for u in users]}
    if next_token:
        out["NextToken"] = next_token
    return out


def associate_faces(associated: List[str], refused: Sequence[Tuple[str, Optional[str], Optional[float], str]],
                    info: UserInfo) -> Dict[str, Any]:
    """``refused``: (FaceId, its other user or None, confidence or None, Reason)."""
    failures = []
    for face_id, other, confidence, reason in refused:
        item: Dict[str, Any] = {"FaceId": face_id}
        if other is not None:
            item["UserId"] = other
        if confidence is not None:
            item["Confidence"] = _percent(confidence)
        item["Reasons"] = [reason]
        failures.append(item)
    return {"AssociatedFaces": [{"FaceId": f} for f in associated], "UnsuccessfulFaceAssociations": failures,
            "UserStatus": info.status}


def disassociate_faces(done: List[str], refused: Sequence[Tuple[str, Optional[str], str]], info: UserInfo) -> Dict[str, Any]:
    """``refused``: (FaceId, its user or None, Reason)."""
    failures = []
    for face_id, other, reason in refused:
        item: Dict[str, Any] = {"FaceId": face_id}
        if other is not None:
            item["UserId"] = other
        item["Reasons"] = [reason]
        failures.append(item)
    return {"DisassociatedFaces": [{"FaceId": f} for f in done], "UnsuccessfulFaceDisassociations": failures,
            "UserStatus": info.status}


def user_matches(matches: Sequence[Tuple[UserInfo, float]]) -> List[Dict[str, Any]]:
    """``matches``: (UserInfo, Similarity), best first."""
    return [{"Similarity": _percent(similarity), "User": user(u)} for u, similarity in matches]


def search_users(result: UserSearch, face_model_version: str) -> Dict[str, Any]:
    """``result``: a ``services.collections.UserSearch``."""
    out: Dict[str, Any] = {"UserMatches": user_matches(result.matches), "FaceModelVersion": face_model_version}
    if result.face_id is not None:
        out["SearchedFace"] = {"FaceId": result.face_id}
    if result.user_id is not None:
        out["SearchedUser"] = {"UserId": result.user_id}
    return out


def search_users_by_image(result: UserImageSearch) -> Dict[str, Any]:
    """``result``: a ``services.collections.UserImageSearch``."""
    detail = face_detail(result.face, result.width, result.height, frozenset({"DEFAULT"}))
    return {
        "UserMatches": user_matches(result.matches),
        "FaceModelVersion": result.info.face_model_version,
        "SearchedFace": {"FaceDetail": detail},
        "UnsearchedFaces": [
            {"FaceDetails": face_detail(f, result.width, result.height, frozenset({"DEFAULT"})), "Reasons": reasons}
            for f, reasons in result.unsearched
        ],
    }


def list_tags(tags: Dict[str, str]) -> Dict[str, Any]:
    return {"Tags": dict(tags)}


def index_faces(result: IndexedFaces) -> Dict[str, Any]:
    """``result``: a ``services.collections.IndexedFaces``."""
    def detail(i: int) -> Dict[str, Any]:
        return face_detail(result.faces[i], result.width, result.height, result.attributes)

    return {
        "FaceRecords": [{"Face": stored_face(f, with_model_version=False), "FaceDetail": detail(i)}
                        for f, i in result.records],
        "FaceModelVersion": result.info.face_model_version,
        "UnindexedFaces": [{"Reasons": list(r), "FaceDetail": detail(i)} for i, r in result.unindexed],
    }


def list_faces(faces: Sequence[StoredFace], next_token: Optional[str], face_model_version: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {"Faces": [stored_face(f) for f in faces]}
    if next_token:
        out["NextToken"] = next_token
    out["FaceModelVersion"] = face_model_version
    return out


def delete_faces(deleted: List[str], not_found: List[str]) -> Dict[str, Any]:
    return {
        "DeletedFaces": list(deleted),
        "UnsuccessfulFaceDeletions": [{"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]} for f in not_found],
    }


def face_matches(matches: Sequence[Tuple[StoredFace, float]]) -> List[Dict[str, Any]]:
    """``matches``: (stored face, Similarity 0..100), best first."""
    return [{"Similarity": _percent(s), "Face": stored_face(f)} for f, s in matches]


def search_faces(face_id: str, matches: Sequence[Tuple[StoredFace, float]], face_model_version: str) -> Dict[str, Any]:
    return {"SearchedFaceId": face_id, "FaceMatches": face_matches(matches), "FaceModelVersion": face_model_version}


def search_faces_by_image(face: FaceAnalysis, width: int, height: int, matches: Sequence[Tuple[StoredFace, float]],
                          face_model_version: str) -> Dict[str, Any]:
    return {
        "SearchedFaceBoundingBox": bounding_box(face.box, width, height),
        "SearchedFaceConfidence": _percent(face.confidence),
        "FaceMatches": face_matches(matches),
        "FaceModelVersion": face_model_version,
    }


# -- stored-video jobs -----------------------------------------------------------------------------------------
def face_detection(timestamp_ms: int, face: FaceAnalysis, width: int, height: int, attributes: frozenset) -> Dict[str, Any]:
    """One FaceDetection of GetFaceDetection: the FaceDetail of a face in the frame at ``timestamp_ms``."""
    return {"Timestamp": int(timestamp_ms), "Face": face_detail(face, width, height, attributes)}


def video_job(row: JobRow, items_key: str, items: List[Dict[str, Any]], next_token: Optional[str]) -> Dict[str, Any]:
    """A Get* response in the model's member order: JobStatus, StatusMessage, VideoMetadata, NextToken, the
    items, JobId, Video, JobTag. While IN_PROGRESS (and when FAILED) there are no items and no VideoMetadata."""
    out: Dict[str, Any] = {"JobStatus": row.status}
    if row.status == "FAILED" and row.status_message:
        out["StatusMessage"] = row.status_message
    if row.status == "SUCCEEDED":
        out["VideoMetadata"] = dict(row.metadata or {})
        if next_token:
            out["NextToken"] = next_token
        out[items_key] = items
    out["JobId"] = row.job_id
    out["Video"] = {"S3Object": dict(row.request["Video"]["S3Object"])}
    if row.job_tag is not None:
        out["JobTag"] = row.job_tag
    return out


def person_detail(index: int, person_box: np.ndarray, face: Optional[FaceAnalysis], width: int, height: int) -> Dict[str, Any]:
    """PersonDetail: the tracked person's Index, its BoundingBox and, when its face is seen, the Face (DEFAULT
    attributes, as Rekognition returns for person tracking and face search)."""
    out: Dict[str, Any] = {"Index": int(index), "BoundingBox": bounding_box(person_box, width, height)}
    if face is not None:
        out["Face"] = face_detail(face, width, height, DEFAULT_ATTRIBUTES)
    return out


def person_detection(timestamp_ms: int, index: int, person_box: np.ndarray, face: Optional[FaceAnalysis], width: int, height: int) -> Dict[str, Any]:
    """One PersonDetection of GetPersonTracking."""
    return {"Timestamp": int(timestamp_ms), "Person": person_detail(index, person_box, face, width, height)}


def person_match(timestamp_ms: int, index: int, person_box: np.ndarray, face: Optional[FaceAnalysis], width: int,
                 height: int, matches: Sequence[Tuple[StoredFace, float]]) -> Dict[str, Any]:
    """One PersonMatch of GetFaceSearch: the person whose face matched, and the collection's faces it matched."""
    return {"Timestamp": int(timestamp_ms), "Person": person_detail(index, person_box, face, width, height),
            "FaceMatches": face_matches(matches)}


# -- celebrities -----------------------------------------------------------------------------------------------
# ComparedFace's members in the model's order; Emotions and Smile are computed for every face (as AWS returns them).
_COMPARED_FACE_ORDER = ("BoundingBox", "Confidence", "Landmarks", "Pose", "Quality", "Emotions", "Smile")
COMPARED_FACE_ATTRIBUTES = frozenset({"DEFAULT", "EMOTIONS", "SMILE"})  # what Engine.analyze must compute for it


def compared_face(face: FaceAnalysis, width: int, height: int) -> Dict[str, Any]:
    """One ComparedFace: BoundingBox, Confidence, the 5 default Landmarks, Pose, Quality, Emotions, Smile (the last
    two present when ``face`` was analysed with COMPARED_FACE_ATTRIBUTES)."""
    detail = face_detail(face, width, height, COMPARED_FACE_ATTRIBUTES)
    return {k: detail[k] for k in _COMPARED_FACE_ORDER if k in detail}


def known_gender(gender: str) -> Dict[str, Any]:
    return {"Type": str(gender)}


def celebrity(record: Celebrity, face: FaceAnalysis, width: int, height: int, match_confidence: float) -> Dict[str, Any]:
    """One Celebrity of RecognizeCelebrities. ``record``: a ``celebrities.Celebrity`` (id, name, urls,
    known_gender or None)."""
    out: Dict[str, Any] = {
        "Urls": list(record.urls),
        "Name": record.name,
        "Id": record.id,
        "Face": compared_face(face, width, height),
        "MatchConfidence": _percent(match_confidence),
    }
    if record.known_gender is not None:
        out["KnownGender"] = known_gender(record.known_gender)
    return out


def recognize_celebrities(recognized: Sequence[Tuple[Celebrity, FaceAnalysis, float]], unrecognized: List[FaceAnalysis],
                          width: int, height: int) -> Dict[str, Any]:
    """``recognized``: (Celebrity record, face, MatchConfidence) per recognized face; ``unrecognized``: the other
    faces. Both largest first."""
    return {
        "CelebrityFaces": [celebrity(r, f, width, height, c) for r, f, c in recognized],
        "UnrecognizedFaces": [compared_face(f, width, height) for f in unrecognized],
    }


def get_celebrity_info(record: Celebrity) -> Dict[str, Any]:
    out: Dict[str, Any] = {"Urls": list(record.urls), "Name": record.name}
    if record.known_gender is not None:
        out["KnownGender"] = known_gender(record.known_gender)
    return out


def celebrity_recognition(timestamp_ms: int, face: FaceAnalysis, width: int, height: int, record: Celebrity,
                          match_confidence: float) -> Dict[str, Any]:
    """One CelebrityRecognition of GetCelebrityRecognition: Timestamp and the CelebrityDetail (Urls, Name, Id,
    Confidence = the match confidence, the face's BoundingBox, Face with DEFAULT attributes, KnownGender)."""
    detail: Dict[str, Any] = {
        "Urls": list(record.urls),
        "Name": record.name,
        "Id": record.id,
        "Confidence": _percent(match_confidence),
        "BoundingBox": bounding_box(face.box, width, height),
        "Face": face_detail(face, width, height, DEFAULT_ATTRIBUTES),
    }
    if record.known_gender is not None:
        detail["KnownGender"] = known_gender(record.known_gender)
    return {"Timestamp": int(timestamp_ms), "Celebrity": detail}


# -- CompareFaces ----------------------------------------------------------------------------------------------
def compare_faces(result: Comparison) -> Dict[str, Any]:
    """``result``: a ``services.compare.Comparison``. SourceImageFace {BoundingBox, Confidence}; FaceMatches
    [{Similarity, Face: ComparedFace}] highest first; UnmatchedFaces [ComparedFace]. The OrientationCorrection
    members (deprecated by AWS) are not returned."""
    sw, sh = result.source_size
    tw, th = result.target_size
    return {
        "SourceImageFace": {"BoundingBox": bounding_box(result.source.box, sw, sh),
                            "Confidence": _percent(result.source.confidence)},
        "FaceMatches": [{"Similarity": _percent(s), "Face": compared_face(f, tw, th)} for f, s in result.matches],
        "UnmatchedFaces": [compared_face(f, tw, th) for f in result.unmatched],
    }
