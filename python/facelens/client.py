"""``facelens.Client``: boto3's rekognition client, computed locally.

Methods have boto3's snake_case names and keyword arguments and return the same dicts. One client may be
shared by many threads; the models release the GIL, so calls run in parallel.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Dict, Optional, Sequence

from . import contract, images, response
from .errors import ClientError, Exceptions, InternalServerError, InvalidParameterException, ParamValidationError
from .models import registry
from .storage import ObjectStore
from .storage import home as default_home


class Client:
    """A local stand-in for ``boto3.client("rekognition")``.

    Args:
        home: where facelens keeps its data (the S3 stand-in under ``home/s3``); default ``$FACELENS_HOME``
            or ``~/.facelens``.
        threads: onnxruntime threads per model call (default: ``$FACELENS_THREADS`` or the CPU count, max 4).
        detector_max_side: the detector sees images with their longer side at 640 pixels (smaller ones enlarged, at
            most 2x), or, for larger images, at their own size up to this many pixels (default 640; large photos
            whose faces are small at 640 get a second, closer look at up to 960 px either way; see
            ``engine/detector.py`` and the README's Accuracy section).
        video_sample_fps: video jobs analyse at most this many frames per second of video (default 5; see
            ``facelens.video.reader``).
        video_workers: video jobs run at once by the default in-process runner (more wait in its queue).
        video_runner: a ``facelens.video.JobRunner`` to run video jobs instead of the in-process pool.
        precision: "int8" (default, or ``$FACELENS_PRECISION``): the networks whose int8 versions hold their
            accuracy run in int8; "fp32": every network in fp32; "int8-all": every int8 file, also those that
            lose some accuracy (README "Int8 networks").
        providers: onnxruntime execution providers, e.g. ``["CUDAExecutionProvider"]`` (default
            ``$FACELENS_PROVIDERS`` or the CPU alone; only the CPU is tested).
    """

    def __init__(self, home: Optional[str] = None, threads: Optional[int] = None, detector_max_side: int = 640,
                 video_sample_fps: Optional[float] = None, video_workers: int = 1, video_runner=None,
                 precision: Optional[str] = None, providers: Optional[Sequence[str]] = None) -> None:
        self.home = default_home(home)
        self._video_options = (video_sample_fps, video_workers, video_runner)
        self.store = ObjectStore(self.home)
        self.exceptions = Exceptions()
        self._threads = threads
        self._detector_max_side = detector_max_side
        self._runtime = {"precision": registry.resolve_precision(precision),
                         "providers": registry.resolve_providers(providers)}
        self._engine = None
        self._engine_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------------------
    @property
    def engine(self):
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    from .pipeline import Engine

                    self._engine = Engine(threads=self._threads, detector_max_side=self._detector_max_side,
                                          **self._runtime)
        return self._engine

    def _image_bytes(self, image: Dict[str, Any]):
        """(bytes, size limit) of a request's Image: Bytes as given, or the S3Object from the local store."""
        kind, value = contract.image_source(image)
        if kind == "Bytes":
            return bytes(value), images.MAX_BYTES
        return self.store.read(value, images.MAX_S3_BYTES), images.MAX_S3_BYTES

    def _load_image(self, image: Dict[str, Any]) -> images.DecodedImage:
        data, limit = self._image_bytes(image)
        return images.decode(data, max_bytes=limit)

    def _call(self, operation: str, fn, params: Dict[str, Any]) -> Dict[str, Any]:
        try:
            request = contract.validate(operation, params)
            result = fn(request)
        except (ClientError, ParamValidationError) as e:
            if isinstance(e, ClientError) and not e.operation_name:
                raise type(e)(e.message, operation) from None
            raise
        except Exception as e:  # a bug of ours must still reach the caller as Rekognition's 500
            raise InternalServerError(f"{type(e).__name__}: {e}", operation) from e
        result["ResponseMetadata"] = {
            "RequestId": str(uuid.uuid4()),
            "HTTPStatusCode": 200,
            "HTTPHeaders": {"content-type": "application/x-amz-json-1.1"},
            "RetryAttempts": 0,
        }
        return result

    # -- operations -----------------------------------------------------------------------------------------
    def detect_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """DetectFaces: the 100 largest faces, largest first, with the attributes asked for."""
        return self._call("DetectFaces", self._detect_faces, kwargs)

    def _detect_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        attributes = contract.wanted_attributes(request.get("Attributes"))
        image = self._load_image(request["Image"])
        faces = self.engine.analyze(image, want_eyes="EYE_DIRECTION" in attributes, attributes=attributes)
        height, width = image.rgb.shape[:2]
        return response.detect_faces(faces, width, height, attributes)

    def can_paginate(self, operation_name: str) -> bool:
        from .paginators import PAGINATED

        return operation_name in PAGINATED

    def get_paginator(self, operation_name: str):
        """boto3's paginators for the list operations: ``get_paginator("list_faces").paginate(CollectionId=...)``."""
        from .paginators import PAGINATED, Paginator

        if operation_name not in PAGINATED:
            raise ValueError(f"Operation cannot be paginated: {operation_name}")
        return Paginator(getattr(self, operation_name), operation_name)

    def close(self) -> None:
        video = getattr(self, "_video", None)
        if video is not None:
            video.close()
            self._video = None
        self._engine = None

    # -- face collections (issue 5) -------------------------------------------------------------------------
    # The store lives in $FACELENS_HOME/collections.sqlite3 (see collections/store.py); it is opened on the first
    # collection call, so DetectFaces alone never creates it.
    @property
    def collections(self):
        store = getattr(self, "_collections", None)
        if store is None:
            with self._engine_lock:
                store = getattr(self, "_collections", None)
                if store is None:
                    from .collections.store import CollectionStore
                    from .collections import FACE_MODEL_VERSION

                    store = self._collections = CollectionStore(self.home, FACE_MODEL_VERSION)
        return store

    def create_collection(self, **kwargs: Any) -> Dict[str, Any]:
        """CreateCollection: an empty collection; ResourceAlreadyExistsException if the id is taken."""
        return self._call("CreateCollection", self._create_collection, kwargs)

    def delete_collection(self, **kwargs: Any) -> Dict[str, Any]:
        """DeleteCollection: the collection and all its faces."""
        return self._call("DeleteCollection", self._delete_collection, kwargs)

    def describe_collection(self, **kwargs: Any) -> Dict[str, Any]:
        """DescribeCollection: FaceCount, FaceModelVersion, CollectionARN, CreationTimestamp."""
        return self._call("DescribeCollection", self._describe_collection, kwargs)

    def list_collections(self, **kwargs: Any) -> Dict[str, Any]:
        """ListCollections: ids in creation order, paginated by MaxResults (default 1000) and NextToken."""
        return self._call("ListCollections", self._list_collections, kwargs)

    def index_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """IndexFaces: detects faces, keeps those that pass QualityFilter (default AUTO) up to MaxFaces, stores
        their descriptors. FaceRecords largest first; UnindexedFaces with Reasons."""
        return self._call("IndexFaces", self._index_faces, kwargs)

    def list_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """ListFaces: faces in indexing order, paginated by MaxResults (default 1000) and NextToken."""
        return self._call("ListFaces", self._list_faces, kwargs)

    def delete_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """DeleteFaces: DeletedFaces, and UnsuccessfulFaceDeletions (FACE_NOT_FOUND) for ids not in the collection."""
        return self._call("DeleteFaces", self._delete_faces, kwargs)

    def search_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """SearchFaces: the collection's faces most similar to one of its faces (which is left out)."""
        return self._call("SearchFaces", self._search_faces, kwargs)

    def search_faces_by_image(self, **kwargs: Any) -> Dict[str, Any]:
        """SearchFacesByImage: the collection's faces most similar to the largest face of an image."""
        return self._call("SearchFacesByImage", self._search_faces_by_image, kwargs)

    def _image_and_id(self, image: Dict[str, Any]):
        """The decoded image and its ImageId: a UUID derived from the sha256 of the image's bytes, so the same
        image always gets the same ImageId."""
        import hashlib

        data, limit = self._image_bytes(image)
        decoded = images.decode(data, max_bytes=limit)
        return decoded, str(uuid.uuid5(_IMAGE_ID_NAMESPACE, hashlib.sha256(data).hexdigest()))

    def _create_collection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        info = self.collections.create(request["CollectionId"])
        return response.create_collection(info.name, info.face_model_version)

    def _delete_collection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        self.collections.delete(request["CollectionId"])
        return response.delete_collection()

    def _describe_collection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        info = self.collections.describe(request["CollectionId"])
        return response.describe_collection(info.name, info.face_count, info.face_model_version, info.created)

    def _list_collections(self, request: Dict[str, Any]) -> Dict[str, Any]:
        from . import tokens

        store = self.collections
        after = 0
        if request.get("NextToken"):
            after = tokens.parse(store.token_secret, request["NextToken"], "ListCollections")
        page, more = store.list(after, request.get("MaxResults") or _DEFAULT_PAGE)
        token = tokens.make(store.token_secret, "ListCollections", more) if more is not None else None
        return response.list_collections([(c.name, c.face_model_version) for c in page], token)

    def _index_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        from .collections import quality
        from .collections.store import NewFace

        contract.image_source(request["Image"])  # the request's shape first, as botocore checks it
        store = self.collections
        info = store.describe(request["CollectionId"])  # ResourceNotFoundException before any work
        attributes = contract.wanted_attributes(request.get("DetectionAttributes"))
        image, image_id = self._image_and_id(request["Image"])
        faces = self.engine.analyze(image, want_eyes="EYE_DIRECTION" in attributes, attributes=attributes)
        level = request.get("QualityFilter") or "AUTO"
        kept, left_out = quality.select(faces, level, request.get("MaxFaces") or len(faces) or 1, image.scale)
        height, width = image.rgb.shape[:2]
        vectors = self.engine.descriptors(image, [faces[i] for i in kept])
        new = []
        for i, vector in zip(kept, vectors):
            box = response.bounding_box(faces[i].box, width, height)
            new.append(NewFace((box["Left"], box["Top"], box["Width"], box["Height"]), faces[i].confidence, vector))
        stored = store.add_faces(info.name, image_id, request.get("ExternalImageId"), new)
        return response.index_faces(
            [(s, response.face_detail(faces[i], width, height, attributes)) for s, i in zip(stored, kept)],
            [(response.face_detail(faces[i], width, height, attributes), why) for i, why in left_out],
            info.face_model_version,
        )

    def _list_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        from . import tokens

        store = self.collections
        name = request["CollectionId"]
        info = store.describe(name)
        after = 0
        if request.get("NextToken"):
            after = tokens.parse(store.token_secret, request["NextToken"], f"ListFaces.{info.rid}")
        if request.get("UserId") is not None:  # facelens has no users (AssociateFaces): no face belongs to one
            return response.list_faces([], None, info.face_model_version)
        info, faces, more = store.list_faces(name, after, request.get("MaxResults") or _DEFAULT_PAGE,
                                             request.get("FaceIds"))
        token = tokens.make(store.token_secret, f"ListFaces.{info.rid}", more) if more is not None else None
        return response.list_faces(faces, token, info.face_model_version)

    def _delete_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        deleted, missing = self.collections.delete_faces(request["CollectionId"], request["FaceIds"])
        return response.delete_faces(deleted, missing)

    def _matches(self, name: str, vector, request: Dict[str, Any], exclude: Optional[str] = None):
        from .collections.similarity import distance_bound, similarity

        threshold = float(request.get("FaceMatchThreshold", _DEFAULT_THRESHOLD))
        bound = distance_bound(threshold)
        hits = self.collections.search(name, vector, request.get("MaxFaces") or _DEFAULT_MAX_MATCHES,
                                       bound + 1e-5 if bound >= 0 else bound, exclude=exclude)
        scored = [(face, similarity(d)) for face, d in hits]
        return [(face, s) for face, s in scored if s >= threshold]

    def _search_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        store = self.collections
        name, face_id = request["CollectionId"], request["FaceId"]
        info = store.describe(name)
        vector = store.face_vector(name, face_id)
        if vector is None:
            raise InvalidParameterException(f"faceId {face_id} was not found in the collection.")
        matches = self._matches(name, vector, request, exclude=face_id)
        return response.search_faces(face_id, matches, info.face_model_version)

    def _search_faces_by_image(self, request: Dict[str, Any]) -> Dict[str, Any]:
        from .collections import quality

        contract.image_source(request["Image"])
        store = self.collections
        name = request["CollectionId"]
        info = store.describe(name)
        image, _ = self._image_and_id(request["Image"])
        faces = self.engine.analyze(image)
        level = request.get("QualityFilter") or "NONE"
        usable = [f for f in faces if not quality.reasons(f, level, image.scale)]
        if not usable:
            raise InvalidParameterException("There are no faces in the image. Should be at least 1.")
        face = usable[0]  # the largest: faces come largest first
        vector = self.engine.descriptors(image, [face])[0]
        height, width = image.rgb.shape[:2]
        matches = self._matches(name, vector, request)
        return response.search_faces_by_image(face, width, height, matches, info.face_model_version)


    # -- celebrities (issue 6) ------------------------------------------------------------------------------
    # The user's celebrity gallery lives in $FACELENS_HOME/celebrities.sqlite3 (celebrities/store.py), opened on
    # the first celebrity call. client.celebrities.add(...) fills it; RecognizeCelebrities matches against it.
    @property
    def celebrities(self):
        """The celebrity gallery: ``add(name, image=..., images=[...], urls=[...], known_gender=...) -> Id``,
        ``add_images(id, images)``, ``remove(id)``, ``list()``, ``get(id)``, ``match(descriptors)``
        (see ``facelens.celebrities.gallery.CelebrityGallery``)."""
        gallery = getattr(self, "_celebrities", None)
        if gallery is None:
            with self._engine_lock:
                gallery = getattr(self, "_celebrities", None)
                if gallery is None:
                    from .celebrities import CelebrityGallery, CelebrityStore

                    gallery = self._celebrities = CelebrityGallery(
                        CelebrityStore(self.home), lambda: self.engine, self._image_bytes)
        return gallery

    def recognize_celebrities(self, **kwargs: Any) -> Dict[str, Any]:
        """RecognizeCelebrities: the 64 largest faces of the image, each matched against the celebrity gallery;
        CelebrityFaces (MatchConfidence >= 80) and UnrecognizedFaces, largest first."""
        return self._call("RecognizeCelebrities", self._recognize_celebrities, kwargs)

    def get_celebrity_info(self, **kwargs: Any) -> Dict[str, Any]:
        """GetCelebrityInfo: Urls, Name and KnownGender of a gallery celebrity (ResourceNotFoundException if none)."""
        return self._call("GetCelebrityInfo", self._get_celebrity_info, kwargs)

    def _recognize_celebrities(self, request: Dict[str, Any]) -> Dict[str, Any]:
        from .celebrities import MAX_FACES

        image = self._load_image(request["Image"])
        faces = self.engine.analyze(image, attributes=response.COMPARED_FACE_ATTRIBUTES)[:MAX_FACES]
        found = self.celebrities.recognize_faces(image, faces)
        height, width = image.rgb.shape[:2]
        recognized = [(c, f, conf) for f, (c, conf) in zip(faces, found) if c is not None]
        unrecognized = [f for f, (c, _) in zip(faces, found) if c is None]
        return response.recognize_celebrities(recognized, unrecognized, width, height)

    def _get_celebrity_info(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return response.get_celebrity_info(self.celebrities.store.get(request["Id"]))

    # -- stored-video jobs (issue 6) ------------------------------------------------------------------------
    # Jobs and results live in $FACELENS_HOME/video.sqlite3 (video/store.py), opened on the first video call;
    # jobs run on video_runner (default: a bounded pool of threads in this process, video/jobs.py).
    @property
    def video(self):
        service = getattr(self, "_video", None)
        if service is None:
            with self._engine_lock:
                service = getattr(self, "_video", None)
                if service is None:
                    from .video.reader import DEFAULT_SAMPLE_FPS
                    from .video.service import VideoJobs

                    fps, workers, runner = self._video_options
                    service = self._video = VideoJobs(
                        self.home, self.store, lambda: self.engine, fps or DEFAULT_SAMPLE_FPS, runner, workers
                    )
        return service

    def start_face_detection(self, **kwargs: Any) -> Dict[str, Any]:
        """StartFaceDetection: starts a job that finds the faces in a stored video (Video.S3Object); returns
        its JobId at once. FaceAttributes DEFAULT | ALL (ALL includes EyeDirection and FaceOccluded)."""
        return self._call("StartFaceDetection", lambda r: self.video.start_face_detection(r), kwargs)

    def get_face_detection(self, **kwargs: Any) -> Dict[str, Any]:
        """GetFaceDetection: JobStatus, and once SUCCEEDED VideoMetadata and Faces[] ({Timestamp ms, Face}) in
        timestamp order, paginated by MaxResults (default and maximum 1000) and NextToken."""
        return self._call("GetFaceDetection", lambda r: self.video.get("FaceDetection", r), kwargs)

    def video_job_progress(self, JobId: str) -> Dict[str, Any]:  # noqa: N803 - boto3-style argument
        """facelens only: {JobId, JobStatus, FramesDone, FramesTotal, Percent} of any video job. FramesTotal is
        the number of frames the job will analyse (estimated from the container until the job ends)."""
        result = self._call("GetFaceDetection", lambda r: self.video.progress(r["JobId"]), {"JobId": JobId})
        result.pop("ResponseMetadata", None)
        return result

    def wait_for_video_job(self, JobId: str, timeout: Optional[float] = None, poll: float = 0.05) -> str:  # noqa: N803
        """facelens only: blocks until the job is no longer IN_PROGRESS and returns its JobStatus
        (TimeoutError after ``timeout`` seconds)."""
        return self.video.wait(JobId, timeout, poll)

    def start_person_tracking(self, **kwargs: Any) -> Dict[str, Any]:
        """StartPersonTracking: starts a job that tracks the people in a stored video; returns its JobId at once."""
        return self._call("StartPersonTracking", lambda r: self.video.start_person_tracking(r), kwargs)

    def get_person_tracking(self, **kwargs: Any) -> Dict[str, Any]:
        """GetPersonTracking: Persons[] ({Timestamp, Person: {Index, BoundingBox, Face}}), SortBy TIMESTAMP
        (default) or INDEX (by person, then detection confidence), paginated like GetFaceDetection."""
        return self._call("GetPersonTracking", lambda r: self.video.get("PersonTracking", r), kwargs)

    def start_face_search(self, **kwargs: Any) -> Dict[str, Any]:
        """StartFaceSearch: starts a job that searches a collection for the faces of the people in a stored
        video (FaceMatchThreshold, default 80); ResourceNotFoundException at once if the collection is missing."""
        return self._call("StartFaceSearch", lambda r: self.video.start_face_search(
            r, self.collections.describe, self._video_face_matches), kwargs)

    def _video_face_matches(self, collection_id: str, vector, threshold: float):
        return self._matches(collection_id, vector, {"FaceMatchThreshold": threshold})

    def get_face_search(self, **kwargs: Any) -> Dict[str, Any]:
        """GetFaceSearch: Persons[] ({Timestamp, Person, FaceMatches}) for the faces that matched, SortBy
        TIMESTAMP (default) or INDEX."""
        return self._call("GetFaceSearch", lambda r: self.video.get("FaceSearch", r), kwargs)

    def start_celebrity_recognition(self, **kwargs: Any) -> Dict[str, Any]:
        """StartCelebrityRecognition: starts a job that recognises the gallery's celebrities
        (``client.celebrities``) in a stored video."""
        return self._call("StartCelebrityRecognition",
                          lambda r: self.video.start_celebrity_recognition(r, lambda: self.celebrities), kwargs)

    def get_celebrity_recognition(self, **kwargs: Any) -> Dict[str, Any]:
        """GetCelebrityRecognition: Celebrities[] ({Timestamp, Celebrity}), SortBy TIMESTAMP (default) or ID."""
        return self._call("GetCelebrityRecognition", lambda r: self.video.get("CelebrityRecognition", r), kwargs)


_IMAGE_ID_NAMESPACE = uuid.UUID("6f1c3c1e-6b1f-5d8a-9a43-3d6f2f0c9e57")  # facelens ImageIds: uuid5(this, sha256)
_DEFAULT_PAGE = 1000  # ListCollections / ListFaces MaxResults when absent or 0
_DEFAULT_THRESHOLD = 80.0  # FaceMatchThreshold
_DEFAULT_MAX_MATCHES = 80  # SearchFaces(ByImage) MaxFaces when absent
