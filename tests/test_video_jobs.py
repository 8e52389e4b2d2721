"""Person tracking, face search and celebrity recognition in stored videos, on the real clips of
../shared/data/videos: people tracked with stable indexes, a person indexed from a photo found in a clip where
that person appears (and a stranger not), the celebrity gallery matched in a clip, SortBy orders, pagination and
the errors of Start*/Get*."""

from __future__ import annotations

import collections

import pytest

from facelens.errors import (
    IdempotentParameterMismatchException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    ResourceNotFoundException,
)
from facelens.video import tasks
from tests.support.cli import run_cli
from tests.support.data import data_path
from tests.support.endpoint import boto

av = pytest.importorskip("av")

FPS = 5.0
BUCKET = "clips"
CROWD = "dlib_MOT20-05-raw_even_shorter.mp4"  # crowded pedestrian scene from above, 826x540, 25 fps, 127 frames
SINGLE = "pyfeat_single_face.mp4"  # one man talking to the camera, 640x360, 30 fps, 72 frames
NO_FACE = "pyfeat_no_face.mp4"  # animated sky title, nobody
HAMILTON = "fr_short_hamilton_clip.mp4"  # Lin-Manuel Miranda on stage + audience shots, 640x360, 30 fps, 275 frames
MIRANDA = "images/fr_lin-manuel-miranda.png"  # a frame-like photo of Lin-Manuel Miranda
STRANGER = "images/fr_biden.jpg"  # Joe Biden: not in the clip


@pytest.fixture(scope="module")
def vc(client, tmp_path_factory, backend):
    """A client with its own home, sampling at FPS, sharing the session's loaded models."""
    c = backend.client(home=str(tmp_path_factory.mktemp("video-jobs")), video_sample_fps=FPS)
    c.runtime.use_engine(client.engine)
    for name in (CROWD, SINGLE, NO_FACE, HAMILTON):
        c.store.put(BUCKET, name, data_path(f"videos/{name}").read_bytes())
    yield c
    c.close()


def _video(name):
    return {"S3Object": {"Bucket": BUCKET, "Name": name}}


def _finish(vc, job_id):
    assert vc.wait_for_video_job(job_id, timeout=300) == "SUCCEEDED", vc.video_job_progress(job_id)
    return job_id


def _all(method, key, **params):
    """Every item of a Get* job, page by page, and the pages' VideoMetadata."""
    items, token, metadata = [], "", None
    while True:
        page = method(**params, NextToken=token) if token else method(**params)
        metadata = page["VideoMetadata"]
        items.extend(page[key])
        token = page.get("NextToken")
        if not token:
            return items, metadata


@pytest.fixture(scope="module")
def crowd(vc):
    return _finish(vc, vc.start_person_tracking(Video=_video(CROWD), JobTag="crowd")["JobId"])


@pytest.fixture(scope="module")
def single_person(vc):
    return _finish(vc, vc.start_person_tracking(Video=_video(SINGLE))["JobId"])


# -- person tracking ----------------------------------------------------------------------------------------------
@pytest.mark.data
def test_people_in_a_crowd_keep_their_index(vc, crowd):
    persons, metadata = _all(vc.get_person_tracking, "Persons", JobId=crowd)
    assert metadata["FrameWidth"] == 826 and metadata["FrameHeight"] == 540
    frames = sorted({p["Timestamp"] for p in persons})
    assert len(frames) >= 20  # 5 s of video at 5 frames/s: people in (nearly) every sampled frame
    per_frame = collections.Counter(p["Timestamp"] for p in persons)
    assert sorted(per_frame.values())[len(per_frame) // 2] >= 4  # a crowd: median people a frame (whole frame alone: ~2.7)
    by_index = collections.defaultdict(list)
    for p in persons:
        by_index[p["Person"]["Index"]].append(p["Timestamp"])
    # an index is one person in one frame at most, and people are followed over many frames: identity switches
    # would cut them into short tracks, so most detections belong to tracks of >= 1 s (5 sampled frames)
    assert all(len(ts) == len(set(ts)) for ts in by_index.values())
    long_tracks = [i for i, ts in by_index.items() if len(ts) >= 5]
    assert len(long_tracks) >= 5
    assert sum(len(by_index[i]) for i in long_tracks) >= 0.55 * len(persons)
    assert sorted(by_index) == list(range(len(by_index)))  # consecutive indexes from 0
    for p in persons:
        box = p["Person"]["BoundingBox"]
        assert 0 <= box["Left"] <= 1 and 0 <= box["Top"] <= 1 and 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1


@pytest.mark.data
def test_a_tracked_box_moves_smoothly(vc, crowd):
    """Between consecutive sampled frames (0.2 s) a walking person's box moves a little, never across the scene."""
    persons, _ = _all(vc.get_person_tracking, "Persons", JobId=crowd, SortBy="INDEX")
    by_index = collections.defaultdict(list)
    for p in persons:
        by_index[p["Person"]["Index"]].append((p["Timestamp"], p["Person"]["BoundingBox"]))
    jumps = []
    for track in by_index.values():
        track.sort(key=lambda t: t[0])
        for (t0, a), (t1, b) in zip(track, track[1:]):
            if t1 - t0 <= 250:
                cx0, cy0 = a["Left"] + a["Width"] / 2, a["Top"] + a["Height"] / 2
                cx1, cy1 = b["Left"] + b["Width"] / 2, b["Top"] + b["Height"] / 2
                jumps.append(((cx1 - cx0) ** 2 + (cy1 - cy0) ** 2) ** 0.5 / max(a["Height"], 1e-6))
    assert jumps
    jumps.sort()
    assert jumps[int(0.95 * (len(jumps) - 1))] < 0.5  # in units of the person's height


@pytest.mark.data
def test_sort_orders_hold_the_same_items(vc, crowd):
    by_time, _ = _all(vc.get_person_tracking, "Persons", JobId=crowd, MaxResults=37)
    by_index, _ = _all(vc.get_person_tracking, "Persons", JobId=crowd, SortBy="INDEX", MaxResults=41)
    key = lambda p: (p["Timestamp"], p["Person"]["Index"])  # noqa: E731
    assert sorted(map(key, by_time)) == sorted(map(key, by_index))
    assert [p["Timestamp"] for p in by_time] == sorted(p["Timestamp"] for p in by_time)
    assert [p["Person"]["Index"] for p in by_index] == sorted(p["Person"]["Index"] for p in by_index)


@pytest.mark.data
def test_paginator_walks_a_sorted_job(vc, crowd):
    """facelens' get_paginator covers the new Get* operations (botocore has none for them), SortBy included."""
    assert vc.can_paginate("get_person_tracking") and vc.can_paginate("get_celebrity_recognition")
    pages = list(vc.get_paginator("get_person_tracking").paginate(JobId=crowd, SortBy="INDEX",
                                                                   PaginationConfig={"PageSize": 25}))
    assert len(pages) > 1 and all(len(p["Persons"]) <= 25 for p in pages)
    walked = [x for p in pages for x in p["Persons"]]
    assert walked == _all(vc.get_person_tracking, "Persons", JobId=crowd, SortBy="INDEX")[0]


@pytest.mark.data
def test_token_of_one_order_is_refused_by_the_other(vc, crowd):
    page = vc.get_person_tracking(JobId=crowd, MaxResults=5)
    with pytest.raises(InvalidPaginationTokenException):
        vc.get_person_tracking(JobId=crowd, MaxResults=5, SortBy="INDEX", NextToken=page["NextToken"])
    with pytest.raises(InvalidParameterException):
        vc.get_person_tracking(JobId=crowd, SortBy="ID")
    with pytest.raises(ResourceNotFoundException):  # a PersonTracking job is not a FaceDetection job
        vc.get_face_detection(JobId=crowd)


@pytest.mark.data
def test_finished_jobs_answered_by_a_new_client(vc, crowd, backend):
    """Results are durable: another Client on the same home (a restarted process) pages through the same items."""
    again = backend.client(home=str(vc.home))
    try:
        for sort in ("TIMESTAMP", "INDEX"):
            assert (_all(again.get_person_tracking, "Persons", JobId=crowd, SortBy=sort, MaxResults=64)
                    == _all(vc.get_person_tracking, "Persons", JobId=crowd, SortBy=sort))
    finally:
        again.close()


@pytest.mark.data
def test_client_request_token_per_job_type(vc):
    token = "same-token-for-two-operations"
    first = vc.start_person_tracking(Video=_video(NO_FACE), ClientRequestToken=token)["JobId"]
    assert vc.start_person_tracking(Video=_video(NO_FACE), ClientRequestToken=token)["JobId"] == first
    with pytest.raises(IdempotentParameterMismatchException):
        vc.start_person_tracking(Video=_video(SINGLE), ClientRequestToken=token)
    # a token is scoped to its operation: the same token starts a different kind of job
    other = vc.start_celebrity_recognition(Video=_video(NO_FACE), ClientRequestToken=token)["JobId"]
    assert other != first
    for job in (first, other):
        _finish(vc, job)
    with pytest.raises(ResourceNotFoundException):
        vc.get_celebrity_recognition(JobId=first)


@pytest.mark.data
def test_one_person_with_a_face(vc, single_person):
    persons, _ = _all(vc.get_person_tracking, "Persons", JobId=single_person)
    assert len({p["Timestamp"] for p in persons}) >= 12  # 2.4 s at 5 frames/s
    counts = collections.Counter(p["Person"]["Index"] for p in persons)
    main, n = counts.most_common(1)[0]
    assert n >= 0.9 * len({p["Timestamp"] for p in persons})
    with_face = [p for p in persons if p["Person"]["Index"] == main and "Face" in p["Person"]]
    assert len(with_face) >= 0.8 * n
    face = with_face[0]["Person"]["Face"]
    assert {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"} <= set(face)
    pb, fb = with_face[0]["Person"]["BoundingBox"], face["BoundingBox"]
    assert pb["Left"] - 0.01 <= fb["Left"] and fb["Left"] + fb["Width"] <= pb["Left"] + pb["Width"] + 0.01


@pytest.mark.data
def test_nobody_in_the_sky(vc):
    job = _finish(vc, vc.start_person_tracking(Video=_video(NO_FACE))["JobId"])
    persons, _ = _all(vc.get_person_tracking, "Persons", JobId=job)
    assert persons == []


def test_faces_go_to_the_person_around_them():
    import numpy as np

    people = np.array([[0, 0, 100, 300], [200, 0, 300, 300]], np.float32)
    faces = [np.array([220, 10, 280, 70], np.float32),  # the top of the second person
             np.array([30, 200, 70, 240], np.float32),  # low inside the first: a hand or a bag, not its face
             np.array([400, 10, 450, 60], np.float32)]  # nobody around it
    assert tasks.assign_faces(people, faces) == [1, -1, -1]


# -- face search --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def collections_for_search(vc):
    vc.create_collection(CollectionId="miranda")
    rec = vc.index_faces(CollectionId="miranda", Image={"Bytes": data_path(MIRANDA).read_bytes()},
                         ExternalImageId="miranda", MaxFaces=1)
    vc.create_collection(CollectionId="stranger")
    vc.index_faces(CollectionId="stranger", Image={"Bytes": data_path(STRANGER).read_bytes()}, MaxFaces=1)
    return rec["FaceRecords"][0]["Face"]["FaceId"]


@pytest.mark.data
def test_person_indexed_from_a_photo_is_found_in_the_clip(vc, collections_for_search):
    face_id = collections_for_search
    job = _finish(vc, vc.start_face_search(Video=_video(HAMILTON), CollectionId="miranda")["JobId"])
    persons, metadata = _all(vc.get_face_search, "Persons", JobId=job)
    assert metadata["FrameRate"] > 29
    assert len(persons) >= 5
    for p in persons:
        assert p["FaceMatches"] and all(m["Similarity"] >= 80 for m in p["FaceMatches"])
        assert p["FaceMatches"][0]["Face"]["FaceId"] == face_id
        assert p["FaceMatches"][0]["Face"]["ExternalImageId"] == "miranda"
        assert "Face" in p["Person"] and "Index" in p["Person"]
    by_index, _ = _all(vc.get_face_search, "Persons", JobId=job, SortBy="INDEX")
    assert [p["Person"]["Index"] for p in by_index] == sorted(p["Person"]["Index"] for p in by_index)


@pytest.mark.data
def test_a_stranger_is_not_found(vc, collections_for_search):
    job = _finish(vc, vc.start_face_search(Video=_video(HAMILTON), CollectionId="stranger")["JobId"])
    persons, _ = _all(vc.get_face_search, "Persons", JobId=job)
    assert persons == []


@pytest.mark.data
def test_face_search_needs_an_existing_collection(vc):
    with pytest.raises(ResourceNotFoundException):
        vc.start_face_search(Video=_video(SINGLE), CollectionId="no-such-collection")
    with pytest.raises(InvalidParameterException):
        vc.start_face_search(Video=_video(SINGLE), CollectionId="miranda", FaceMatchThreshold=101)


@pytest.mark.data
def test_collection_deleted_while_searching_fails_the_job(vc):
    """The job does not crash nor report a half search: it is FAILED with the reason."""
    vc.create_collection(CollectionId="short-lived")
    vc.index_faces(CollectionId="short-lived", Image={"Bytes": data_path(STRANGER).read_bytes()}, MaxFaces=1)
    gate = __import__("threading").Event()
    original = vc.collections.matches

    def slow(collection_id, vector, threshold):
        gate.wait(30)
        return original(collection_id, vector, threshold)

    vc.collections.matches = slow
    try:
        job = vc.start_face_search(Video=_video(SINGLE), CollectionId="short-lived")["JobId"]
        vc.delete_collection(CollectionId="short-lived")
        gate.set()
        assert vc.wait_for_video_job(job, timeout=120) == "FAILED"
    finally:
        del vc.collections.matches
    resp = vc.get_face_search(JobId=job)
    assert resp["JobStatus"] == "FAILED" and "ResourceNotFoundException" in resp["StatusMessage"]
    assert "Persons" not in resp


@pytest.mark.data
def test_a_file_that_is_not_a_video_fails_each_job_type(vc, sample_bytes):
    vc.store.put(BUCKET, "photo.mp4", sample_bytes)
    for start, get in ((vc.start_person_tracking, vc.get_person_tracking),
                       (vc.start_celebrity_recognition, vc.get_celebrity_recognition)):
        job = start(Video=_video("photo.mp4"))["JobId"]
        assert vc.wait_for_video_job(job, timeout=60) == "FAILED"
        assert get(JobId=job)["StatusMessage"]


# -- celebrities ----------------------------------------------------------------------------------------------------
@pytest.mark.data
def test_celebrity_from_the_gallery_recognised_in_the_clip(vc):
    empty = _finish(vc, vc.start_celebrity_recognition(Video=_video(HAMILTON))["JobId"])
    assert _all(vc.get_celebrity_recognition, "Celebrities", JobId=empty)[0] == []
    celeb_id = vc.celebrities.add(name="Lin-Manuel Miranda", image=data_path(MIRANDA).read_bytes(),
                                  urls=["www.example.org/lmm"], known_gender="Male")
    job = _finish(vc, vc.start_celebrity_recognition(Video=_video(HAMILTON), JobTag="lmm")["JobId"])
    found, _ = _all(vc.get_celebrity_recognition, "Celebrities", JobId=job, SortBy="ID")
    assert len(found) >= 5
    for item in found:
        c = item["Celebrity"]
        assert c["Id"] == celeb_id and c["Name"] == "Lin-Manuel Miranda" and c["Urls"] == ["www.example.org/lmm"]
        assert c["KnownGender"] == {"Type": "Male"}
        assert c["Confidence"] >= 50 and "BoundingBox" in c and "BoundingBox" in c["Face"]
    page = vc.get_celebrity_recognition(JobId=job, MaxResults=2)
    assert page["JobTag"] == "lmm" and len(page["Celebrities"]) == 2 and page["NextToken"]
    with pytest.raises(InvalidParameterException):
        vc.get_celebrity_recognition(JobId=job, SortBy="INDEX")


# -- CLI ------------------------------------------------------------------------------------------------------------
@pytest.mark.data
def test_cli_runs_a_person_tracking_job_to_the_end(vc, backend):
    env = backend.env(vc.home)
    result = run_cli(vc.home, "start-person-tracking", "--bucket", BUCKET, "--name", SINGLE, "--wait", env=env)
    assert result["JobStatus"] == "SUCCEEDED" and "NextToken" not in result
    assert len(result["Persons"]) >= 10
    by_index = run_cli(vc.home, "get-person-tracking", result["JobId"], "--sort-by", "INDEX", env=env)["Persons"]
    key = lambda p: (p["Timestamp"], p["Person"]["Index"])  # noqa: E731
    assert sorted(map(key, by_index)) == sorted(map(key, result["Persons"]))
    assert [p["Person"]["Index"] for p in by_index] == sorted(p["Person"]["Index"] for p in by_index)


# -- boto3 through the HTTP endpoint ----------------------------------------------------------------------------------
@pytest.mark.data
def test_boto3_runs_the_three_job_types(vc, crowd, collections_for_search, serve):
    import json
    import time

    rek_id = None
    try:
        with serve(vc) as endpoint:
            rek = boto(endpoint.url)
            raw = []
            for op in ("GetPersonTracking", "GetFaceSearch", "GetCelebrityRecognition"):
                rek.meta.events.register(f"after-call.rekognition.{op}",
                                         lambda http_response, parsed, **kw: raw.append((json.loads(http_response.content),
                                                                                         parsed)))

            def wait(get, job, **kw):
                while True:
                    resp = get(JobId=job, **kw)
                    if resp["JobStatus"] != "IN_PROGRESS":
                        return resp
                    time.sleep(0.05)

            # a finished job of this home, read by boto3: same items, every key survives botocore's parser
            page = wait(rek.get_person_tracking, crowd, SortBy="INDEX", MaxResults=50)
            assert page["JobStatus"] == "SUCCEEDED" and page["NextToken"]
            assert page["Persons"] == vc.get_person_tracking(JobId=crowd, SortBy="INDEX", MaxResults=50)["Persons"]
            body, parsed = raw[-1]
            assert set(body) <= set(parsed) and body["Persons"] == parsed["Persons"]

            job = rek.start_face_search(Video=_video(SINGLE), CollectionId="miranda", FaceMatchThreshold=90)["JobId"]
            resp = wait(rek.get_face_search, job)
            assert resp["JobStatus"] == "SUCCEEDED" and resp["Persons"] == []  # the man in the clip is not Miranda
            with pytest.raises(rek.exceptions.ResourceNotFoundException):
                rek.start_face_search(Video=_video(SINGLE), CollectionId="nope")

            rek_id = vc.celebrities.add(name="Man In Clip", image=_frame_png(SINGLE))
            job = rek.start_celebrity_recognition(Video=_video(SINGLE), JobTag="boto3")["JobId"]
            resp = wait(rek.get_celebrity_recognition, job, SortBy="TIMESTAMP")
            assert resp["JobTag"] == "boto3" and len(resp["Celebrities"]) >= 10
            assert {c["Celebrity"]["Id"] for c in resp["Celebrities"]} == {rek_id}
            body, parsed = raw[-1]
            assert set(body["Celebrities"][0]["Celebrity"]) == set(parsed["Celebrities"][0]["Celebrity"])
            assert rek.get_celebrity_info(Id=rek_id)["Name"] == "Man In Clip"
    finally:
        if rek_id is not None:
            vc.celebrities.remove(rek_id)


def _frame_png(name: str) -> bytes:
    """The first frame of a clip as PNG bytes: a reference photo of the person in it."""
    import cv2

    with av.open(str(data_path(f"videos/{name}"))) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return png.tobytes()
