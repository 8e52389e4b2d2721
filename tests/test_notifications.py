"""Video job completion messages in SNS's envelope: the file sink, and the webhook sink against a real HTTP server
on loopback (a 500 then a 200: delivered on the second try; a dead URL: dropped after the bound, the job is
unaffected)."""

from __future__ import annotations

import datetime
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import facelens
from facelens.settings import Settings, parse_webhooks
from facelens.video.notify import BACKOFF_S, Notifier
from tests.support.data import data_path

pytest.importorskip("av")

BUCKET, VIDEO = "videos", "pyfeat_single_face.mp4"
ROLE = "arn:aws:iam::123456789012:role/rekognition"
MESSAGE_KEYS = {"JobId", "Status", "API", "JobTag", "Timestamp", "Video"}
ENVELOPE_KEYS = ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
                 "SigningCertURL", "UnsubscribeURL"]


class Hook:
    """An HTTP server on a free loopback port that answers POSTs with the statuses it is given, in turn (the last
    one from then on), and records each request's headers and body."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = hook.statuses.pop(0) if len(hook.statuses) > 1 else hook.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _dead_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}/sns"


def _client(client, home, **kw):
    c = facelens.Client(home=str(home), video_sample_fps=2.0, **kw)
    c.runtime.use_engine(client.engine)
    c.store.put(BUCKET, VIDEO, data_path(f"videos/{VIDEO}").read_bytes())
    return c


def _job(c, topic, tag):
    job = c.start_face_detection(Video={"S3Object": {"Bucket": BUCKET, "Name": VIDEO}}, JobTag=tag,
                                 NotificationChannel={"SNSTopicArn": topic, "RoleArn": ROLE})["JobId"]
    assert c.wait_for_video_job(job, timeout=120) == "SUCCEEDED"
    return job


def _wait(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def _check_envelope(body, topic, job, tag, finished_after):
    assert list(body) == ENVELOPE_KEYS
    assert body["Type"] == "Notification" and body["TopicArn"] == topic and body["SignatureVersion"] == "1"
    uuid.UUID(body["MessageId"])
    sent = datetime.datetime.strptime(body["Timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert finished_after - 1 <= sent.timestamp() <= time.time() + 1
    message = json.loads(body["Message"])  # a JSON string, as SNS delivers it
    assert set(message) == MESSAGE_KEYS
    assert message["JobId"] == job and message["Status"] == "SUCCEEDED" and message["JobTag"] == tag
    assert message["API"] == "StartFaceDetection" and message["Video"] == {"S3ObjectName": VIDEO, "S3Bucket": BUCKET}
    assert finished_after * 1000 - 1000 <= message["Timestamp"] <= time.time() * 1000


@pytest.mark.data
def test_file_sink_holds_the_sns_envelope(client, tmp_path):
    topic = "arn:aws:sns:us-east-1:123456789012:facelens-file"
    c = _client(client, tmp_path)
    try:
        started = time.time()
        job = _job(c, topic, "file-sink")
        path = tmp_path / "sns" / "facelens-file.jsonl"
        _wait(path.exists)
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(lines) == 1
        _check_envelope(lines[0], topic, job, "file-sink", started)
    finally:
        c.close()


@pytest.mark.data
def test_webhook_retries_after_a_500_then_delivers(client, tmp_path):
    topic = "arn:aws:sns:us-east-1:123456789012:facelens-hook"
    hook = Hook([500, 200])
    c = _client(client, tmp_path, notification_webhooks={topic: hook.url}, webhook_attempts=3, webhook_timeout=5)
    try:
        started = time.time()
        job = _job(c, topic, "webhook")
        notifier = c.video.notifier
        _wait(lambda: notifier.deliveries)
        delivery = notifier.deliveries[0]
        assert delivery.delivered and delivery.attempts == 2 and len(hook.requests) == 2
        for headers, raw in hook.requests:  # the same message both times, as SNS retries it
            body = json.loads(raw)
            _check_envelope(body, topic, job, "webhook", started)
            assert headers["x-amz-sns-message-type"] == "Notification"
            assert headers["x-amz-sns-message-id"] == body["MessageId"] == delivery.message_id
            assert headers["x-amz-sns-topic-arn"] == topic
            assert headers["x-amz-sns-subscription-arn"].startswith(topic + ":")
            assert headers["content-type"].startswith("text/plain")
        assert hook.requests[0][1] == hook.requests[1][1]
        # the file sink got the same message
        line = json.loads((tmp_path / "sns" / "facelens-hook.jsonl").read_text().splitlines()[0])
        assert line["MessageId"] == delivery.message_id
    finally:
        c.close()
        hook.close()


@pytest.mark.data
def test_dead_webhook_gives_up_after_the_bound_and_the_job_is_unaffected(client, tmp_path):
    topic = "arn:aws:sns:us-east-1:123456789012:facelens-dead"
    c = _client(client, tmp_path, notification_webhooks={"facelens-dead": _dead_url()}, webhook_attempts=3,
                webhook_timeout=1)
    try:
        job = _job(c, topic, "dead")
        finished = time.time()
        notifier = c.video.notifier
        _wait(lambda: notifier.deliveries)
        gave_up = time.time() - finished
        delivery = notifier.deliveries[0]
        assert not delivery.delivered and delivery.attempts == 3 and "refused" in delivery.error.lower()
        assert gave_up < 3 * 1 + BACKOFF_S * (1 + 2) + 2  # three tries of at most 1 s, two waits, some slack
        assert c.get_face_detection(JobId=job)["JobStatus"] == "SUCCEEDED"
        assert (tmp_path / "sns" / "facelens-dead.jsonl").exists()  # the file sink still has it
    finally:
        c.close()


def test_a_hanging_webhook_is_cut_by_the_timeout(tmp_path):
    """An endpoint that accepts the connection and never answers: each try ends at the timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    notifier = Notifier(tmp_path, {"*": url}, attempts=2, timeout=0.3)
    try:
        start = time.time()
        notifier.publish("arn:aws:sns:us-east-1:123456789012:slow", {"JobId": "x"})
        _wait(lambda: notifier.deliveries, timeout=10)
        assert not notifier.deliveries[0].delivered and notifier.deliveries[0].attempts == 2
        assert time.time() - start < 2 * 0.3 + BACKOFF_S + 3  # without the timeout a try would never end
    finally:
        notifier.close()
        listener.close()


def test_webhook_settings():
    arn = "arn:aws:sns:us-east-1:123456789012:done"
    assert parse_webhooks(f"{arn}=http://a.example/x?y=1, other=https://b.example") == {
        arn: "http://a.example/x?y=1", "other": "https://b.example"}
    assert parse_webhooks(json.dumps({"*": "http://h/"})) == {"*": "http://h/"}
    assert parse_webhooks("") == {}
    with pytest.raises(ValueError, match="TOPIC=URL"):
        parse_webhooks("no-url-here")
    with pytest.raises(ValueError, match="JSON"):
        parse_webhooks("{bad")
    settings = Settings.from_env(home="/tmp/x", environ={"FACELENS_SNS_WEBHOOKS": f"{arn}=http://h:1/"})
    assert settings.notification_webhooks == {arn: "http://h:1/"}
    with pytest.raises(ValueError, match="http"):
        Settings.from_env(home="/tmp/x", environ={"FACELENS_SNS_WEBHOOKS": "done=ftp://h/"})
    notifier = Notifier(None, {arn: "http://by-arn/", "done": "http://by-name/", "*": "http://any/"})
    assert notifier.webhook(arn) == "http://by-arn/"
    assert notifier.webhook("arn:aws:sns:eu-west-1:123456789012:done") == "http://by-name/"
    assert notifier.webhook("arn:aws:sns:eu-west-1:123456789012:other") == "http://any/"
