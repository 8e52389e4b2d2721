"""``VideoJobs``: Start*/Get* of the four stored-video job types on top of the job store and a job runner.

Start validates the request, looks ``Video.S3Object`` up in the object store (a missing object is
InvalidS3ObjectException at once, one over the size limit VideoTooLargeException), applies ClientRequestToken idempotency, records the job IN_PROGRESS and hands
its work to the runner; it returns the 64-hex-character JobId at once. The work reads the video (a remote object is
streamed to a temporary file first) and decodes it (a file that is not a decodable video makes the job FAILED with a StatusMessage), runs the job type's task (``tasks.py``: face
detection, person tracking, face search, celebrity recognition) on every sampled frame and stores VideoMetadata and
every result in one transaction with SUCCEEDED. Get* pages through the results in timestamp order or, with SortBy,
by person index or celebrity Id.

Notifications: NotificationChannel is validated and recorded with the job. When a job with a channel finishes,
Rekognition's completion message ({JobId, Status, API, JobTag, Timestamp, Video}) goes out in SNS's envelope
(``notify.py``): appended as one JSON line to ``<notifications>/<topic name>.jsonl`` (``$FACELENS_HOME/sns``) and
POSTed to the topic's webhook, if one is configured (``Settings.notification_webhooks``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Union

from .. import contract, images
from ..errors import (
    ClientError,
    IdempotentParameterMismatchException,
    ResourceNotFoundException,
    VideoTooLargeException,
)
from ..pagination import Tokens
from ..storage.jobs import JobStore
from . import reader, tasks
from .jobs import JobRunner, LocalJobRunner
from .notify import Notifier

log = logging.getLogger("facelens.video")

MAX_RESULTS = 1000  # Get* MaxResults: the default and the most one page holds
ITEMS_KEY = {"FaceDetection": "Faces", "PersonTracking": "Persons", "FaceSearch": "Persons",
             "CelebrityRecognition": "Celebrities"}  # the member of Get<operation>'s response holding the results
RESULT_BATCH = 500  # results are written to the database in batches of about this many while a job runs
PROGRESS_WRITE_S = 0.5  # progress reaches the database (other processes) at most this often

class JobPage(NamedTuple):
    row: Any  # storage.jobs.JobRow
    items_key: str  # the member of the response holding the items
    items: List[Dict[str, Any]]
    next_token: Optional[str]


_LIVE_JOBS: set = set()  # JobIds submitted to a runner in this process and not finished
_LIVE_LOCK = threading.Lock()


def _params_hash(request: Dict[str, Any]) -> str:
    rest = {k: v for k, v in request.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class VideoJobs:
    def __init__(self, store: JobStore, object_store, engine: Callable[[], Any], tokens: Tokens,
                 sample_fps: float = reader.DEFAULT_SAMPLE_FPS, runner: Optional[JobRunner] = None,
                 workers: int = 1, notifications: Union[None, Path, Notifier] = None) -> None:
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
        self.runner: JobRunner = runner if runner is not None else LocalJobRunner(workers)
        self._progress: Dict[str, tuple] = {}
        self._mine: set = set()
        self._lock = threading.Lock()

    # -- Start ------------------------------------------------------------------------------------------------
    def _check_video(self, video: Dict[str, Any]) -> Dict[str, Any]:
        s3object = contract.video_source(video)
        size = self.objects.size(s3object)
        if size > reader.MAX_VIDEO_BYTES:
            raise VideoTooLargeException(f"The video is {size} bytes; the maximum is {reader.MAX_VIDEO_BYTES} bytes.")
        return s3object

    def start(self, operation: str, request: Dict[str, Any], make_work) -> Dict[str, Any]:
        """Common Start*: ``make_work(job_id, s3object, request)`` returns the function the runner calls."""
        s3object = self._check_video(request["Video"])
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
        job_id = row.job_id
        with _LIVE_LOCK:
            _LIVE_JOBS.add(job_id)
        with self._lock:
            self._mine.add(job_id)
            self._progress[job_id] = (0, 0, 0.0)
        work = make_work(job_id, s3object, request)

        def run(stop: threading.Event) -> None:
            try:
                work(stop)
            finally:
                with _LIVE_LOCK:
                    _LIVE_JOBS.discard(job_id)
                with self._lock:
                    self._mine.discard(job_id)
                    self._progress.pop(job_id, None)
                self._notify(job_id)

        try:
            self.runner.submit(job_id, run)
        except Exception as e:
            with _LIVE_LOCK:
                _LIVE_JOBS.discard(job_id)
            self.store.fail(job_id, f"The job could not be queued: {e}")
        return {"JobId": job_id}

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
    def _frames(self, job_id: str, s3object: Dict[str, Any], stop: threading.Event, analyse) -> None:
        """Runs ``analyse(timestamp_ms, DecodedImage) -> [items]`` over the sampled frames; stores the outcome."""
        try:
            with self.objects.local_file(s3object, reader.MAX_VIDEO_BYTES, VideoTooLargeException) as path:
                self._frames_of(job_id, path, stop, analyse)
        except reader.NotAVideo as e:
            self.store.fail(job_id, str(e))
        except ClientError as e:  # e.g. the collection of a face search was deleted while the job ran
            self.store.fail(job_id, f"{e.code}: {e.message}")
        except Exception as e:  # a bug of ours: the job fails, the runner goes on
            self.store.fail(job_id, f"Internal error: {type(e).__name__}: {e}")

    def _frames_of(self, job_id: str, path: Path, stop: threading.Event, analyse) -> None:
        info = reader.probe(path)
        total = info.planned_frames(self.sample_fps)
        self._set_progress(job_id, 0, total, force=True)
        items: List[Dict[str, Any]] = []
        done = 0
        stats: Dict[str, float] = {}
        seq = 1  # the number of the first item in ``items``
        for timestamp, rgb in reader.sample_frames(path, self.sample_fps, stats):
            if stop.is_set():
                self.store.fail(job_id, "The job was stopped before it finished: its client was closed.")
                return
            items.extend(analyse(timestamp, images.from_array(rgb)))
            if len(items) >= RESULT_BATCH:
                self.store.add_results(job_id, seq, items)
                seq += len(items)
                items = []
            done += 1
            total = max(total, done)
            self._set_progress(job_id, done, total)
        metadata = info.metadata()
        if not metadata["DurationMillis"] and stats.get("end_ms"):  # raw streams: known once decoded
            metadata["DurationMillis"] = int(round(stats["end_ms"]))
        self.store.succeed(job_id, metadata, items, done, first_seq=seq)

    def _set_progress(self, job_id: str, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last_write = self._progress.get(job_id, (0, 0, 0.0))[2]
            write = force or now - last_write >= PROGRESS_WRITE_S
            self._progress[job_id] = (done, total, now if write else last_write)
        if write:
            self.store.progress(job_id, done, total)

    # -- Get --------------------------------------------------------------------------------------------------
    def job(self, job_id: str, operation: str):
        row = self.store.get(job_id)
        if row is None or row.operation != operation:
            raise ResourceNotFoundException(f"Job {job_id} was not found.")
        if row.status == "IN_PROGRESS" and self._orphaned(row):
            self.store.fail(job_id, f"The process that ran the job (pid {row.owner_pid}) ended before it finished.")
            row = self.store.get(job_id)
        return row

    def _orphaned(self, row) -> bool:
        if row.owner_host != socket.gethostname():
            return False
        if row.owner_pid == os.getpid():
            with _LIVE_LOCK:
                return row.job_id not in _LIVE_JOBS
        return not _pid_alive(row.owner_pid)

    def get(self, operation: str, request: Dict[str, Any]) -> JobPage:
        """Get<operation> (FaceDetection, PersonTracking, FaceSearch, CelebrityRecognition): the job's row and one
        page of its results."""
        row = self.job(request["JobId"], operation)
        items, next_token = self.page(row, request)
        return JobPage(row, ITEMS_KEY[operation], items, next_token)

    def page(self, row, request: Dict[str, Any]):
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
        self.runner.shutdown(wait=False)
        if self.notifier is not None:
            self.notifier.close(wait=False)
        with self._lock:
            mine = list(self._mine)
        for job_id in mine:  # queued jobs that will never run, and running ones (they stop at their next frame)
            self.store.fail(job_id, "The job was stopped before it finished: its client was closed.")
            with _LIVE_LOCK:
                _LIVE_JOBS.discard(job_id)

    # -- the four kinds of job (what each does with a frame: tasks.py) ------------------------------------------
    def _task_work(self, make_task):
        def make_work(job_id: str, s3object: Dict[str, Any], request: Dict[str, Any]):
            task = make_task(request)
            return lambda stop: self._frames(job_id, s3object, stop, task)

        return make_work

    def start_face_detection(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return self.start("FaceDetection", request,
                          self._task_work(lambda r: tasks.make_face_detection(self._engine, r)))

    def start_person_tracking(self, request: Dict[str, Any]) -> Dict[str, Any]:
        return self.start("PersonTracking", request,
                          self._task_work(lambda r: tasks.make_person_tracking(self._engine, r)))

    def start_face_search(self, request: Dict[str, Any], collection_exists: Callable[[str], None],
                          search: Callable[[str, Any, float], list]) -> Dict[str, Any]:
        """``collection_exists(id)`` raises ResourceNotFoundException for a missing collection (at Start, as
        Rekognition does); ``search(id, vector, threshold)`` returns the collection's matches."""
        name = request["CollectionId"]
        collection_exists(name)
        return self.start("FaceSearch", request, self._task_work(
            lambda r: tasks.make_face_search(self._engine, r, lambda v, t: search(name, v, t))))

    def start_celebrity_recognition(self, request: Dict[str, Any], gallery: Callable[[], Any]) -> Dict[str, Any]:
        return self.start("CelebrityRecognition", request, self._task_work(
            lambda r: tasks.make_celebrity_recognition(self._engine, r, gallery)))
