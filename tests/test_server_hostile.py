"""The endpoint against careless and hostile clients: idle-connection floods, the request and connection limits,
and client mistakes that must be answered 4xx (botocore retries a 5xx, so a 500 for a client mistake makes the
user wait for nothing)."""

from __future__ import annotations

import base64
import json
import socket
import time

import numpy as np
import pytest

boto3 = pytest.importorskip("boto3")
uvicorn = pytest.importorskip("uvicorn")

from facelens import errors  # noqa: E402
from facelens.server import protocol  # noqa: E402
from tests.support.endpoint import KEY_ID, SECRET, boto, raw_request, sigv4_headers  # noqa: E402


@pytest.fixture(scope="module")
def open_server(client, serve):
    return serve(client)


def _idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
    return socks


def _closed_by_server(s) -> bool:
    s.settimeout(2)
    try:
        return s.recv(1) == b""
    except (socket.timeout, ConnectionResetError):
        return False


def test_idle_connections_do_not_starve_requests(open_server, sample_bytes):
    """1,000 connections that never send a byte are held while real DetectFaces and ListCollections calls are
    answered 200 (uvicorn's limit_concurrency counted them and answered 503 until their header timeout)."""
    rek = boto(open_server.url)
    rek.list_collections()
    socks = _idle(open_server.port, 1000)
    try:
        time.sleep(0.2)
        for _ in range(5):
            assert rek.list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert rek.detect_faces(Image={"Bytes": sample_bytes})["FaceDetails"]
        status, _, _ = raw_request(open_server.url, b"{}", target="RekognitionService.ListCollections")  # a new connection
        assert status == 200
    finally:
        for s in socks:
            s.close()


def test_connection_cap_closes_the_oldest_idle_connection(client, monkeypatch, serve):
    monkeypatch.setattr(protocol.GuardedH11Protocol, "max_connections", 40)
    server = serve(client, keys={}, preload=False)
    try:
        socks = _idle(server.port, 60)
        time.sleep(0.3)
        status, _, _ = raw_request(server.url, b"{}", target="RekognitionService.ListCollections")
        assert status == 200
        closed = [_closed_by_server(s) for s in socks[:5]]
        assert all(closed)  # the oldest idle ones made room
        assert not _closed_by_server(socks[-1])  # the newest is still held
        for s in socks:
            s.close()
    finally:
        server.stop()


def test_requests_in_flight_are_limited(client, monkeypatch, serve):
    """Two requests whose bodies have not arrived yet are in flight; with a limit of two, a third gets 503 at once,
    and after they are answered (408 at the body deadline) requests are served again."""
    monkeypatch.setattr(protocol.GuardedH11Protocol, "max_requests", 2)
    server = serve(client, keys={}, body_timeout=1.5, preload=False)
    try:
        slow = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: RekognitionService.ListCollections\r\n"
                      b"Content-Length: 10\r\n\r\n{")
            slow.append(s)
        time.sleep(0.3)
        status, _, _ = raw_request(server.url, b"{}", target="RekognitionService.ListCollections")
        assert status == 503
        for s in slow:
            assert b" 408 " in s.recv(4096).split(b"\r\n")[0]
            s.close()
        status, _, _ = raw_request(server.url, b"{}", target="RekognitionService.ListCollections")
        assert status == 200
    finally:
        server.stop()


@pytest.mark.parametrize(("target", "body"), [
    ("SearchFacesByImage", {"CollectionId": "c", "Image": {"S3Object": {"Bucket": "abc", "Name": "x.jpg"}},
                            "FaceMatchThreshold": None}),
    ("SearchFaces", {"CollectionId": "c", "FaceId": "11111111-2222-3333-4444-555555555555",
                     "FaceMatchThreshold": None}),
    ("StartFaceSearch", {"CollectionId": "c", "Video": {"S3Object": {"Bucket": "abc", "Name": "x.mp4"}},
                         "FaceMatchThreshold": None}),
])
def test_null_members_are_validation_errors(open_server, target, body):
    status, _, out = raw_request(open_server.url, json.dumps(body).encode(), target="RekognitionService." + target)
    assert status == 400, out
    assert json.loads(out)["__type"] == "ValidationException"
    assert "FaceMatchThreshold" in json.loads(out)["Message"]


def test_nul_in_s3_version_is_an_invalid_s3_object(open_server):
    body = {"Image": {"S3Object": {"Bucket": "photos", "Name": "a.jpg", "Version": "v\u0000"}}}
    status, _, out = raw_request(open_server.url, json.dumps(body).encode())
    assert status == 400 and json.loads(out)["__type"] == "InvalidS3ObjectException"


@pytest.mark.parametrize("depth", [40, 5000, 100_000])
def test_deeply_nested_json_is_a_serialization_error(open_server, depth):
    body = b'{"Image": ' + b"[" * depth + b"]" * depth + b"}"
    status, _, out = raw_request(open_server.url, body)
    assert status == 400 and json.loads(out)["__type"] == "SerializationException"


def test_non_ascii_signature_is_an_invalid_signature(client, sample_bytes, serve):
    server = serve(client, keys={KEY_ID: SECRET}, preload=False)
    try:
        headers = sigv4_headers(url=server.url + "/")
        auth = headers["authorization"][0]
        headers = {"Authorization": auth[: auth.rindex("Signature=") + 10] + "\u00e9" * 64,
                   "X-Amz-Date": headers["x-amz-date"][0]}
        status, _, out = raw_request(server.url, b"{}", target="RekognitionService.ListCollections", headers=headers)
        assert status == 403 and json.loads(out)["__type"] == "InvalidSignatureException"
        # and a correctly signed request still passes
        assert boto(server.url, KEY_ID, SECRET).list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        server.stop()


def test_client_mistakes_in_python_are_param_validation_errors(client, sample_bytes):
    with pytest.raises(errors.ParamValidationError, match=r"Attributes\[1\]"):
        client.detect_faces(Image={"Bytes": sample_bytes}, Attributes=["DEFAULT", np.array(["ALL"])])
    with pytest.raises(errors.ParamValidationError, match="FaceMatchThreshold"):
        client.search_faces(CollectionId="c", FaceId="11111111-2222-3333-4444-555555555555", FaceMatchThreshold=None)
    with pytest.raises(errors.InvalidS3ObjectException):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "a.jpg", "Version": "\x00"}})
    deep = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(errors.ParamValidationError):
        client.detect_faces(Image={"Bytes": sample_bytes}, Attributes=deep)
    status_ok = client.detect_faces(Image={"Bytes": base64.b64decode(base64.b64encode(sample_bytes))})
    assert status_ok["FaceDetails"]


def test_non_object_bodies_are_serialization_errors(open_server):
    for body in (b"null", b"[]", b"3"):
        status, _, out = raw_request(open_server.url, body)
        assert status == 400 and "JSON object" in json.loads(out)["Message"]
