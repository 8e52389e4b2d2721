"""``facelens.Client``: boto3's rekognition client, computed locally.

Methods have boto3's snake_case names and keyword arguments and return the same dicts. One client may be
shared by many threads; the models release the GIL, so calls run in parallel.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence, Union

from . import contract, response
from .errors import ClientError, Exceptions, InternalServerError, ParamValidationError
from .runtime import Runtime
from .settings import REGION_PATTERN, Settings

if TYPE_CHECKING:
    from .celebrities import CelebrityGallery
    from .jobs.local import JobRunner
    from .objects.local import ObjectStore
    from .objects.s3 import S3ObjectStore
    from .pagination import Paginator
    from .pipeline import Engine
    from .services.collections import Collections
    from .video.service import VideoJobs


class Client:
    """A local stand-in for ``boto3.client("rekognition")``: validates each request (``contract``), hands it to a
    service of the runtime (``services/``, ``video/``, ``celebrities/``) and shapes the answer (``response``).

    Args (each defaults to its environment variable, see ``facelens.settings``):
        home: where facelens keeps its data (the SQLite database, the local object store under ``home/s3``);
            default ``$FACELENS_HOME`` or ``~/.facelens``.
        threads: onnxruntime threads per model call (default: ``$FACELENS_THREADS`` or the CPU count, max 4).
        detector_max_side: the detector sees images with their longer side at 640 pixels (smaller ones enlarged, at
            most 2x), or, for larger images, at their own size up to this many pixels (default 640; large photos
            whose faces are small at 640 get a second, closer look at up to 960 px either way; see
            ``engine/detector.py`` and the README's Accuracy section).
        video_sample_fps: video jobs analyse at most this many frames per second of video (default 5; see
            ``facelens.video.reader``).
        video_workers: video jobs run at once by the default in-process runner (more wait in its queue).
        video_runner: a ``facelens.jobs.local.JobRunner`` (``submit(spec)``, ``shutdown()``) to run video jobs
            instead of the in-process pool or Ray.
        database_url: ``sqlite:///PATH`` (default ``<home>/facelens.sqlite3``) or ``postgresql://USER@HOST:PORT/DB``
            (``$FACELENS_DATABASE_URL``); several processes and hosts may share one.
        object_store: ``"local"`` (``<home>/s3/<Bucket>/<Name>``) or ``"s3"`` (the S3 API through boto3, configured
            as every AWS tool is; ``$FACELENS_OBJECT_STORE``).
        region_name: the region the client's collections, users, jobs and gallery live in (default
            ``$FACELENS_REGION`` or us-east-1); one region's resources are invisible from another, as on AWS.
        account_id: the 12-digit account in ARNs (default ``$FACELENS_ACCOUNT_ID`` or 000000000000).
        job_runner: ``"local"`` (threads in this process) or ``"ray"`` (``$FACELENS_JOB_RUNNER``; the cluster by
            ``ray_address`` or Ray's ``RAY_ADDRESS``, else a local Ray).
        precision: "int8" (default, or ``$FACELENS_PRECISION``): the networks whose int8 versions hold their
            accuracy run in int8; "fp32": every network in fp32; "int8-all": every int8 file, also those that
            lose some accuracy (README "Int8 networks").
        providers: onnxruntime execution providers, e.g. ``["CUDAExecutionProvider"]`` (default
            ``$FACELENS_PROVIDERS`` or the CPU alone; only the CPU is tested).
        settings: a ``facelens.Settings`` to use as it is (the other arguments must then be left out).
    """

    def __init__(self, home: Optional[str] = None, threads: Optional[int] = None,
                 detector_max_side: Optional[int] = None, video_sample_fps: Optional[float] = None,
                 video_workers: Optional[int] = None, video_runner: Optional[JobRunner] = None, database_url: Optional[str] = None,
                 object_store: Optional[str] = None, region_name: Optional[str] = None,
                 account_id: Optional[str] = None, precision: Optional[str] = None,
                 providers: Optional[Sequence[str]] = None, settings: Optional[Settings] = None,
                 **options: Any) -> None:
        if settings is None:
            settings = Settings.from_env(home=home, threads=threads, detector_max_side=detector_max_side,
                                         video_sample_fps=video_sample_fps, video_workers=video_workers,
                                         database_url=database_url, object_store=object_store,
                                         region_name=region_name, account_id=account_id, precision=precision,
                                         providers=providers, **options)
        self.settings = settings
        self.runtime = Runtime(settings, video_runner=video_runner)
        self.home = settings.home
        self.region = settings.region
        self.exceptions = Exceptions()

    def for_region(self, region: str) -> Client:
        """The same client (models, database, jobs) acting in another region; the HTTP endpoint uses it for each
        request's signed region."""
        if region == self.region:
            return self
        if not REGION_PATTERN.fullmatch(region):
            raise ValueError(f"not a region name: {region!r}")
        other = copy.copy(self)
        other.region = region
        return other

    # -- the runtime's parts, for facelens-only helpers and tests ---------------------------------------------
    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def store(self) -> Union[ObjectStore, S3ObjectStore]:
        """The object store ``S3Object`` is read from (``put(bucket, name, data)`` stores an object)."""
        return self.runtime.objects

    @property
    def collections(self) -> Collections:
        return self.runtime.collections(self.region)

    @property
    def video(self) -> VideoJobs:
        return self.runtime.video(self.region)

    @property
    def celebrities(self) -> CelebrityGallery:
        """The celebrity gallery: ``add(name, image=..., images=[...], urls=[...], known_gender=...) -> Id``,
        ``add_images(id, images)``, ``remove(id)``, ``list()``, ``get(id)``, ``match(descriptors)``
        (see ``facelens.celebrities.gallery.CelebrityGallery``)."""
        return self.runtime.celebrities(self.region)

    def _call(self, operation: str, fn: Callable[[Dict[str, Any]], Dict[str, Any]],
              params: Dict[str, Any]) -> Dict[str, Any]:
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
        image = self.runtime.load_image(request["Image"])
        faces = self.engine.analyze(image, want_eyes="EYE_DIRECTION" in attributes, attributes=attributes)
        height, width = image.rgb.shape[:2]
        return response.detect_faces(faces, width, height, attributes)

    def can_paginate(self, operation_name: str) -> bool:
        from .pagination import PAGINATED

        return operation_name in PAGINATED

    def get_paginator(self, operation_name: str) -> Paginator:
        """boto3's paginators for the list operations: ``get_paginator("list_faces").paginate(CollectionId=...)``."""
        from .pagination import PAGINATED, Paginator

        if operation_name not in PAGINATED:
            raise ValueError(f"Operation cannot be paginated: {operation_name}")
        return Paginator(getattr(self, operation_name), operation_name)

    def close(self) -> None:
        """Stops this client's video jobs (FAILED) and releases its database connections."""
        self.runtime.close()

    # -- face collections -------------------------------------------------------------------------------------
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

    def _create_collection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        info = self.collections.create(request["CollectionId"], request.get("Tags"))
        return response.create_collection(info, self.settings.account_id)

    def _delete_collection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        self.collections.delete(request["CollectionId"])
        return response.delete_collection()

    def _describe_collection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        info = self.collections.describe(request["CollectionId"])
        return response.describe_collection(info, self.settings.account_id)

    def _list_collections(self, request: Dict[str, Any]) -> Dict[str, Any]:
        page = self.collections.list(request)
        return response.list_collections([(c.name, c.face_model_version) for c in page.items], page.next_token)

    def _index_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return response.index_faces(self.collections.index_faces(request))

    def _list_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        info, page = self.collections.list_faces(request)
        return response.list_faces(page.items, page.next_token, info.face_model_version)

    def _delete_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return response.delete_faces(*self.collections.delete_faces(request))

    def _search_faces(self, request: Dict[str, Any]) -> Dict[str, Any]:
        info, matches = self.collections.search_faces(request)
        return response.search_faces(request["FaceId"], matches, info.face_model_version)

    def _search_faces_by_image(self, request: Dict[str, Any]) -> Dict[str, Any]:
        found = self.collections.search_faces_by_image(request)
        return response.search_faces_by_image(found.face, found.width, found.height, found.matches,
                                              found.info.face_model_version)

    # -- users (face vectors grouped into a person) and tags ---------------------------------------------------
    def create_user(self, **kwargs: Any) -> Dict[str, Any]:
        """CreateUser: a user (UserStatus CREATED until faces are associated); ConflictException if it exists."""
        return self._call("CreateUser", _no_result(lambda r: self.collections.create_user(r)), kwargs)

    def delete_user(self, **kwargs: Any) -> Dict[str, Any]:
        """DeleteUser: the user goes; its faces stay in the collection, associated with no one."""
        return self._call("DeleteUser", _no_result(lambda r: self.collections.delete_user(r)), kwargs)

    def list_users(self, **kwargs: Any) -> Dict[str, Any]:
        """ListUsers: users in creation order, paginated by MaxResults (default and maximum 500) and NextToken."""
        def run(request: Dict[str, Any]) -> Dict[str, Any]:
            page = self.collections.list_users(request)
            return response.list_users(page.items, page.next_token)

        return self._call("ListUsers", run, kwargs)

    def associate_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """AssociateFaces: faces of the collection given to a user (at most 100 a user); a user that already has
        faces takes only faces that match it at >= UserMatchThreshold (default 75)."""
        return self._call("AssociateFaces",
                          lambda r: response.associate_faces(*self.collections.associate_faces(r)), kwargs)

    def disassociate_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """DisassociateFaces: faces taken back from a user (they stay in the collection)."""
        return self._call("DisassociateFaces",
                          lambda r: response.disassociate_faces(*self.collections.disassociate_faces(r)), kwargs)

    def search_users(self, **kwargs: Any) -> Dict[str, Any]:
        """SearchUsers: users most similar to a face (FaceId) or to another user (UserId); a user scores the
        Similarity of its best-matching face."""
        def run(request: Dict[str, Any]) -> Dict[str, Any]:
            found = self.collections.search_users(request)
            return response.search_users(found, found.info.face_model_version)

        return self._call("SearchUsers", run, kwargs)

    def search_users_by_image(self, **kwargs: Any) -> Dict[str, Any]:
        """SearchUsersByImage: users most similar to the largest face of an image."""
        return self._call("SearchUsersByImage",
                          lambda r: response.search_users_by_image(self.collections.search_users_by_image(r)), kwargs)

    def tag_resource(self, **kwargs: Any) -> Dict[str, Any]:
        """TagResource: adds or replaces tags of a collection (ResourceArn as DescribeCollection gives it)."""
        return self._call("TagResource", _no_result(lambda r: self.collections.tag_resource(r)), kwargs)

    def untag_resource(self, **kwargs: Any) -> Dict[str, Any]:
        return self._call("UntagResource", _no_result(lambda r: self.collections.untag_resource(r)), kwargs)

    def list_tags_for_resource(self, **kwargs: Any) -> Dict[str, Any]:
        return self._call("ListTagsForResource", lambda r: response.list_tags(self.collections.list_tags(r)), kwargs)

    # -- CompareFaces -----------------------------------------------------------------------------------------
    def compare_faces(self, **kwargs: Any) -> Dict[str, Any]:
        """CompareFaces: the largest face of SourceImage against the 100 largest faces of TargetImage; FaceMatches
        (Similarity >= SimilarityThreshold, default 80) highest first and UnmatchedFaces (``services/compare.py``)."""
        from .services.compare import compare_faces

        return self._call("CompareFaces", lambda r: response.compare_faces(
            compare_faces(r, self.engine, self.runtime.load_image)), kwargs)

    # -- celebrities ------------------------------------------------------------------------------------------
    def recognize_celebrities(self, **kwargs: Any) -> Dict[str, Any]:
        """RecognizeCelebrities: the 64 largest faces of the image, each matched against the celebrity gallery;
        CelebrityFaces (MatchConfidence >= 80) and UnrecognizedFaces, largest first."""
        return self._call("RecognizeCelebrities", self._recognize_celebrities, kwargs)

    def get_celebrity_info(self, **kwargs: Any) -> Dict[str, Any]:
        """GetCelebrityInfo: Urls, Name and KnownGender of a gallery celebrity (ResourceNotFoundException if none)."""
        return self._call("GetCelebrityInfo", self._get_celebrity_info, kwargs)

    def _recognize_celebrities(self, request: Dict[str, Any]) -> Dict[str, Any]:
        from .celebrities import MAX_FACES

        image = self.runtime.load_image(request["Image"])
        faces = self.engine.analyze(image, attributes=response.COMPARED_FACE_ATTRIBUTES)[:MAX_FACES]
        found = self.celebrities.recognize_faces(image, faces)
        height, width = image.rgb.shape[:2]
        recognized = [(c, f, conf) for f, (c, conf) in zip(faces, found) if c is not None]
        unrecognized = [f for f, (c, _) in zip(faces, found) if c is None]
        return response.recognize_celebrities(recognized, unrecognized, width, height)

    def _get_celebrity_info(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return response.get_celebrity_info(self.celebrities.record(request["Id"]))

    # -- stored-video jobs ------------------------------------------------------------------------------------
    def start_face_detection(self, **kwargs: Any) -> Dict[str, Any]:
        """StartFaceDetection: starts a job that finds the faces in a stored video (Video.S3Object); returns
        its JobId at once. FaceAttributes DEFAULT | ALL (ALL includes EyeDirection and FaceOccluded)."""
        return self._call("StartFaceDetection", lambda r: self.video.start_face_detection(r), kwargs)

    def get_face_detection(self, **kwargs: Any) -> Dict[str, Any]:
        """GetFaceDetection: JobStatus, and once SUCCEEDED VideoMetadata and Faces[] ({Timestamp ms, Face}) in
        timestamp order, paginated by MaxResults (default and maximum 1000) and NextToken."""
        return self._call("GetFaceDetection", lambda r: response.video_job(*self.video.get("FaceDetection", r)), kwargs)

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
        return self._call("GetPersonTracking", lambda r: response.video_job(*self.video.get("PersonTracking", r)), kwargs)

    def start_face_search(self, **kwargs: Any) -> Dict[str, Any]:
        """StartFaceSearch: starts a job that searches a collection for the faces of the people in a stored
        video (FaceMatchThreshold, default 80); ResourceNotFoundException at once if the collection is missing."""
        return self._call("StartFaceSearch", lambda r: self.video.start_face_search(r), kwargs)

    def get_face_search(self, **kwargs: Any) -> Dict[str, Any]:
        """GetFaceSearch: Persons[] ({Timestamp, Person, FaceMatches}) for the faces that matched, SortBy
        TIMESTAMP (default) or INDEX."""
        return self._call("GetFaceSearch", lambda r: response.video_job(*self.video.get("FaceSearch", r)), kwargs)

    def start_celebrity_recognition(self, **kwargs: Any) -> Dict[str, Any]:
        """StartCelebrityRecognition: starts a job that recognises the gallery's celebrities
        (``client.celebrities``) in a stored video."""
        return self._call("StartCelebrityRecognition", lambda r: self.video.start_celebrity_recognition(r), kwargs)

    def get_celebrity_recognition(self, **kwargs: Any) -> Dict[str, Any]:
        """GetCelebrityRecognition: Celebrities[] ({Timestamp, Celebrity}), SortBy TIMESTAMP (default) or ID."""
        return self._call("GetCelebrityRecognition", lambda r: response.video_job(*self.video.get("CelebrityRecognition", r)), kwargs)


def _no_result(call: Callable[[Dict[str, Any]], Any]) -> Callable[[Dict[str, Any]], Dict[str, Any]]:
    """An operation whose response has no members (CreateUser, TagResource, ...)."""
    def run(request: Dict[str, Any]) -> Dict[str, Any]:
        call(request)
        return {}

    return run
