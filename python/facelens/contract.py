"""Rekognition's request rules, in one table.

Two layers, like the real service: the *shape* (required and known members, types) is what botocore checks
on the client and raises ``ParamValidationError`` for; the *constraints* (lengths, patterns, enums, ranges)
are checked by the service and answered with ``InvalidParameterException``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from .errors import InvalidParameterException, ParamValidationError

ATTRIBUTES = (
    "DEFAULT", "ALL", "AGE_RANGE", "BEARD", "EMOTIONS", "EYE_DIRECTION", "EYEGLASSES", "EYES_OPEN", "GENDER",
    "MOUTH_OPEN", "MUSTACHE", "FACE_OCCLUDED", "SMILE", "SUNGLASSES",
)


@dataclass(frozen=True)
class Member:
    kind: type  # str, int, float, list, dict, bytes
    required: bool = False
    min: Optional[float] = None  # length for str/list, value for numbers
    max: Optional[float] = None
    pattern: Optional[str] = None
    enum: Tuple[str, ...] = ()
    item_enum: Tuple[str, ...] = ()
    item_pattern: Optional[str] = None  # every item of a list must be a str matching it


@dataclass(frozen=True)
class Operation:
    name: str
    members: Dict[str, Member] = field(default_factory=dict)


_IMAGE = Member(dict, required=True)

OPERATIONS: Dict[str, Operation] = {
    "DetectFaces": Operation(
        "DetectFaces",
        {"Image": _IMAGE, "Attributes": Member(list, item_enum=ATTRIBUTES)},
    ),
}

# -- face collections -----------------------------------------------------------------------------------------
COLLECTION_ID = Member(str, required=True, min=1, max=255, pattern=r"[a-zA-Z0-9_.\-]+")
EXTERNAL_IMAGE_ID = Member(str, min=1, max=255, pattern=r"[a-zA-Z0-9_.\-:]+")
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
QUALITY_FILTERS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")
_PAGE = {"NextToken": Member(str, max=255), "MaxResults": Member(int, min=0, max=4096)}
_SEARCH = {"MaxFaces": Member(int, min=1, max=4096), "FaceMatchThreshold": Member(float, min=0, max=100)}

OPERATIONS.update({
    "CreateCollection": Operation("CreateCollection", {"CollectionId": COLLECTION_ID, "Tags": Member(dict, max=200)}),
    "DeleteCollection": Operation("DeleteCollection", {"CollectionId": COLLECTION_ID}),
    "DescribeCollection": Operation("DescribeCollection", {"CollectionId": COLLECTION_ID}),
    "ListCollections": Operation("ListCollections", dict(_PAGE)),
    "IndexFaces": Operation("IndexFaces", {
        "CollectionId": COLLECTION_ID,
        "Image": _IMAGE,
        "ExternalImageId": EXTERNAL_IMAGE_ID,
        "DetectionAttributes": Member(list, item_enum=ATTRIBUTES),
        "MaxFaces": Member(int, min=1),
        "QualityFilter": Member(str, enum=QUALITY_FILTERS),
    }),
    "ListFaces": Operation("ListFaces", {
        "CollectionId": COLLECTION_ID,
        **_PAGE,
        "UserId": Member(str, min=1, max=128, pattern=r"[a-zA-Z0-9_.\-:]+"),
        "FaceIds": Member(list, min=1, max=4096, item_pattern=UUID_PATTERN),
    }),
    "DeleteFaces": Operation("DeleteFaces", {
        "CollectionId": COLLECTION_ID,
        "FaceIds": Member(list, required=True, min=1, max=4096, item_pattern=UUID_PATTERN),
    }),
    "SearchFaces": Operation("SearchFaces", {
        "CollectionId": COLLECTION_ID,
        "FaceId": Member(str, required=True, pattern=UUID_PATTERN),
        **_SEARCH,
    }),
    "SearchFacesByImage": Operation("SearchFacesByImage", {
        "CollectionId": COLLECTION_ID,
        "Image": _IMAGE,
        **_SEARCH,
        "QualityFilter": Member(str, enum=QUALITY_FILTERS),
    }),
})

# -- users and tags -----------------------------------------------------------------------------------------------
USER_ID = Member(str, required=True, min=1, max=128, pattern=r"[a-zA-Z0-9_.\-:]+")
CLIENT_REQUEST_TOKEN = Member(str, min=1, max=64, pattern=r"^[a-zA-Z0-9-_]+$")
USER_FACE_IDS = Member(list, required=True, min=1, max=100, item_pattern=UUID_PATTERN)
_USER_SEARCH = {"UserMatchThreshold": Member(float, min=0, max=100), "MaxUsers": Member(int, min=1, max=500)}
RESOURCE_ARN = Member(str, required=True, min=20, max=2048)

OPERATIONS.update({
    "CreateUser": Operation("CreateUser", {"CollectionId": COLLECTION_ID, "UserId": USER_ID,
                                           "ClientRequestToken": CLIENT_REQUEST_TOKEN}),
    "DeleteUser": Operation("DeleteUser", {"CollectionId": COLLECTION_ID, "UserId": USER_ID,
                                           "ClientRequestToken": CLIENT_REQUEST_TOKEN}),
    "ListUsers": Operation("ListUsers", {"CollectionId": COLLECTION_ID, "MaxResults": Member(int, min=1, max=500),
                                         "NextToken": Member(str, max=255)}),
    "AssociateFaces": Operation("AssociateFaces", {
        "CollectionId": COLLECTION_ID, "UserId": USER_ID, "FaceIds": USER_FACE_IDS,
        "UserMatchThreshold": Member(float, min=0, max=100), "ClientRequestToken": CLIENT_REQUEST_TOKEN,
    }),
    "DisassociateFaces": Operation("DisassociateFaces", {
        "CollectionId": COLLECTION_ID, "UserId": USER_ID, "FaceIds": USER_FACE_IDS,
        "ClientRequestToken": CLIENT_REQUEST_TOKEN,
    }),
    "SearchUsers": Operation("SearchUsers", {
        "CollectionId": COLLECTION_ID, "UserId": Member(str, min=1, max=128, pattern=r"[a-zA-Z0-9_.\-:]+"),
        "FaceId": Member(str, pattern=UUID_PATTERN), **_USER_SEARCH,
    }),
    "SearchUsersByImage": Operation("SearchUsersByImage", {
        "CollectionId": COLLECTION_ID, "Image": _IMAGE, **_USER_SEARCH,
        "QualityFilter": Member(str, enum=QUALITY_FILTERS),
    }),
    "TagResource": Operation("TagResource", {"ResourceArn": RESOURCE_ARN, "Tags": Member(dict, required=True, max=200)}),
    "UntagResource": Operation("UntagResource", {
        "ResourceArn": RESOURCE_ARN, "TagKeys": Member(list, required=True, max=200),
    }),
    "ListTagsForResource": Operation("ListTagsForResource", {"ResourceArn": RESOURCE_ARN}),
})

_TYPE_NAMES = {str: "str", int: "int", float: "float", list: "list", dict: "dict", bytes: "bytes"}


def validate(operation: str, params: Mapping[str, Any]) -> Dict[str, Any]:
    """Checks a request against the operation's rules and returns it as a plain dict."""
    op = OPERATIONS[operation]
    problems = []
    for key in params:
        if key not in op.members:
            problems.append(f'Unknown parameter in input: "{key}", must be one of: {", ".join(op.members)}')
    m: Optional[Member]
    for key, m in op.members.items():
        if m.required and params.get(key) is None:
            problems.append(f'Missing required parameter in input: "{key}"')
    for key, value in params.items():
        m = op.members.get(key)
        if m is None or (value is None and m.required):
            continue
        if value is None:  # botocore refuses None for any member; on the wire it is a JSON null
            problems.append(
                f"Invalid type for parameter {key}, value: None, type: NoneType, valid types: {_TYPE_NAMES[m.kind]}"
            )
            continue
        ok = isinstance(value, m.kind) and not (m.kind is int and isinstance(value, bool))
        if m.kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if m.kind is dict:
            ok = isinstance(value, Mapping)
        if m.kind is list:
            ok = isinstance(value, (list, tuple))
        if not ok:
            problems.append(
                f"Invalid type for parameter {key}, value: {_short(value)}, type: {type(value).__name__}, "
                f"valid types: {_TYPE_NAMES[m.kind]}"
            )
        elif m.kind is list and (m.item_enum or m.item_pattern):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    problems.append(
                        f"Invalid type for parameter {key}[{i}], value: {_short(item)}, type: {type(item).__name__}, "
                        "valid types: str"
                    )
    if problems:
        raise ParamValidationError("\n".join(problems))
    for key, value in params.items():
        m = op.members[key]
        if value is not None:
            check_constraints(key, value, m)
    return dict(params)


def _short(value: Any) -> str:
    """The start of a value's repr for a message (whatever the value: a deep or odd object must not fail here)."""
    try:
        text = repr(value)
    except Exception:  # e.g. RecursionError for a deeply nested list
        text = f"<{type(value).__name__}>"
    return text[:60]


def check_constraints(key: str, value: Any, m: Member) -> None:
    if isinstance(value, (str, list, tuple, Mapping)):
        n = len(value)
        if m.min is not None and n < m.min:
            raise InvalidParameterException(f"{key} must have length >= {m.min:g}; got {n}.")
        if m.max is not None and n > m.max:
            raise InvalidParameterException(f"{key} must have length <= {m.max:g}; got {n}.")
    elif isinstance(value, (int, float)):
        if value != value:
            raise InvalidParameterException(f"{key} must be a number; got NaN.")
        if m.min is not None and value < m.min:
            raise InvalidParameterException(f"{key} must be >= {m.min:g}; got {value}.")
        if m.max is not None and value > m.max:
            raise InvalidParameterException(f"{key} must be <= {m.max:g}; got {value}.")
    if m.pattern is not None and not re.fullmatch(m.pattern, value):
        raise InvalidParameterException(f"{key} {value!r:.80} does not match the pattern {m.pattern}.")
    if m.enum and value not in m.enum:
        raise InvalidParameterException(f"{key} {value!r:.80} is not one of {', '.join(m.enum)}.")
    if m.item_enum:
        for item in value:
            if item not in m.item_enum:
                raise InvalidParameterException(
                    f"{key} contains {item!r:.80}, which is not one of {', '.join(m.item_enum)}."
                )
    if m.item_pattern is not None:
        for item in value:
            if not isinstance(item, str) or not re.fullmatch(m.item_pattern, item):
                raise InvalidParameterException(
                    f"{key} contains {item!r:.80}, which does not match the pattern {m.item_pattern}."
                )


def image_source(image: Mapping[str, Any]) -> Tuple[str, Any]:
    """Returns ("Bytes", data) or ("S3Object", obj) for a request's Image, enforcing exactly one of them."""
    unknown = [k for k in image if k not in ("Bytes", "S3Object")]
    if unknown:
        raise ParamValidationError(f'Unknown parameter in Image: "{unknown[0]}", must be one of: Bytes, S3Object')
    has_bytes = image.get("Bytes") is not None
    has_s3 = image.get("S3Object") is not None
    if has_bytes and has_s3:
        raise InvalidParameterException("Image must specify either Bytes or S3Object, not both.")
    if not has_bytes and not has_s3:
        raise InvalidParameterException("Image must specify Bytes or S3Object.")
    if has_bytes:
        data = image["Bytes"]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ParamValidationError(
                f"Invalid type for parameter Image.Bytes, type: {type(data).__name__}, valid types: bytes"
            )
        return "Bytes", data
    return "S3Object", image["S3Object"]


_BUCKET = re.compile(r"[0-9A-Za-z.\-_]{3,255}")


def s3_object(s3object: Any) -> Tuple[str, str, Optional[str]]:
    """(Bucket, Name, Version) of a request's ``S3Object``, or the InvalidParameterException Rekognition gives."""
    if not isinstance(s3object, Mapping):
        raise InvalidParameterException("S3Object must be a structure with Bucket and Name.")
    bucket = s3object.get("Bucket")
    name = s3object.get("Name")
    version = s3object.get("Version")
    if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket) or bucket in (".", ".."):
        raise InvalidParameterException(
            f"S3Object.Bucket must be 3-255 characters of [0-9A-Za-z.-_]; got {bucket!r}."
        )
    if not isinstance(name, str) or not 1 <= len(name) <= 1024:
        raise InvalidParameterException("S3Object.Name must be a string of 1-1024 characters.")
    if version is not None and (not isinstance(version, str) or not 1 <= len(version) <= 1024):
        raise InvalidParameterException("S3Object.Version must be a string of 1-1024 characters.")
    return bucket, name, version


def wanted_attributes(attributes: Optional[Sequence[str]]) -> frozenset:
    """The set of attributes a request asks for. DEFAULT is always included; ALL means every one."""
    asked = set(attributes or ["DEFAULT"])
    if "ALL" in asked:
        return frozenset(ATTRIBUTES)
    asked.add("DEFAULT")
    return frozenset(asked)


# -- stored-video jobs ----------------------------------------------------------------------------------------
JOB_ID = Member(str, required=True, min=1, max=64, pattern=r"^[a-zA-Z0-9-_]+$")
_VIDEO_START = {
    "Video": Member(dict, required=True),
    "ClientRequestToken": Member(str, min=1, max=64, pattern=r"^[a-zA-Z0-9-_]+$"),
    "NotificationChannel": Member(dict),
    "JobTag": Member(str, min=1, max=1024, pattern=r"[a-zA-Z0-9_.\-:+=\/]+"),
}
# MaxResults has no maximum in the model: the service returns at most 1000 items a page whatever is asked.
_VIDEO_GET = {"JobId": JOB_ID, "MaxResults": Member(int, min=1), "NextToken": Member(str, max=255)}
SNS_TOPIC_ARN = Member(str, required=True, pattern=r"(^arn:aws:sns:.*:\w{12}:.+$)")
ROLE_ARN = Member(str, required=True, pattern=r"arn:aws:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")

OPERATIONS.update({
    "StartFaceDetection": Operation("StartFaceDetection", {
        **_VIDEO_START, "FaceAttributes": Member(str, enum=("DEFAULT", "ALL")),
    }),
    "GetFaceDetection": Operation("GetFaceDetection", dict(_VIDEO_GET)),
    "StartFaceSearch": Operation("StartFaceSearch", {
        **_VIDEO_START, "CollectionId": COLLECTION_ID, "FaceMatchThreshold": Member(float, min=0, max=100),
    }),
    "GetFaceSearch": Operation("GetFaceSearch", {**_VIDEO_GET, "SortBy": Member(str, enum=("INDEX", "TIMESTAMP"))}),
    "StartPersonTracking": Operation("StartPersonTracking", dict(_VIDEO_START)),
    "GetPersonTracking": Operation("GetPersonTracking", {
        **_VIDEO_GET, "SortBy": Member(str, enum=("INDEX", "TIMESTAMP")),
    }),
    "StartCelebrityRecognition": Operation("StartCelebrityRecognition", dict(_VIDEO_START)),
    "GetCelebrityRecognition": Operation("GetCelebrityRecognition", {
        **_VIDEO_GET, "SortBy": Member(str, enum=("ID", "TIMESTAMP")),
    }),
})


def video_source(video: Mapping[str, Any]) -> Mapping[str, Any]:
    """The S3Object of a request's Video (the only source Rekognition Video reads)."""
    unknown = [k for k in video if k != "S3Object"]
    if unknown:
        raise ParamValidationError(f'Unknown parameter in Video: "{unknown[0]}", must be one of: S3Object')
    s3object = video.get("S3Object")
    if s3object is None:
        raise InvalidParameterException("Video must specify an S3Object.")
    if not isinstance(s3object, Mapping):
        raise ParamValidationError(
            f"Invalid type for parameter Video.S3Object, type: {type(s3object).__name__}, valid types: dict"
        )
    unknown = [k for k in s3object if k not in ("Bucket", "Name", "Version")]
    if unknown:
        raise ParamValidationError(
            f'Unknown parameter in Video.S3Object: "{unknown[0]}", must be one of: Bucket, Name, Version'
        )
    return s3object


def notification_channel(channel: Mapping[str, Any]) -> Dict[str, str]:
    """A validated NotificationChannel: both ARNs present (botocore's shape) and well formed (the service)."""
    members = {"SNSTopicArn": SNS_TOPIC_ARN, "RoleArn": ROLE_ARN}
    problems = [f'Unknown parameter in NotificationChannel: "{k}", must be one of: SNSTopicArn, RoleArn'
                for k in channel if k not in members]
    problems += [f'Missing required parameter in NotificationChannel: "{k}"' for k in members if channel.get(k) is None]
    problems += [f"Invalid type for parameter NotificationChannel.{k}, type: {type(channel[k]).__name__}, "
                 "valid types: str" for k in members if channel.get(k) is not None and not isinstance(channel[k], str)]
    if problems:
        raise ParamValidationError("\n".join(problems))
    for key, m in members.items():
        check_constraints(f"NotificationChannel.{key}", channel[key], m)
    return {k: channel[k] for k in members}


# -- celebrities ----------------------------------------------------------------------------------------------
CELEBRITY_ID = Member(str, required=True, pattern=r"[0-9A-Za-z]*")  # RekognitionUniqueId

OPERATIONS.update({
    "RecognizeCelebrities": Operation("RecognizeCelebrities", {"Image": _IMAGE}),
    "GetCelebrityInfo": Operation("GetCelebrityInfo", {"Id": CELEBRITY_ID}),
})

# -- CompareFaces ---------------------------------------------------------------------------------------------
OPERATIONS.update({
    "CompareFaces": Operation("CompareFaces", {
        "SourceImage": _IMAGE,
        "TargetImage": _IMAGE,
        "SimilarityThreshold": Member(float, min=0, max=100),
        "QualityFilter": Member(str, enum=QUALITY_FILTERS),
    }),
})


# -- every operation of Rekognition's service model, by the area of the service it belongs to --------------------
# The endpoint answers those that facelens.Client does not implement with a message that names them (and the
# README lists them); tests/test_not_served.py checks this table against botocore's model.
SERVICE_OPERATIONS: Dict[str, Tuple[str, ...]] = {
    "faces": (
        "AssociateFaces", "CompareFaces", "CreateCollection", "CreateUser", "DeleteCollection", "DeleteFaces",
        "DeleteUser", "DescribeCollection", "DetectFaces", "DisassociateFaces", "GetCelebrityInfo",
        "GetCelebrityRecognition", "GetFaceDetection", "GetFaceSearch", "GetPersonTracking", "IndexFaces",
        "ListCollections", "ListFaces", "ListTagsForResource", "ListUsers", "RecognizeCelebrities", "SearchFaces",
        "SearchFacesByImage", "SearchUsers", "SearchUsersByImage", "StartCelebrityRecognition", "StartFaceDetection",
        "StartFaceSearch", "StartPersonTracking", "TagResource", "UntagResource",
    ),
    "labels": ("DetectLabels", "GetLabelDetection", "StartLabelDetection"),
    "text": ("DetectText", "GetTextDetection", "StartTextDetection"),
    "content moderation": (
        "DetectModerationLabels", "GetContentModeration", "GetMediaAnalysisJob", "ListMediaAnalysisJobs",
        "StartContentModeration", "StartMediaAnalysisJob",
    ),
    "personal protective equipment": ("DetectProtectiveEquipment",),
    "video segments": ("GetSegmentDetection", "StartSegmentDetection"),
    "face liveness": ("CreateFaceLivenessSession", "GetFaceLivenessSessionResults"),
    "stream processors": (
        "CreateStreamProcessor", "DeleteStreamProcessor", "DescribeStreamProcessor", "ListStreamProcessors",
        "StartStreamProcessor", "StopStreamProcessor", "UpdateStreamProcessor",
    ),
    "Custom Labels": (
        "CopyProjectVersion", "CreateDataset", "CreateProject", "CreateProjectVersion", "DeleteDataset",
        "DeleteProject", "DeleteProjectPolicy", "DeleteProjectVersion", "DescribeDataset", "DescribeProjectVersions",
        "DescribeProjects", "DetectCustomLabels", "DistributeDatasetEntries", "ListDatasetEntries",
        "ListDatasetLabels", "ListProjectPolicies", "PutProjectPolicy", "StartProjectVersion", "StopProjectVersion",
        "UpdateDatasetEntries",
    ),
}


def service_area(operation: str) -> Optional[str]:
    """The area of Rekognition ``operation`` belongs to, or None when it is not a Rekognition operation."""
    for area, names in SERVICE_OPERATIONS.items():
        if operation in names:
            return area
    return None
