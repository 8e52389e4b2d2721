"""``VideoJobs``: Start*/Get* of the four stored-video job types on top of the job store and a job runner.

Start validates the request, looks ``Video.S3Object`` up in the object store (a missing object is
InvalidS3ObjectException at once, one over the size limit VideoTooLargeException), applies ClientRequestToken
idempotency, records the job IN_PROGRESS and hands its ``JobSpec`` to the runner (this process's threads, or Ray);
it returns the 64-hex-character JobId at once. ``execute`` (what ``jobs.run_job`` calls, wherever it runs) claims the
job's lease, reads the video (a remote object is streamed to a temporary file first), decodes it (a file that is
not a decodable video makes the job FAILED with a StatusMessage), runs the job type's task (``tasks.py``: face
detection, person tracking, face search, celebrity recognition) on every sampled frame and stores VideoMetadata and
every result in one transaction with SUCCEEDED. Get* pages through the results in timestamp order or, with SortBy,
by person index or celebrity Id.

Leases: a job is held by its submitter while queued ("queued:<process>") and by its worker while running; both
renew it (a heartbeat every third of ``lease_s``, and every progress write). Get* and progress look at it: a lapsed
lease (the process or host is gone) makes this server take the job and run it again on its own runner, once; a
job whose second run lapses too is FAILED with the reason.

Notifications: NotificationChannel is validated and recorded with the job. When a job with a channel finishes,
Rekognition's completion message ({JobId, Status, API, JobTag, Timestamp, Video}) goes out in SNS's envelope
(``notify.py``): appended as one JSON line to ``<notifications>/<topic name>.jsonl`` (``$FACELENS_HOME/sns``) and
POSTed to the topic's webhook, if one is configured (``Settings.notification_webhooks``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from .. import contract, images
from ..errors import (
    ClientError,
    IdempotentParameterMismatchException,
    ResourceNotFoundException,
    VideoTooLargeException,
)
from ..jobs import JobSpec, worker_name
from ..jobs.local import JobRunner
from ..pagination import Tokens
from ..storage.jobs import JobRow, JobStore
from . import reader, tasks
from .notify import Notifier

if TYPE_CHECKING:
    from ..celebrities import CelebrityGallery
    from ..objects.local import ObjectStore
    from ..objects.s3 import S3ObjectStore
    from ..pipeline import Engine
    from ..services.collections import Collections

log = logging.getLogger("facelens.video")

MAX_RESULTS = 1000  # Get* MaxResults: the default and the most one page holds
ITEMS_KEY = {"FaceDetection": "Faces", "PersonTracking": "Persons", "FaceSearch": "Persons",
             "CelebrityRecognition": "Celebrities"}  # the member of Get<operation>'s response holding the results
RESULT_BATCH = 500  # results are written to the database in batches of about this many while a job runs
PROGRESS_WRITE_S = 0.5  # progress reaches the database (other processes) at most this often

class JobPage(NamedTuple):
    row: JobRow
    items_key: str  # the member of the response holding the items
    items: List[Dict[str, Any]]
    next_token: Optional[str]


MAX_ATTEMPTS = 2  # runs of a job: the first and one more after its worker was lost
OPERATIONS = ("FaceDetection", "PersonTracking", "FaceSearch", "CelebrityRecognition")


def _params_hash(request: Dict[str, Any]) -> str:
    rest = {k: v for k, v in request.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()


class VideoJobs:
    """The video jobs of one region. ``collections()`` and ``gallery()`` return that region's collections service
    and celebrity gallery (for face search and celebrity recognition)."""

    def __init__(self, store: JobStore, object_store: Union[ObjectStore, S3ObjectStore], engine: Callable[[], Engine],
                 tokens: Tokens,
                 sample_fps: float = reader.DEFAULT_SAMPLE_FPS, runner: Optional[JobRunner] = None,
                 notifications: Union[Path, Notifier, None] = None,
                 collections: Optional[Callable[[], Collections]] = None,
                 gallery: Optional[Callable[[], CelebrityGallery]] = None, lease_s: float = 30.0) -> None:
        if not sample_fps > 0:
            raise ValueError("video_sample_fps must be > 0")
        self.store = store
        self.objects = object_store
        self._engine = engine
        self.tokens = tokens
        self.sample_fps = float(sample_fps)
        if notifications is not None and not isinstance(notifications, Notifier):
            notifications = Notifier(Path(notifications))
        self.notifier: Optional[Notifier] = notifications
        self.runner = runner
        self._collections = collections
        self._gallery = gallery
        self.lease_s = float(lease_s)
        self.owner = worker_name()
        self._queued = "queued:" + self.owner
        self._progress: Dict[str, tuple] = {}
        self._held: Dict[str, str] = {}  # job id -> the lease name this process holds it under
        self._lock = threading.Lock()
        self._heartbeat: Optional[threading.Thread] = None
        self._closed = threading.Event()

    # -- Start ------------------------------------------------------------------------------------------------
    def _check_video(self, video: Dict[str, Any]) -> Mapping[str, Any]:
        s3object = contract.video_source(video)
        size = self.objects.size(s3object)
        if size > reader.MAX_VIDEO_BYTES:
            raise VideoTooLargeException(f"The video is {size} bytes; the maximum is {reader.MAX_VIDEO_BYTES} bytes.")
        return s3object

    def start(self, operation: str, request: Dict[str, Any]) -> Dict[str, Any]:
        """Start<operation>: records the job and hands it to the runner."""
        self._check_video(request["Video"])
        if operation == "FaceSearch":
            assert self._collections is not None, "face search needs the collections service"
            self._collections().describe(request["CollectionId"])  # ResourceNotFoundException at Start, as AWS
        channel = request.get("NotificationChannel")
        if channel is not None:
            channel = contract.notification_channel(channel)
        token = request.get("ClientRequestToken")
        wanted = _params_hash(request)
        row, created = self.store.create(
            secrets.token_hex(32), operation, token, wanted, request, request.get("JobTag"), channel, 0,
            self.sample_fps,
        )
        if not created:
            if row.params_hash != wanted:
                raise IdempotentParameterMismatchException(
                    "ClientRequestToken was used with different parameters in a previous request."
                )
            return {"JobId": row.job_id}
        self._submit(JobSpec.from_row(row))
        return {"JobId": row.job_id}

    def _submit(self, spec: JobSpec) -> None:
        """Holds the job as queued here (renewed until a worker claims it) and gives it to the runner."""
        self.store.lease(spec.job_id, self._queued, self.lease_s)
        self._hold(spec.job_id, self._queued)
        try:
            assert self.runner is not None, "no job runner"
            self.runner.submit(spec)
        except Exception as e:
            self._release(spec.job_id)
            self.store.fail(spec.job_id, f"The job could not be queued: {e}")

    # -- holding leases -----------------------------------------------------------------------------------------
    def _hold(self, job_id: str, name: str) -> None:
        with self._lock:
            self._held[job_id] = name
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat = threading.Thread(target=self._beat, name="facelens-job-leases", daemon=True)
                self._heartbeat.start()

    def _release(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)
            self._progress.pop(job_id, None)

    def _beat(self) -> None:
        """Renews the leases this process holds, every third of the lease, until none is left."""
        while not self._closed.wait(self.lease_s / 3):
            with self._lock:
                held = dict(self._held)
            if not held:
                with self._lock:
                    if not self._held:
                        self._heartbeat = None
                        return
                continue
            by_name: Dict[str, List[str]] = {}
            for job_id, name in held.items():
                by_name.setdefault(name, []).append(job_id)
            for name, job_ids in by_name.items():
                try:
                    self.store.renew(name, job_ids, self.lease_s)
                except Exception:  # the database is away: the next beat tries again
                    pass

    # -- the work of a job (wherever the runner calls it) ------------------------------------------------------
    def execute(self, spec: JobSpec, stop: Optional[threading.Event] = None) -> str:
        """Claims the job and runs it to its end here; its final status, or "SKIPPED" if another worker holds it
        or it is no longer IN_PROGRESS."""
        if not self.store.claim(spec.job_id, self.owner, self.lease_s):
            self._release(spec.job_id)
            return "SKIPPED"
        self._hold(spec.job_id, self.owner)
        with self._lock:
            self._progress[spec.job_id] = (0, 0, 0.0)
        stop = stop or threading.Event()
        try:
            self._frames(spec, stop, self._task(spec))
        finally:
            self._release(spec.job_id)
            self._notify(spec.job_id)
        row = self.store.get(spec.job_id)
        return row.status if row is not None else "SKIPPED"

    def _task(self, spec: JobSpec) -> tasks.Task:
        request = spec.request
        if spec.operation == "FaceDetection":
            return tasks.make_face_detection(self._engine, request)
        if spec.operation == "PersonTracking":
            return tasks.make_person_tracking(self._engine, request)
        if spec.operation == "FaceSearch":
            assert self._collections is not None, "face search needs the collections service"
            collections = self._collections
            name = request["CollectionId"]
            return tasks.make_face_search(self._engine, request,
                                          lambda v, t: collections().matches(name, v, t))
        assert self._gallery is not None, "celebrity recognition needs the gallery"
        return tasks.make_celebrity_recognition(self._engine, request, self._gallery)

    def _notify(self, job_id: str) -> None:
        row = self.store.get(job_id)
        if row is None or not row.notification or self.notifier is None:
            return
        s3 = row.request["Video"]["S3Object"]
        message = {
            "JobId": job_id, "Status": row.status, "API": "Start" + row.operation, "JobTag": row.job_tag,
            "Timestamp": int((row.finished or time.time()) * 1000),
            "Video": {"S3ObjectName": s3.get("Name"), "S3Bucket": s3.get("Bucket")},
        }
        try:
            self.notifier.publish(row.notification["SNSTopicArn"], message)
        except Exception as e:  # the job is done whatever becomes of its message
            log.warning("notification of job %s failed: %s", job_id, e)

    # -- the work of a job ------------------------------------------------------------------------------------
    def _frames(self, spec: JobSpec, stop: threading.Event, analyse: tasks.Task) -> None:
        """Runs ``analyse(timestamp_ms, DecodedImage) -> [items]`` over the sampled frames; stores the outcome."""
        job_id, owner = spec.job_id, self.owner
        try:
            s3object = contract.video_source(spec.request["Video"])
            with self.objects.local_file(s3object, reader.MAX_VIDEO_BYTES, VideoTooLargeException) as path:
                self._frames_of(spec, path, stop, analyse)
        except reader.NotAVideo as e:
            self.store.fail(job_id, str(e), owner=owner)
        except ClientError as e:  # e.g. the collection of a face search was deleted while the job ran
            self.store.fail(job_id, f"{e.code}: {e.message}", owner=owner)
        except Exception as e:  # a bug of ours: the job fails, the runner goes on
            self.store.fail(job_id, f"Internal error: {type(e).__name__}: {e}", owner=owner)

    def _frames_of(self, spec: JobSpec, path: Path, stop: threading.Event, analyse: tasks.Task) -> None:
        job_id, owner, fps = spec.job_id, self.owner, spec.sample_fps
        info = reader.probe(path)
        total = info.planned_frames(fps)
        self._set_progress(job_id, 0, total, force=True)
        items: List[Dict[str, Any]] = []
        done = 0
        stats: Dict[str, float] = {}
        seq = 1  # the number of the first item in ``items``
        for timestamp, rgb in reader.sample_frames(path, fps, stats):
            if stop.is_set():
                self.store.fail(job_id, "The job was stopped before it finished: its client was closed.", owner=owner)
                return
            items.extend(analyse(timestamp, images.from_array(rgb)))
            if len(items) >= RESULT_BATCH:
                self.store.add_results(job_id, seq, items, owner=owner)
                seq += len(items)
                items = []
            done += 1
            total = max(total, done)
            self._set_progress(job_id, done, total)
        metadata = info.metadata()
        if not metadata["DurationMillis"] and stats.get("end_ms"):  # raw streams: known once decoded
            metadata["DurationMillis"] = int(round(stats["end_ms"]))
        self.store.succeed(job_id, metadata, items, done, first_seq=seq, owner=owner)

    def _set_progress(self, job_id: str, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last_write = self._progress.get(job_id, (0, 0, 0.0))[2]
            write = force or now - last_write >= PROGRESS_WRITE_S
            self._progress[job_id] = (done, total, now if write else last_write)
        if write:
            self.store.progress(job_id, done, total, self.owner, self.lease_s)

    # -- Get --------------------------------------------------------------------------------------------------
    def job(self, job_id: str, operation: str) -> JobRow:
        row = self.store.get(job_id)
        if row is None or row.operation != operation:
            raise ResourceNotFoundException(f"Job {job_id} was not found.")
        if row.status == "IN_PROGRESS" and row.lease_expires is not None and row.lease_expires < time.time():
            self._lapsed(row)
            row = self.store.get(job_id)
            if row is None:
                raise ResourceNotFoundException(f"Job {job_id} was not found.")
        return row

    def _lapsed(self, row: JobRow) -> None:
        """The job's holder stopped renewing its lease: run it again here (once), or FAIL it."""
        again = self.store.take_lapsed(row.job_id, self._queued, self.lease_s, MAX_ATTEMPTS)
        if again is None:
            return
        if again:
            self._hold(row.job_id, self._queued)
            try:
                assert self.runner is not None, "no job runner"
                self.runner.submit(JobSpec.from_row(row))
            except Exception as e:
                self._release(row.job_id)
                self.store.fail(row.job_id, f"The job could not be queued again: {e}")
            return
        self.store.fail(row.job_id, f"The worker running the job stopped before it finished ({row.attempts} "
                                    f"attempts; last holder {row.lease_owner}).")
        self._notify(row.job_id)

    def get(self, operation: str, request: Dict[str, Any]) -> JobPage:
        """Get<operation> (FaceDetection, PersonTracking, FaceSearch, CelebrityRecognition): the job's row and one
        page of its results."""
        row = self.job(request["JobId"], operation)
        items, next_token = self.page(row, request)
        return JobPage(row, ITEMS_KEY[operation], items, next_token)

    def page(self, row: JobRow, request: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], Optional[str]]:
        """(items, NextToken or None) of a Get* request on a finished job."""
        limit = min(int(request.get("MaxResults") or MAX_RESULTS), MAX_RESULTS)
        sort_by = request.get("SortBy") or "TIMESTAMP"
        # A token pages through one order of one job: the scope names both (TIMESTAMP keeps the bare JobId).
        scope = row.job_id if sort_by == "TIMESTAMP" else f"{row.job_id}.{sort_by}"
        after = self.tokens.start(request.get("NextToken"), scope)
        if row.status != "SUCCEEDED":
            return [], None
        if sort_by == "TIMESTAMP":
            items, more = self.store.results(row.job_id, after, limit)
        else:
            items, more = self.store.results_by_key(row.job_id, after, limit)
        return items, self.tokens.next(scope, more)

    def progress(self, job_id: str) -> Dict[str, Any]:
        row = self.store.get(job_id)
        if row is None:
            raise ResourceNotFoundException(f"Job {job_id} was not found.")
        row = self.job(job_id, row.operation)
        done, total = row.frames_done, row.frames_total
        with self._lock:
            live = self._progress.get(job_id)
        if live is not None and row.status == "IN_PROGRESS":
            done, total = live[0], live[1]
        percent = 100.0 if row.status == "SUCCEEDED" else (100.0 * done / total if total else 0.0)
        return {"JobId": job_id, "JobStatus": row.status, "FramesDone": done, "FramesTotal": total,
                "Percent": round(percent, 1)}

    def wait(self, job_id: str, timeout: Optional[float] = None, poll: float = 0.05) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.progress(job_id)["JobStatus"]
            if status != "IN_PROGRESS":
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"video job {job_id} still IN_PROGRESS after {timeout} s")
            time.sleep(poll)

    def close(self) -> None:
        """Jobs this process holds (queued or running here) are FAILED; running ones stop at their next frame."""
        self._closed.set()
        if self.notifier is not None:
            self.notifier.close(wait=False)
        with self._lock:
            held = list(self._held.items())
            self._held.clear()
        for job_id, _ in held:
            self.store.fail(job_id, "The job was stopped before it finished: its client was closed.")

    # -- the four kinds of job (what each does with a frame: tasks.py) ------------------------------------------
    def start_face_detection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return self.start("FaceDetection", request)

    def start_person_tracking(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return self.start("PersonTracking", request)

    def start_face_search(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return self.start("FaceSearch", request)

    def start_celebrity_recognition(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return self.start("CelebrityRecognition", request)
