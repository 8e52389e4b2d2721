"""Several `facelens serve` processes on one PostgreSQL database and one S3 object store answer as one service, as
a user deploys them: photos and clips uploaded with boto3's s3 client, every call through boto3's rekognition
client, a collection created through one server, faces indexed through another, searched through the first; a
video job started through one and read, page by page, through the other."""

import contextlib
import os
import time

import pytest

from tests.support.data import data_path, image_bytes
from tests.support.endpoint import boto, serve_process

pytestmark = [pytest.mark.data, pytest.mark.server]

BUCKET = "media"
OBAMA, OBAMA2, BIDEN = "images/fr_obama.jpg", "images/fr_obama2.jpg", "images/fr_biden.jpg"
CLIP = "pyfeat_single_face.mp4"  # one face, 640x360, 72 frames


@pytest.fixture(scope="module")
def servers(pg_server, s3_server, tmp_path_factory):
    """Two endpoints with their own homes, sharing the database and the object store through configuration
    alone (the environment a deployment sets)."""
    s3 = s3_server.client()
    s3.create_bucket(Bucket=BUCKET)
    for rel in (OBAMA, OBAMA2, BIDEN):
        s3.put_object(Bucket=BUCKET, Key=rel, Body=image_bytes(rel))
    s3.put_object(Bucket=BUCKET, Key=f"clips/{CLIP}", Body=data_path(f"videos/{CLIP}").read_bytes())

    url = pg_server.create_database("multi_server")
    with contextlib.ExitStack() as stack:
        clients = []
        for n in range(2):
            env = dict(os.environ, FACELENS_HOME=str(tmp_path_factory.mktemp(f"server{n}")), FACELENS_THREADS="1",
                       FACELENS_DATABASE_URL=url, FACELENS_OBJECT_STORE="s3",
                       AWS_ENDPOINT_URL_S3=s3_server.endpoint_url, AWS_ACCESS_KEY_ID=s3_server.access_key,
                       AWS_SECRET_ACCESS_KEY=s3_server.secret_key, AWS_REGION=s3_server.region,
                       FACELENS_VIDEO_SAMPLE_FPS="2")
            clients.append(boto(stack.enter_context(serve_process(env)), read_timeout=120))
        yield clients


def _s3(name):
    return {"S3Object": {"Bucket": BUCKET, "Name": name}}


def test_collection_created_indexed_and_searched_through_different_servers(servers):
    one, two = servers
    one.create_collection(CollectionId="staff")
    assert "staff" in two.list_collections()["CollectionIds"]
    indexed = two.index_faces(CollectionId="staff", Image=_s3(OBAMA), ExternalImageId="obama", MaxFaces=1)
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    two.index_faces(CollectionId="staff", Image=_s3(BIDEN), ExternalImageId="biden", MaxFaces=1)
    start = time.monotonic()
    found = one.search_faces_by_image(CollectionId="staff", Image=_s3(OBAMA2))["FaceMatches"]
    assert time.monotonic() - start < 5
    assert [m["Face"]["FaceId"] for m in found] == [face_id] and found[0]["Similarity"] >= 80
    assert one.describe_collection(CollectionId="staff")["FaceCount"] == 2
    # a deletion through one server is seen by the other at once
    one.delete_faces(CollectionId="staff", FaceIds=[face_id])
    assert two.search_faces_by_image(CollectionId="staff", Image=_s3(OBAMA2))["FaceMatches"] == []
    two.delete_collection(CollectionId="staff")
    with pytest.raises(one.exceptions.ResourceNotFoundException):
        one.describe_collection(CollectionId="staff")


def test_list_faces_pages_continue_on_another_server(servers):
    one, two = servers
    one.create_collection(CollectionId="paged")
    for rel in (OBAMA, OBAMA2, BIDEN):
        one.index_faces(CollectionId="paged", Image=_s3(rel), ExternalImageId=rel.split("/")[-1].split(".")[0])
    first = one.list_faces(CollectionId="paged", MaxResults=2)
    rest = two.list_faces(CollectionId="paged", MaxResults=2, NextToken=first["NextToken"])
    ids = [f["FaceId"] for f in first["Faces"] + rest["Faces"]]
    assert ids == [f["FaceId"] for f in two.list_faces(CollectionId="paged")["Faces"]] and len(ids) == 3


def test_video_job_started_on_one_server_is_read_on_the_other(servers):
    one, two = servers
    job = one.start_face_detection(Video=_s3(f"clips/{CLIP}"), JobTag="shared")["JobId"]
    deadline = time.time() + 180
    while True:
        resp = two.get_face_detection(JobId=job)
        if resp["JobStatus"] != "IN_PROGRESS":
            break
        assert time.time() < deadline
        time.sleep(0.5)
    assert resp["JobStatus"] == "SUCCEEDED" and resp["JobTag"] == "shared"
    assert resp["VideoMetadata"]["FrameWidth"] == 640 and len(resp["Faces"]) == 5  # 2.4 s sampled at 2 frames/s
    first = two.get_face_detection(JobId=job, MaxResults=2)
    second = one.get_face_detection(JobId=job, MaxResults=2, NextToken=first["NextToken"])
    assert first["Faces"] + second["Faces"] == resp["Faces"][:4]


def test_missing_s3_object_is_invalid_s3_object(servers):
    one, _ = servers
    with pytest.raises(one.exceptions.InvalidS3ObjectException):
        one.detect_faces(Image=_s3("images/nobody.jpg"))
    with pytest.raises(one.exceptions.InvalidS3ObjectException):
        one.start_face_detection(Video=_s3("clips/nothing.mp4"))
