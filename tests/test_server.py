"""The HTTP endpoint (facelens.server) end to end with a real boto3 client.

One uvicorn server per module on a free loopback port (in a background thread), sharing the session's Client:
one without keys (any signature accepted) and one with SigV4 keys. Every response is checked against botocore's
model: every key in the raw JSON must survive botocore's parser (it silently drops unknown keys).
"""

from __future__ import annotations

import base64
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

boto3 = pytest.importorskip("boto3")
uvicorn = pytest.importorskip("uvicorn")
from botocore.config import Config  # noqa: E402

from facelens.server import operations  # noqa: E402
from tests.support.endpoint import KEY_ID, SECRET, DroppedKeys, boto, raw_request, sigv4_headers  # noqa: E402


def _strip(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


@pytest.fixture(scope="module")
def servers(client, serve):
    return serve(client), serve(client, keys={KEY_ID: SECRET})


@pytest.fixture(scope="module")
def rek(servers):
    return boto(servers[0].url)


def test_operations_are_discovered_from_the_client(client):
    ops = operations(client)
    assert {"DetectFaces", "IndexFaces", "SearchFaces", "SearchFacesByImage", "CreateCollection", "DeleteCollection",
            "DescribeCollection", "ListCollections", "ListFaces", "DeleteFaces"} <= set(ops)
    assert ops["SearchFacesByImage"] == "search_faces_by_image"
    # every operation of the contract is served, the video ones included
    from facelens import contract

    assert set(ops) == set(contract.OPERATIONS)
    assert {"StartPersonTracking", "GetPersonTracking", "StartFaceSearch", "GetFaceSearch", "StartCelebrityRecognition",
            "GetCelebrityRecognition", "RecognizeCelebrities", "GetCelebrityInfo"} <= set(ops)


@pytest.mark.parametrize("attributes", [None, ["DEFAULT", "EYE_DIRECTION"], ["ALL"]])
def test_detect_faces_equals_in_process(servers, client, sample_bytes, attributes):
    rek = boto(servers[0].url)
    dropped = DroppedKeys(rek)
    kwargs = {"Image": {"Bytes": sample_bytes}}
    if attributes:
        kwargs["Attributes"] = attributes
    remote = rek.detect_faces(**kwargs)
    local = client.detect_faces(**kwargs)
    assert remote["FaceDetails"], "sample.jpg has a face"
    assert _strip(remote) == _strip(local)
    assert dropped.check() == {"DetectFaces"}
    meta = remote["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200 and len(meta["RequestId"]) == 36
    assert meta["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.1"
    if attributes == ["ALL"]:
        face = remote["FaceDetails"][0]
        assert {"EyeDirection", "AgeRange", "Emotions", "FaceOccluded"} <= set(face)


def test_collections_end_to_end(servers, client, sample_bytes):
    rek = boto(servers[0].url)
    dropped = DroppedKeys(rek)
    cid = "server-test-collection"
    created = rek.create_collection(CollectionId=cid)
    assert created["StatusCode"] == 200 and created["CollectionArn"].endswith(f"collection/{cid}")
    with pytest.raises(rek.exceptions.ResourceAlreadyExistsException):
        rek.create_collection(CollectionId=cid)
    ids = []
    for n in range(3):  # the same photo under three ExternalImageIds: three stored faces
        out = rek.index_faces(CollectionId=cid, Image={"Bytes": sample_bytes}, ExternalImageId=f"img-{n}",
                              DetectionAttributes=["DEFAULT"], QualityFilter="NONE")
        assert out["FaceRecords"] and "UnindexedFaces" in out
        ids.extend(r["Face"]["FaceId"] for r in out["FaceRecords"])
    desc = rek.describe_collection(CollectionId=cid)
    assert desc["FaceCount"] == len(ids) and desc["CollectionARN"].startswith("arn:")
    local_desc = client.describe_collection(CollectionId=cid)
    assert abs(desc["CreationTimestamp"].timestamp() - local_desc["CreationTimestamp"].timestamp()) < 1e-3

    pages = list(rek.get_paginator("list_faces").paginate(CollectionId=cid, PaginationConfig={"PageSize": 1}))
    assert len(pages) == len(ids)
    assert [f["FaceId"] for p in pages for f in p["Faces"]] == ids
    assert _strip(rek.list_faces(CollectionId=cid)) == _strip(client.list_faces(CollectionId=cid))
    coll_pages = list(rek.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 1}))
    assert cid in [c for p in coll_pages for c in p["CollectionIds"]]

    search = rek.search_faces(CollectionId=cid, FaceId=ids[0])
    assert {m["Face"]["FaceId"] for m in search["FaceMatches"]} == set(ids[1:])
    assert _strip(search) == _strip(client.search_faces(CollectionId=cid, FaceId=ids[0]))
    by_image = rek.search_faces_by_image(CollectionId=cid, Image={"Bytes": sample_bytes}, FaceMatchThreshold=80)
    assert {m["Face"]["FaceId"] for m in by_image["FaceMatches"]} == set(ids)
    assert "SearchedFaceBoundingBox" in by_image and "SearchedFaceConfidence" in by_image

    deleted = rek.delete_faces(CollectionId=cid, FaceIds=[ids[0], "00000000-0000-4000-8000-000000000000"])
    assert deleted["DeletedFaces"] == [ids[0]]
    assert deleted["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    assert rek.delete_collection(CollectionId=cid)["StatusCode"] == 200
    with pytest.raises(rek.exceptions.ResourceNotFoundException):
        rek.describe_collection(CollectionId=cid)
    assert dropped.check() >= {"CreateCollection", "IndexFaces", "DescribeCollection", "ListFaces", "ListCollections",
                               "SearchFaces", "SearchFacesByImage", "DeleteFaces", "DeleteCollection"}


def test_errors_arrive_as_client_exceptions(rek, sample_bytes):
    with pytest.raises(rek.exceptions.InvalidImageFormatException) as e:
        rek.detect_faces(Image={"Bytes": b"GIF89a" + b"\0" * 200})
    assert e.value.response["Error"]["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.detect_faces(Image={"Bytes": sample_bytes}, Attributes=["NOT_AN_ATTRIBUTE"])
    with pytest.raises(rek.exceptions.InvalidParameterException):
        rek.describe_collection(CollectionId="bad id!")
    with pytest.raises(rek.exceptions.ImageTooLargeException):
        rek.detect_faces(Image={"Bytes": b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024 + 10)})
    rek.create_collection(CollectionId="server-token-test")
    try:
        with pytest.raises(rek.exceptions.InvalidPaginationTokenException):
            rek.list_faces(CollectionId="server-token-test", NextToken="forged.token")
    finally:
        rek.delete_collection(CollectionId="server-token-test")
    # What botocore would refuse before sending reaches the server with validation off: ValidationException.
    loose = boto(rek.meta.endpoint_url, parameter_validation=False)
    with pytest.raises(loose.exceptions.ClientError) as e:
        loose.detect_faces()
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Image" in e.value.response["Error"]["Message"]


def test_wire_errors(servers, sample_bytes):
    url = servers[0].url
    status, headers, body = raw_request(url, b"{}", target="RekognitionService.RecognizeCelebritiesX")
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"
    assert "RecognizeCelebritiesX" in json.loads(body)["Message"]
    assert headers["x-amzn-requestid"] and headers["content-type"] == "application/x-amz-json-1.1"
    status, _, body = raw_request(url, b"{}", target=None)
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"
    status, _, body = raw_request(url, b"{not json")
    assert status == 400 and json.loads(body)["__type"] == "SerializationException"
    status, _, body = raw_request(url, json.dumps({"Image": {"Bytes": "@@not base64@@"}}).encode())
    assert status == 400 and json.loads(body)["__type"] == "SerializationException"
    status, _, body = raw_request(url, json.dumps({"Image": {"Bytes": base64.b64encode(sample_bytes).decode()}}).encode())
    assert status == 200 and json.loads(body)["FaceDetails"]
    status, _, body = raw_request(url, b"", method="GET")
    assert status == 404 and json.loads(body)["__type"] == "UnknownOperationException"


def test_body_limit(servers):
    app = servers[0].server.config.app
    big = b"x" * (app.max_body + 1)
    status, _headers, body = raw_request(servers[0].url, big)
    assert status == 413 and json.loads(body)["__type"] == "ImageTooLargeException"


def test_half_sent_body_times_out(client, serve):
    server = serve(client, keys={}, body_timeout=0.5, preload=False)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: RekognitionService.DetectFaces\r\n"
                      b"Content-Length: 100\r\n\r\n{\"Image\"")
            data = b""
            while True:  # the head and the body may come in separate segments; the server then closes
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert b" 408 " in data.split(b"\r\n")[0] and b"RequestTimeoutException" in data
    finally:
        server.stop()


def test_idle_connection_is_closed(client, monkeypatch, serve):
    from facelens.server import protocol

    monkeypatch.setattr(protocol.GuardedH11Protocol, "header_timeout", 0.3)
    server = serve(client, keys={}, preload=False)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            t0 = time.time()
            assert s.recv(4096) == b""  # closed by the server
            assert time.time() - t0 < 5
    finally:
        server.stop()


def test_sigv4(servers, sample_bytes):
    keyed = servers[1].url
    good = boto(keyed, KEY_ID, SECRET)
    assert good.list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert good.detect_faces(Image={"Bytes": sample_bytes})["FaceDetails"]
    with pytest.raises(good.exceptions.ClientError) as e:
        boto(keyed, KEY_ID, "wrong-secret").list_collections()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(good.exceptions.ClientError) as e:
        boto(keyed, "AKIDUNKNOWN", SECRET).list_collections()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    status, _, body = raw_request(keyed, b"{}", target="RekognitionService.ListCollections")  # unsigned
    assert status == 403 and json.loads(body)["__type"] == "MissingAuthenticationTokenException"
    # Without keys any signature is accepted.
    assert boto(servers[0].url, "anything", "else").list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_sigv4_tampered_body_is_rejected(servers):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = servers[1].url
    body = b'{"MaxResults": 1}'
    req = AWSRequest("POST", url + "/", data=body, headers={
        "X-Amz-Target": "RekognitionService.ListCollections", "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "rekognition", "us-east-1").add_auth(req)
    headers = {k: v for k, v in req.headers.items() if k.lower() not in ("content-type", "x-amz-target")}
    status, _, _ = raw_request(url, body, target="RekognitionService.ListCollections", headers=headers)
    assert status == 200
    status, _, out = raw_request(url, b'{"MaxResults": 2}', target="RekognitionService.ListCollections", headers=headers)
    assert status == 403 and json.loads(out)["__type"] == "InvalidSignatureException"


def test_concurrent_clients(servers, client, sample_bytes):
    """Load: 8 concurrent boto3 clients x 50 DetectFaces, all answered, identical to in-process."""
    expected = _strip(client.detect_faces(Image={"Bytes": sample_bytes}))
    url = servers[0].url

    def worker(_):
        rek = boto(url)
        return [_strip(rek.detect_faces(Image={"Bytes": sample_bytes})) for _ in range(50)]

    with ThreadPoolExecutor(8) as pool:
        results = [r for batch in pool.map(worker, range(8)) for r in batch]
    assert len(results) == 400
    assert all(r == expected for r in results)


def test_serve_without_uvicorn_says_so(monkeypatch, capsys):
    import sys

    from facelens import cli

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert cli.main(["serve", "--port", "1"]) == 2
    assert "pip install" in capsys.readouterr().err


def test_non_loopback_without_keys_warns(monkeypatch, capsys):
    from facelens.server import run

    monkeypatch.delenv("FACELENS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    assert run.serve(host="0.0.0.0", port=1) == 0
    assert "WARNING" in capsys.readouterr().err
    assert run.serve(host="127.0.0.1", port=1) == 0
    assert "WARNING" not in capsys.readouterr().err


@pytest.mark.server
def test_sigterm_finishes_in_flight_request(tmp_path, sample_bytes):
    """`facelens serve` in a subprocess: a request whose body is still arriving when SIGTERM comes is answered,
    then the server exits."""
    import os
    import signal
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, FACELENS_HOME=str(tmp_path), FACELENS_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "facelens", "serve", "--port", str(port)], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
                time.sleep(0.05)
        body = json.dumps({"Image": {"Bytes": base64.b64encode(sample_bytes).decode()}}).encode()
        conn.settimeout(30)
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: RekognitionService.DetectFaces\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        conn.sendall(body[100:])
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.close()
        assert data.startswith(b"HTTP/1.1 200") and b"FaceDetails" in data
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_keep_alive_requests_are_not_delayed(rek):
    """Small requests on a kept-alive connection take about a millisecond (no Nagle / delayed-ACK stall of 40 ms,
    which the protocol's TCP_NODELAY prevents)."""
    rek.list_collections()
    t = time.perf_counter()
    for _ in range(20):
        rek.list_collections()
    assert time.perf_counter() - t < 0.4


def test_sigv4_verifier_rules():
    import datetime as dt

    from facelens.server.sigv4 import AuthError, Verifier

    v = Verifier({KEY_ID: SECRET})
    headers = sigv4_headers()
    assert v.verify("POST", "/", "", headers, b"{}") == KEY_ID

    def code(**kw):
        with pytest.raises(AuthError) as e:
            v.verify(kw.get("method", "POST"), kw.get("path", "/"), "", kw.get("headers", headers),
                     kw.get("body", b"{}"), now=kw.get("now"))
        return e.value.code

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=16)
    assert code(now=later) == "InvalidSignatureException"  # signed more than 15 minutes ago
    assert code(path="/other") == "InvalidSignatureException"
    assert code(body=b'{"x": 1}') == "InvalidSignatureException"
    assert code(headers={**headers, "x-amz-target": ["RekognitionService.DeleteCollection"]}) \
        == "InvalidSignatureException"  # a signed header changed
    assert code(headers={**headers, "authorization": ["AWS4-HMAC-SHA256 Credential=abc"]}) \
        == "IncompleteSignatureException"
    assert code(headers={**headers, "authorization": ["Basic Zm9vOmJhcg=="]}) == "IncompleteSignatureException"
    assert code(headers={k: h for k, h in headers.items() if k != "authorization"}) \
        == "MissingAuthenticationTokenException"
    assert code(headers=sigv4_headers(key="AKIDOTHER")) == "UnrecognizedClientException"
    assert code(headers=sigv4_headers(secret="nope")) == "InvalidSignatureException"


@pytest.mark.data
def test_users_tags_and_regions_through_boto3(servers):
    """Every user and tag operation through boto3, errors as client exceptions, ListUsers' paginator, responses
    parsed by botocore's model with nothing dropped; a collection made in one signed region is not in another."""
    from tests.support.data import image_bytes

    url = servers[0].url
    rek = boto(url)
    west = boto3.client("rekognition", endpoint_url=url, region_name="us-west-2", aws_access_key_id="x",
                        aws_secret_access_key="y", config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    dropped = DroppedKeys(rek)
    arn = "arn:" + rek.create_collection(CollectionId="boto-users", Tags={"team": "door"})["CollectionArn"]
    try:
        assert ":us-east-1:" in arn
        with pytest.raises(west.exceptions.ResourceNotFoundException):
            west.describe_collection(CollectionId="boto-users")
        west.create_collection(CollectionId="boto-users")
        assert ":us-west-2:" in west.describe_collection(CollectionId="boto-users")["CollectionARN"]
        west.delete_collection(CollectionId="boto-users")

        ids = [rek.index_faces(CollectionId="boto-users", Image={"Bytes": image_bytes(rel)}, MaxFaces=1)[
            "FaceRecords"][0]["Face"]["FaceId"] for rel in ("images/fr_obama.jpg", "images/fr_obama2.jpg")]
        rek.create_user(CollectionId="boto-users", UserId="obama", ClientRequestToken="tok-1")
        with pytest.raises(rek.exceptions.ConflictException):
            rek.create_user(CollectionId="boto-users", UserId="obama")
        assert rek.associate_faces(CollectionId="boto-users", UserId="obama", FaceIds=ids)["UserStatus"] == "ACTIVE"
        assert rek.describe_collection(CollectionId="boto-users")["UserCount"] == 1
        assert {f["UserId"] for f in rek.list_faces(CollectionId="boto-users", UserId="obama")["Faces"]} == {"obama"}
        found = rek.search_users(CollectionId="boto-users", FaceId=ids[0])
        assert found["UserMatches"][0]["User"] == {"UserId": "obama", "UserStatus": "ACTIVE"}
        by_image = rek.search_users_by_image(CollectionId="boto-users",
                                             Image={"Bytes": image_bytes("images/fr_test_obama1.jpg")})
        assert by_image["UserMatches"][0]["User"]["UserId"] == "obama"
        users = rek.get_paginator("list_users").paginate(CollectionId="boto-users").build_full_result()["Users"]
        assert users == [{"UserId": "obama", "UserStatus": "ACTIVE"}]
        rek.disassociate_faces(CollectionId="boto-users", UserId="obama", FaceIds=ids[:1])
        rek.tag_resource(ResourceArn=arn, Tags={"env": "test"})
        rek.untag_resource(ResourceArn=arn, TagKeys=["team"])
        assert rek.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"env": "test"}
        with pytest.raises(rek.exceptions.ResourceNotFoundException):
            rek.list_tags_for_resource(ResourceArn=arn.replace("us-east-1", "eu-west-1"))
        rek.delete_user(CollectionId="boto-users", UserId="obama")
        with pytest.raises(rek.exceptions.ResourceNotFoundException):
            rek.delete_user(CollectionId="boto-users", UserId="obama")
    finally:
        rek.delete_collection(CollectionId="boto-users")
    assert dropped.check() >= {"CreateUser", "AssociateFaces", "DescribeCollection", "ListFaces", "SearchUsers",
                               "SearchUsersByImage", "ListUsers", "DisassociateFaces", "TagResource",
                               "UntagResource", "ListTagsForResource", "DeleteUser"}
