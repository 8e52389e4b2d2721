"""S3ObjectStore against a real S3 server (SeaweedFS started by the ``s3_server`` fixture): objects are uploaded
with boto3's ``s3`` client as a user does, then read through the store."""

import hashlib
import http.server
import socket
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")

from facelens.errors import (  # noqa: E402
    ImageTooLargeException,
    InternalServerError,
    InvalidParameterException,
    InvalidS3ObjectException,
    ThrottlingException,
    VideoTooLargeException,
)
from facelens.objects import ObjectStore  # noqa: E402
from facelens.objects.s3 import S3ObjectStore  # noqa: E402
from tests.support.s3_server import READER_BUCKET  # noqa: E402

HANG_GUARD_S = 30  # an error must come back well before this; not a speed target


def new_bucket(s3) -> str:
    name = "b-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    return name


def store_for(server, reader=False, **kwargs) -> S3ObjectStore:
    """The store as facelens builds it, given the test server's keys through a boto3 session."""
    keys = server.client_kwargs(reader)
    session = boto3.session.Session(aws_access_key_id=keys["aws_access_key_id"],
                                    aws_secret_access_key=keys["aws_secret_access_key"])
    return S3ObjectStore(endpoint_url=server.endpoint_url, region_name=server.region, session=session, **kwargs)


def offline_store(endpoint_url, **kwargs) -> S3ObjectStore:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test")
    return S3ObjectStore(endpoint_url=endpoint_url, region_name="us-east-1", session=session, **kwargs)


def count_calls(store):
    """Operation names the store's client sends, in order (botocore's event system)."""
    calls = []
    store.client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    return calls


@pytest.fixture(scope="module")
def s3(s3_server):
    return s3_server.client()


@pytest.fixture(scope="module")
def store(s3_server):
    return store_for(s3_server)


@pytest.fixture(scope="module")
def bucket(s3):
    return new_bucket(s3)


def test_reads_what_boto3_uploaded(s3, store, bucket, sample_bytes):
    s3.put_object(Bucket=bucket, Key="team/alice smith.jpg", Body=sample_bytes)
    s3object = {"Bucket": bucket, "Name": "team/alice smith.jpg"}
    assert store.read(s3object, 15 * 1024 * 1024) == sample_bytes
    assert store.size(s3object) == len(sample_bytes)


def test_path_style_for_an_s3_compatible_endpoint(store, s3_server):
    assert store.endpoint_url == s3_server.endpoint_url
    assert store.client.meta.config.s3 == {"addressing_style": "path"}


def test_version_is_passed_as_version_id(s3, store):
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="face.jpg", Body=b"first version")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="face.jpg", Body=b"the second version")["VersionId"]
    assert first != second
    assert store.read({"Bucket": bucket, "Name": "face.jpg", "Version": first}, 1000) == b"first version"
    assert store.read({"Bucket": bucket, "Name": "face.jpg", "Version": second}, 1000) == b"the second version"
    assert store.read({"Bucket": bucket, "Name": "face.jpg"}, 1000) == b"the second version"
    assert store.size({"Bucket": bucket, "Name": "face.jpg", "Version": first}) == len(b"first version")


@pytest.mark.parametrize("what", ["bucket", "key", "version"])
def test_missing_object_is_invalid_s3_object(s3, store, what):
    # On a versioned bucket: SeaweedFS ignores a VersionId on an unversioned one (AWS answers 400 InvalidArgument).
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="present.jpg", Body=b"x")
    s3object = {"Bucket": bucket, "Name": "present.jpg"}
    if what == "bucket":
        s3object["Bucket"] = "no-such-bucket-" + uuid.uuid4().hex[:8]
    elif what == "key":
        s3object["Name"] = "absent/photo.jpg"
    else:
        s3object["Version"] = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"
    for call in (lambda: store.read(s3object, 1000), lambda: store.size(s3object),
                 lambda: store.download_to(s3object, Path("/nonexistent/never-written"), 1000)):
        with pytest.raises(InvalidS3ObjectException) as e:
            call()
        assert f"s3://{s3object['Bucket']}/{s3object['Name']}" in e.value.message
        if what == "version":
            assert s3object["Version"] in e.value.message


def test_access_denied_is_invalid_s3_object(s3, s3_server, sample_bytes):
    """The reader's keys may read READER_BUCKET (made by the server fixture) and nothing else."""
    s3.put_object(Bucket=READER_BUCKET, Key="allowed.jpg", Body=sample_bytes)
    private = new_bucket(s3)
    s3.put_object(Bucket=private, Key="secret.jpg", Body=sample_bytes)
    reader = store_for(s3_server, reader=True)
    assert reader.read({"Bucket": READER_BUCKET, "Name": "allowed.jpg"}, 10**7) == sample_bytes
    with pytest.raises(InvalidS3ObjectException, match=f"s3://{private}/secret.jpg: access denied"):
        reader.read({"Bucket": private, "Name": "secret.jpg"}, 10**7)


@pytest.mark.parametrize("s3object", [
    "photos/a.jpg",
    {"Bucket": "ab", "Name": "a.jpg"},
    {"Bucket": "bad/bucket", "Name": "a.jpg"},
    {"Bucket": "photos"},
    {"Bucket": "photos", "Name": ""},
    {"Bucket": "photos", "Name": "x" * 1025},
    {"Bucket": "photos", "Name": "a.jpg", "Version": ""},
    {"Bucket": "photos", "Name": "a.jpg", "Version": 3},
])
def test_bad_s3object_is_rejected_as_the_local_store_does(store, tmp_path, s3object):
    with pytest.raises(InvalidParameterException) as local:
        ObjectStore(tmp_path).path_of(s3object)
    calls = count_calls(store)
    with pytest.raises(InvalidParameterException) as remote:
        store.read(s3object, 1000)
    assert remote.value.message == local.value.message
    assert calls == []


def test_too_large_is_refused_from_head_without_download(s3, store, bucket):
    s3.put_object(Bucket=bucket, Key="big.jpg", Body=b"\xff" * 5000)
    s3object = {"Bucket": bucket, "Name": "big.jpg"}
    calls = count_calls(store)
    with pytest.raises(ImageTooLargeException, match=r"S3 object is 5000 bytes; the maximum is 4999 bytes\."):
        store.read(s3object, 4999)
    assert calls == ["HeadObject"]
    with pytest.raises(VideoTooLargeException, match="5000 bytes"):
        store.download_to(s3object, Path("/nonexistent/never-written"), 4999, too_large=VideoTooLargeException)
    assert calls == ["HeadObject", "HeadObject"]
    assert len(store.read(s3object, 5000)) == 5000  # the limit itself is allowed
    assert calls[-2:] == ["HeadObject", "GetObject"]


def test_download_streams_a_large_object_with_flat_memory(s3, store, bucket, tmp_path):
    payload = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    s3.put_object(Bucket=bucket, Key="clips/walk.mp4", Body=payload)
    target = tmp_path / "walk.mp4"
    tracemalloc.start()
    try:
        size = store.download_to({"Bucket": bucket, "Name": "clips/walk.mp4"}, target, 10 * 1024 ** 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == len(payload) == target.stat().st_size
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(payload).digest()
    print(f"peak Python allocation while streaming 20 MB: {peak} bytes")
    assert peak < 4 * 1024 * 1024, f"peak Python allocation {peak} bytes while streaming {len(payload)}"


def test_put_creates_the_bucket(store, s3):
    name = "made-by-put-" + uuid.uuid4().hex[:8]
    assert store.put(name, "a/b.jpg", b"content") is None  # a new bucket is not versioned
    assert s3.get_object(Bucket=name, Key="a/b.jpg")["Body"].read() == b"content"
    store.put(name, "a/c.jpg", b"more")  # the bucket exists now
    assert store.read({"Bucket": name, "Name": "a/c.jpg"}, 100) == b"more"


def test_unreachable_store_fails_fast_and_clearly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = offline_store(f"http://127.0.0.1:{port}", connect_timeout=1, read_timeout=1, max_attempts=2)
    start = time.monotonic()
    with pytest.raises(InternalServerError) as e:
        store.read({"Bucket": "photos", "Name": "a.jpg"}, 1000)
    assert time.monotonic() - start < HANG_GUARD_S
    assert f"127.0.0.1:{port}" in e.value.message and "s3://photos/a.jpg" in e.value.message
    assert "Could not connect" in e.value.message


def test_stalled_store_times_out():
    with socket.socket() as s:  # accepts connections (the kernel's backlog) and never answers
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        port = s.getsockname()[1]
        store = offline_store(f"http://127.0.0.1:{port}", connect_timeout=1, read_timeout=0.5, max_attempts=2)
        start = time.monotonic()
        with pytest.raises(InternalServerError) as e:
            store.size({"Bucket": "photos", "Name": "a.jpg"})
        assert time.monotonic() - start < HANG_GUARD_S
    assert "Read timeout" in e.value.message and "s3://photos/a.jpg" in e.value.message


class _FailingS3(http.server.BaseHTTPRequestHandler):
    status = 500
    code = "InternalError"

    def _answer(self):
        body = f"<Error><Code>{self.code}</Code><Message>failing on purpose</Message></Error>".encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "code", "expected"), [
    (500, "InternalError", InternalServerError),
    (503, "SlowDown", ThrottlingException),
])
def test_failing_store_after_bounded_retries(status, code, expected):
    handler = type("Handler", (_FailingS3,), {"status": status, "code": code})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = offline_store(f"http://127.0.0.1:{server.server_port}", connect_timeout=1, read_timeout=1,
                              max_attempts=2)
        store.client.meta.events.register("before-send.s3.*", lambda **_: seen.append(1))
        start = time.monotonic()
        with pytest.raises(expected) as e:
            store.read({"Bucket": "photos", "Name": "a.jpg"}, 1000)
        assert time.monotonic() - start < HANG_GUARD_S
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen) == 2  # max_attempts
    assert "s3://photos/a.jpg" in e.value.message


def test_one_store_serves_many_threads(s3, store, bucket):
    from concurrent.futures import ThreadPoolExecutor

    objects = {f"threads/{i}.jpg": uuid.uuid4().bytes * (i + 1) for i in range(16)}
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    keys = list(objects) * 4
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda key: store.read({"Bucket": bucket, "Name": key}, 10_000), keys))
    assert got == [objects[key] for key in keys]


def test_endpoint_and_region_from_the_aws_environment(s3, s3_server, bucket, monkeypatch):
    s3.put_object(Bucket=bucket, Key="env.jpg", Body=b"found through AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")  # boto3's name; it does not read AWS_REGION
    keys = s3_server.client_kwargs()
    store = S3ObjectStore(session=boto3.session.Session(aws_access_key_id=keys["aws_access_key_id"],
                                                        aws_secret_access_key=keys["aws_secret_access_key"]))
    assert store.endpoint_url == s3_server.endpoint_url
    assert store.client.meta.region_name == "eu-west-3"
    assert store.client.meta.config.s3 == {"addressing_style": "path"}
    assert store.read({"Bucket": bucket, "Name": "env.jpg"}, 100) == b"found through AWS_ENDPOINT_URL_S3"
