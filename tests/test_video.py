"""Stored-video face detection jobs: StartFaceDetection / GetFaceDetection on the clips of
../shared/data/videos, the job system (idempotency, JobTag, NotificationChannel, progress, durability across
clients and processes, failures) and pagination. Jobs sample 2 frames per second to keep the module fast."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from facelens.errors import (
    IdempotentParameterMismatchException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    InvalidS3ObjectException,
    ParamValidationError,
    ResourceNotFoundException,
)
from facelens.video import reader
from tests.support.data import data_path
from tests.support.endpoint import boto

av = pytest.importorskip("av")

pytestmark = pytest.mark.data

FPS = 2.0
BUCKET = "videos"
SINGLE = "pyfeat_single_face.mp4"  # 1 face, 640x360, 30 fps, 72 frames
NO_FACE = "pyfeat_no_face.mp4"  # no face, 960x540
FACE_NOFACE = "pyfeat_face_noface.mov"  # a face for the first ~1/3, then none (HEVC)


@pytest.fixture(scope="module")
def vc(client, backend):
    """A client on the session's home sampling at FPS, sharing the session's loaded models."""
    c = backend.client(home=str(client.home), video_sample_fps=FPS)
    c.runtime.use_engine(client.engine)
    for name in (SINGLE, NO_FACE, FACE_NOFACE):
        c.store.put(BUCKET, name, data_path(f"videos/{name}").read_bytes())
    yield c
    c.close()


def _video(name):
    return {"S3Object": {"Bucket": BUCKET, "Name": name}}


def _run(vc, name, **kwargs):
    job = vc.start_face_detection(Video=_video(name), **kwargs)["JobId"]
    assert vc.wait_for_video_job(job, timeout=120) in ("SUCCEEDED", "FAILED")
    return job


@pytest.fixture(scope="module")
def single(vc):
    return _run(vc, SINGLE, JobTag="single-face")


def _strip(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def _file_metadata(path: Path):
    """VideoMetadata computed straight from the container with PyAV, independently of facelens.video."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return {
            "Codec": s.codec_context.name,
            "DurationMillis": round(float(s.duration * s.time_base) * 1000),
            "Format": c.format.long_name,
            "FrameRate": round(float(s.average_rate), 3),
            "FrameHeight": s.codec_context.height,
            "FrameWidth": s.codec_context.width,
            "ColorRange": "FULL" if s.codec_context.color_range == 2 else "LIMITED",
            "frames": s.frames,
        }


def test_single_face_found_in_every_sampled_frame(vc, single):
    resp = vc.get_face_detection(JobId=single)
    assert resp["JobStatus"] == "SUCCEEDED" and resp["JobId"] == single and resp["JobTag"] == "single-face"
    assert resp["Video"] == _video(SINGLE)
    assert "NextToken" not in resp
    meta = _file_metadata(data_path(f"videos/{SINGLE}"))
    frames = meta.pop("frames")
    assert resp["VideoMetadata"] == meta
    assert meta["FrameWidth"] == 640 and meta["FrameHeight"] == 360 and meta["DurationMillis"] == 2400
    stamps = [f["Timestamp"] for f in resp["Faces"]]
    assert stamps == sorted(stamps)
    expected = math.ceil(meta["DurationMillis"] / 1000 * FPS)  # one analysed frame per 1/FPS s
    assert sorted(set(stamps)) == [round(k * 1000 / FPS) for k in range(expected)]
    assert len(stamps) == expected  # exactly one face per frame
    for f in resp["Faces"]:
        face = f["Face"]
        assert set(face) == {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}
        assert face["Confidence"] > 90 and 0.2 < face["BoundingBox"]["Width"] < 0.6
    assert frames == 72
    p = vc.video_job_progress(single)
    assert p == {"JobId": single, "JobStatus": "SUCCEEDED", "FramesDone": expected, "FramesTotal": expected,
                 "Percent": 100.0}


def test_no_face_clip(vc):
    job = _run(vc, NO_FACE)
    resp = vc.get_face_detection(JobId=job)
    assert resp["JobStatus"] == "SUCCEEDED" and resp["Faces"] == []
    meta = _file_metadata(data_path(f"videos/{NO_FACE}"))
    meta.pop("frames")
    assert resp["VideoMetadata"] == meta and meta["FrameWidth"] == 960


def test_face_only_in_the_face_span(vc):
    job = _run(vc, FACE_NOFACE)
    resp = vc.get_face_detection(JobId=job)
    duration = resp["VideoMetadata"]["DurationMillis"]
    assert resp["VideoMetadata"]["Codec"] == "hevc"
    stamps = sorted({f["Timestamp"] for f in resp["Faces"]})
    assert stamps and stamps[0] == 0
    assert len(stamps) >= 3  # the face span is about 2 s: 2 frames/s
    assert max(stamps) < 0.45 * duration  # nothing in the two thirds without a face
    assert vc.video_job_progress(job)["FramesDone"] >= int(duration / 1000 * FPS)


def test_all_attributes_include_eye_direction(vc):
    job = _run(vc, SINGLE, FaceAttributes="ALL")
    face = vc.get_face_detection(JobId=job, MaxResults=1)["Faces"][0]["Face"]
    for key in ("AgeRange", "Smile", "Gender", "Emotions", "EyesOpen", "FaceOccluded", "EyeDirection"):
        assert key in face, key
    assert len(face["Landmarks"]) > 5


def test_pagination_walks_everything_stably(vc, single):
    full = vc.get_face_detection(JobId=single)["Faces"]
    assert len(full) >= 4

    def walk(first_token=None):
        pages, token = [], first_token
        while True:
            kwargs = {"JobId": single, "MaxResults": 2}
            if token is not None:
                kwargs["NextToken"] = token
            page = vc.get_face_detection(**kwargs)
            pages.append(page)
            assert page["VideoMetadata"] == pages[0]["VideoMetadata"]  # on every page
            token = page.get("NextToken")
            if not token:
                return pages

    pages = walk(first_token="")  # NextToken="" on the first call is a first call
    assert [len(p["Faces"]) for p in pages[:-1]] == [2] * (len(pages) - 1)
    assert "NextToken" not in pages[-1]
    assert [f for p in pages for f in p["Faces"]] == full
    again = walk()
    assert [_strip(p) for p in again] == [_strip(p) for p in pages]
    # a token can be replayed and gives the same page
    assert _strip(vc.get_face_detection(JobId=single, MaxResults=2, NextToken=pages[0]["NextToken"])) == _strip(pages[1])
    # MaxResults above 1000 is served (capped), not refused
    assert vc.get_face_detection(JobId=single, MaxResults=5000)["Faces"] == full
    assert vc.can_paginate("get_face_detection")
    merged = vc.get_paginator("get_face_detection").paginate(
        JobId=single, PaginationConfig={"PageSize": 3}).build_full_result()
    assert merged["Faces"] == full


def test_forged_and_foreign_tokens(vc, single):
    token = vc.get_face_detection(JobId=single, MaxResults=1)["NextToken"]
    after, mac = token.split(".")
    for bad in (f"{int(after) + 1}.{mac}", token[:-1], "garbage", f"{after}.{'A' * 22}"):
        with pytest.raises(InvalidPaginationTokenException):
            vc.get_face_detection(JobId=single, NextToken=bad)
    other = _run(vc, SINGLE, ClientRequestToken="foreign-token-job")
    with pytest.raises(InvalidPaginationTokenException):  # a token of one job is not valid for another
        vc.get_face_detection(JobId=other, NextToken=token)


def test_job_id_and_idempotency(vc):
    a = vc.start_face_detection(Video=_video(SINGLE), ClientRequestToken="tok-1", JobTag="t1")["JobId"]
    assert len(a) == 64 and all(ch in "0123456789abcdef" for ch in a)
    b = vc.start_face_detection(Video=_video(SINGLE), ClientRequestToken="tok-1", JobTag="t1")["JobId"]
    assert a == b
    with pytest.raises(IdempotentParameterMismatchException):
        vc.start_face_detection(Video=_video(SINGLE), ClientRequestToken="tok-1", JobTag="t2")
    with pytest.raises(IdempotentParameterMismatchException):
        vc.start_face_detection(Video=_video(NO_FACE), ClientRequestToken="tok-1", JobTag="t1")
    c = vc.start_face_detection(Video=_video(SINGLE), JobTag="t1")["JobId"]
    d = vc.start_face_detection(Video=_video(SINGLE), JobTag="t1")["JobId"]
    assert len({a, c, d}) == 3  # no token: a new job each time
    for job in (a, c, d):
        vc.wait_for_video_job(job, timeout=120)
    assert vc.get_face_detection(JobId=a, MaxResults=1)["JobTag"] == "t1"


def test_not_a_video_fails_the_job(vc, sample_bytes):
    vc.store.put(BUCKET, "notes.txt", b"this is not a video\n" * 50)
    vc.store.put(BUCKET, "photo.mp4", sample_bytes)  # a JPEG named like a video
    for name in ("notes.txt", "photo.mp4"):
        job = vc.start_face_detection(Video=_video(name))["JobId"]  # no exception at Start
        assert vc.wait_for_video_job(job, timeout=60) == "FAILED"
        resp = vc.get_face_detection(JobId=job)
        assert resp["JobStatus"] == "FAILED" and resp["StatusMessage"]
        assert "Faces" not in resp and "VideoMetadata" not in resp


def test_missing_object_and_bad_requests(vc):
    with pytest.raises(InvalidS3ObjectException):
        vc.start_face_detection(Video=_video("no-such-clip.mp4"))
    with pytest.raises(InvalidS3ObjectException):
        vc.start_face_detection(Video={"S3Object": {"Bucket": "no-such-bucket", "Name": SINGLE}})
    with pytest.raises(ParamValidationError):
        vc.start_face_detection()
    with pytest.raises(ParamValidationError):
        vc.start_face_detection(Video={"Bytes": b"x"})
    with pytest.raises(InvalidParameterException):
        vc.start_face_detection(Video=_video(SINGLE), FaceAttributes="SOME")
    with pytest.raises(InvalidParameterException):
        vc.start_face_detection(Video=_video(SINGLE), JobTag="spaces are not allowed")
    with pytest.raises(InvalidParameterException):
        vc.start_face_detection(Video=_video(SINGLE), NotificationChannel={"SNSTopicArn": "topic", "RoleArn": "role"})
    with pytest.raises(ParamValidationError):
        vc.start_face_detection(Video=_video(SINGLE), NotificationChannel={"SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:t"})
    with pytest.raises(ResourceNotFoundException):
        vc.get_face_detection(JobId="0" * 64)
    with pytest.raises(InvalidParameterException):
        vc.get_face_detection(JobId="not/a/job")
    with pytest.raises(InvalidParameterException):
        vc.get_face_detection(JobId="0" * 64, MaxResults=0)


def test_notification_channel_is_recorded(vc):
    channel = {"SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:facelens-done",
               "RoleArn": "arn:aws:iam::123456789012:role/rekognition"}
    job = _run(vc, SINGLE, NotificationChannel=channel, JobTag="notified")
    deadline = time.time() + 10
    path = Path(vc.home) / "sns" / "facelens-done.jsonl"
    while not path.exists() and time.time() < deadline:  # written right after the job's last row
        time.sleep(0.02)
    envelopes = [json.loads(line) for line in path.read_text().splitlines()]  # SNS's, Message a JSON string
    mine = [(e, json.loads(e["Message"])) for e in envelopes if json.loads(e["Message"])["JobId"] == job]
    assert mine and mine[0][0]["TopicArn"] == channel["SNSTopicArn"] and mine[0][0]["Type"] == "Notification"
    assert mine[0][1]["Status"] == "SUCCEEDED" and mine[0][1]["JobTag"] == "notified"
    assert mine[0][1]["API"] == "StartFaceDetection"


class _HeldRunner:
    """A JobRunner that runs a job only when the test says so: IN_PROGRESS can be observed."""

    def __init__(self):
        self.jobs = {}
        self.runtime = None

    def submit(self, spec):
        self.jobs[spec.job_id] = spec

    def release(self, job_id):
        from facelens.jobs import run_job

        run_job(self.jobs.pop(job_id), runtime=self.runtime, stop=threading.Event())

    def shutdown(self, wait=False):
        pass


def test_in_progress_then_succeeded_with_another_runner(vc, backend):
    runner = _HeldRunner()
    c = backend.client(home=str(vc.home), video_sample_fps=FPS, video_runner=runner)
    c.runtime.use_engine(vc.engine)
    runner.runtime = c.runtime
    job = c.start_face_detection(Video=_video(SINGLE), JobTag="held")["JobId"]
    resp = c.get_face_detection(JobId=job)
    assert resp["JobStatus"] == "IN_PROGRESS" and resp["JobTag"] == "held"
    assert "Faces" not in resp and "VideoMetadata" not in resp and "NextToken" not in resp
    assert c.video_job_progress(job)["FramesDone"] == 0
    runner.release(job)
    assert c.get_face_detection(JobId=job)["JobStatus"] == "SUCCEEDED"
    # a job its client never ran is FAILED when the client closes, never IN_PROGRESS for ever
    stuck = c.start_face_detection(Video=_video(SINGLE))["JobId"]
    c.close()
    resp = vc.get_face_detection(JobId=stuck)
    assert resp["JobStatus"] == "FAILED" and "stopped" in resp["StatusMessage"]


def test_finished_job_answered_by_a_new_client_and_a_new_process(vc, single, backend):
    before = _strip(vc.get_face_detection(JobId=single, MaxResults=3))
    other = backend.client(home=str(vc.home))
    assert _strip(other.get_face_detection(JobId=single, MaxResults=3)) == before
    other.close()
    code = (
        "import json, sys, facelens\n"
        "c = facelens.Client(home=sys.argv[1])\n"
        "r = c.get_face_detection(JobId=sys.argv[2], MaxResults=3)\n"
        "r.pop('ResponseMetadata')\n"
        "print(json.dumps(r))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(vc.home), single], capture_output=True, text=True,
                         timeout=60, env=backend.env(vc.home))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(before))
    # the next page, asked with the token the first process issued, in the second process
    code2 = code.replace("MaxResults=3)", "MaxResults=3, NextToken=sys.argv[3])")
    out = subprocess.run([sys.executable, "-c", code2, str(vc.home), single, before["NextToken"]],
                         capture_output=True, text=True, timeout=60, env=backend.env(vc.home))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Faces"] == _strip(vc.get_face_detection(
        JobId=single, MaxResults=3, NextToken=before["NextToken"]))["Faces"]


def test_sampling_rule():
    ts = [t for t, _ in reader.sample_frames(data_path(f"videos/{SINGLE}"), 5.0)]
    assert ts == [round(k * 200) for k in range(12)]  # 30 fps, 5 per second: every 6th frame
    info = reader.probe(data_path(f"videos/{SINGLE}"))
    assert info.planned_frames(5.0) == 12 and info.planned_frames(100.0) == 72


def test_boto3_against_the_endpoint(vc, serve):
    with serve(vc) as endpoint:
        rek = boto(endpoint.url)
        raw = []
        rek.meta.events.register("after-call.rekognition.GetFaceDetection",
                                 lambda http_response, parsed, **kw: raw.append((json.loads(http_response.content),
                                                                                 parsed)))
        job = rek.start_face_detection(Video=_video(SINGLE), JobTag="boto3", FaceAttributes="ALL")["JobId"]
        while True:
            resp = rek.get_face_detection(JobId=job, MaxResults=2)
            if resp["JobStatus"] != "IN_PROGRESS":
                break
            time.sleep(0.05)
        assert resp["JobStatus"] == "SUCCEEDED" and resp["JobTag"] == "boto3"
        assert resp["VideoMetadata"]["FrameWidth"] == 640 and resp["NextToken"]
        faces, token = list(resp["Faces"]), resp["NextToken"]
        while token:  # botocore has no paginator for GetFaceDetection: the usual NextToken loop
            page = rek.get_face_detection(JobId=job, MaxResults=2, NextToken=token)
            faces += page["Faces"]
            token = page.get("NextToken")
        assert faces == vc.get_face_detection(JobId=job)["Faces"]
        body, parsed = raw[-2]  # a full page: every key of the JSON must survive botocore's parser
        assert set(body) <= set(parsed) and set(body["VideoMetadata"]) == set(parsed["VideoMetadata"])
        assert set(body["Faces"][0]["Face"]) == set(parsed["Faces"][0]["Face"])
        assert "EyeDirection" in parsed["Faces"][0]["Face"]
        with pytest.raises(rek.exceptions.InvalidS3ObjectException):
            rek.start_face_detection(Video=_video("missing.mp4"))
        with pytest.raises(rek.exceptions.InvalidPaginationTokenException):
            rek.get_face_detection(JobId=job, NextToken="1.AAAAAAAAAAAAAAAAAAAAAA")


def test_results_written_in_batches_read_back_whole(vc, single, monkeypatch):
    from facelens.video import service

    monkeypatch.setattr(service, "RESULT_BATCH", 2)
    job = _run(vc, SINGLE)
    assert _strip(vc.get_face_detection(JobId=job))["Faces"] == vc.get_face_detection(JobId=single)["Faces"]


_DIES_HOLDING_A_JOB = (
    "import os, sys, facelens\n"
    "class Never:\n"
    "    def submit(self, spec): pass\n"
    "    def shutdown(self, wait=False): pass\n"
    "c = facelens.Client(home=sys.argv[1], video_runner=Never(), video_sample_fps=2, job_lease_s=1)\n"
    "job = c.start_face_detection(Video={'S3Object': {'Bucket': sys.argv[2], 'Name': sys.argv[3]}})['JobId']\n"
    "for _ in range(int(sys.argv[4])):\n"  # claimed by a worker of this process that then dies with it
    "    c.video.store.claim(job, c.video.owner, 1)\n"
    "print(job, flush=True)\n"
    "os._exit(0)\n"  # dies without closing its client: the job row stays IN_PROGRESS, its lease runs out
)


@pytest.mark.parametrize("claims", [0, 1, 2])
def test_job_of_a_process_that_died_runs_again_once_then_fails(vc, backend, claims):
    """A job whose holder died (queued there, or claimed by a worker there) is run again by the next server that
    looks at it once its lease lapses; after two runs lost it is FAILED, never IN_PROGRESS for ever."""
    out = subprocess.run([sys.executable, "-c", _DIES_HOLDING_A_JOB, str(vc.home), BUCKET, SINGLE, str(claims)],
                         capture_output=True, text=True, timeout=60, env=backend.env(vc.home))
    assert out.returncode == 0, out.stderr
    job = out.stdout.strip()
    c = backend.client(home=str(vc.home), video_sample_fps=FPS, job_lease_s=1)
    c.runtime.use_engine(vc.engine)
    try:
        assert c.get_face_detection(JobId=job)["JobStatus"] == "IN_PROGRESS"  # the lease has not run out yet
        time.sleep(1.2)
        if claims < 2:
            assert c.wait_for_video_job(job, timeout=120) == "SUCCEEDED"
            assert c.video.store.get(job).attempts == claims + 1
        else:
            resp = c.get_face_detection(JobId=job)
            assert resp["JobStatus"] == "FAILED" and "stopped before it finished" in resp["StatusMessage"]
    finally:
        c.close()


def test_concurrent_starts_with_one_token_make_one_job(vc, backend):
    from concurrent.futures import ThreadPoolExecutor

    c = backend.client(home=str(vc.home), video_sample_fps=FPS, video_workers=2)
    c.runtime.use_engine(vc.engine)
    try:
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda _: c.start_face_detection(Video=_video(SINGLE), ClientRequestToken="race-1")
                                ["JobId"], range(8)))
            others = list(pool.map(lambda n: c.start_face_detection(Video=_video(n))["JobId"], [SINGLE, NO_FACE]))
        assert len(set(ids)) == 1
        for job in ids[:1] + others:  # two workers: the jobs run side by side and all succeed
            assert c.wait_for_video_job(job, timeout=120) == "SUCCEEDED"
    finally:
        c.close()
