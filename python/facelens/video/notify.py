"""Video job completion messages, as Amazon SNS delivers them to a topic's subscribers.

Rekognition publishes {JobId, Status, API, JobTag, Timestamp (epoch ms), Video {S3ObjectName, S3Bucket}} to the
job's NotificationChannel topic; SNS wraps it in its envelope (``Type`` "Notification", ``MessageId``, ``TopicArn``,
``Message`` = that JSON *as a string*, ``Timestamp`` ISO 8601, ``SignatureVersion``, ``Signature``,
``SigningCertURL``, ``UnsubscribeURL``), which is what an SQS queue or an HTTP(S) endpoint subscribed to the topic
receives: ``json.loads(body["Message"])`` reads it as it reads AWS's.

There is no SNS here; facelens delivers the envelope itself, to two sinks:

- a file: one JSON line per message appended to ``<folder>/<topic name>.jsonl`` (``$FACELENS_HOME/sns``), always;
- webhooks: for the topics named in ``Settings.notification_webhooks`` (topic ARN, topic name or ``*`` → URL;
  ``$FACELENS_SNS_WEBHOOKS``), an HTTP(S) POST as an SNS HTTP subscription sends it (the ``x-amz-sns-*`` headers,
  ``text/plain`` body). Delivery runs on a background thread, so a slow or dead endpoint never holds a job: each
  message is tried up to ``webhook_attempts`` times, ``webhook_timeout`` seconds each, waiting 0.5 s, 1 s, 2 s, ...
  between tries (a 2xx ends it); then it is dropped and logged. No SubscriptionConfirmation is sent (configuring the
  URL is the subscription), and the messages are not signed (``Signature`` and ``SigningCertURL`` are empty:
  facelens holds no SNS signing key).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

if TYPE_CHECKING:
    from ..settings import Settings

from ..settings import check_webhooks

log = logging.getLogger("facelens.notify")

BACKOFF_S = 0.5  # the wait before the 2nd try; it doubles before each further one
USER_AGENT = "Amazon Simple Notification Service Agent"
_SUBSCRIPTION_NAMESPACE = uuid.UUID("0b7d3f86-4d0e-5c0e-9f55-2a8e8c7f3b21")


def iso_timestamp(epoch_s: float) -> str:
    """SNS's Timestamp: UTC, milliseconds, ``Z`` (``2026-12-04T16:40:00.123Z``)."""
    moment = datetime.datetime.fromtimestamp(epoch_s, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def subscription_arn(topic_arn: str, url: str) -> str:
    """A stable subscription ARN for a webhook of a topic (SNS: the topic ARN and a UUID)."""
    return f"{topic_arn}:{uuid.uuid5(_SUBSCRIPTION_NAMESPACE, topic_arn + ' ' + url)}"


def envelope(topic_arn: str, message: Mapping[str, Any], published: Optional[float] = None) -> Dict[str, str]:
    """The SNS Notification carrying ``message`` (published at ``published``, epoch seconds, default now)."""
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": json.dumps(message, separators=(",", ":")),
        "Timestamp": iso_timestamp(time.time() if published is None else published),
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": "",
        "UnsubscribeURL": "",
    }


@dataclass(frozen=True)
class Delivery:
    """The outcome of one webhook delivery: how many tries it took, whether one got a 2xx, the last error."""
    url: str
    message_id: str
    attempts: int
    delivered: bool
    error: Optional[str]


class Notifier:
    """Publishes completion messages to the file sink (``folder``, may be None) and the webhooks."""

    def __init__(self, folder: Optional[Path] = None, webhooks: Optional[Mapping[str, str]] = None,
                 attempts: int = 4, timeout: float = 5.0) -> None:
        if attempts < 1 or not timeout > 0:
            raise ValueError("webhook attempts must be >= 1 and timeout > 0")
        self.folder = Path(folder) if folder is not None else None
        self.webhooks = dict(webhooks or {})
        check_webhooks(self.webhooks)
        self.attempts = int(attempts)
        self.timeout = float(timeout)
        self.deliveries: List[Delivery] = []  # the outcome of every webhook delivery, in order of completion
        self._lock = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._closed = threading.Event()

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls(settings.home / "sns", settings.notification_webhooks, settings.webhook_attempts,
                   settings.webhook_timeout)

    def webhook(self, topic_arn: str) -> Optional[str]:
        """The URL subscribed to a topic: by ARN, else by topic name, else ``*``."""
        name = topic_arn.rsplit(":", 1)[-1]
        return self.webhooks.get(topic_arn) or self.webhooks.get(name) or self.webhooks.get("*")

    def publish(self, topic_arn: str, message: Mapping[str, Any]) -> Dict[str, str]:
        """Writes the envelope to the file sink and queues it for the topic's webhook; returns the envelope."""
        body = envelope(topic_arn, message)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = topic_arn.rsplit(":", 1)[-1]
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "topic"
            with self._lock, open(self.folder / f"{safe}.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(body) + "\n")
        url = self.webhook(topic_arn)
        if url is not None and not self._closed.is_set():
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="facelens-sns")
                pool = self._pool
            pool.submit(self._deliver, url, topic_arn, body)
        return body

    def _deliver(self, url: str, topic_arn: str, body: Dict[str, str]) -> Delivery:
        data = json.dumps(body, indent=2).encode()
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": USER_AGENT,
            "x-amz-sns-message-type": body["Type"],
            "x-amz-sns-message-id": body["MessageId"],
            "x-amz-sns-topic-arn": topic_arn,
            "x-amz-sns-subscription-arn": subscription_arn(topic_arn, url),
            "x-amz-sns-rawdelivery": "false",
        }
        error = None
        tries = 0
        for tries in range(1, self.attempts + 1):
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                    if 200 <= response.status < 300:
                        return self._done(Delivery(url, body["MessageId"], tries, True, None))
                    error = f"HTTP {response.status}"
            except urllib.error.HTTPError as e:
                error = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError, ValueError) as e:
                error = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            if tries < self.attempts and self._closed.wait(BACKOFF_S * 2 ** (tries - 1)):
                break  # closing: no more waiting
        log.warning("SNS notification %s to %s dropped after %d tries: %s", body["MessageId"], url, tries, error)
        return self._done(Delivery(url, body["MessageId"], tries, False, error))

    def _done(self, delivery: Delivery) -> Delivery:
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def close(self, wait: bool = True) -> None:
        """Stops taking messages; with ``wait``, lets queued deliveries finish their current try (retries are cut
        short)."""
        self._closed.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)
