"""Everything configurable about a facelens process, in one object built once from arguments and environment.

``Settings.from_env(**arguments)`` is the one place that reads facelens's environment variables: an argument given
(not None) wins over its variable, which wins over the default. The object is plain data (picklable), so a job
or batch item can carry it to another process or host and build the same services there
(``runtime.Runtime(settings)``).

| setting | argument / variable | default |
|---|---|---|
| home | ``home`` / ``FACELENS_HOME`` | ``~/.facelens`` |
| threads | ``threads`` / ``FACELENS_THREADS`` | the CPU count, at most 4 |
| precision | ``precision`` / ``FACELENS_PRECISION`` | ``int8`` (the int8 networks that hold their accuracy), ``fp32``, ``int8-all`` |
| execution providers | ``providers`` / ``FACELENS_PROVIDERS`` (comma-separated) | the CPU alone |
| database | ``database_url`` / ``FACELENS_DATABASE_URL`` | ``sqlite:///<home>/facelens.sqlite3`` |
| database wait | ``database_timeout`` / ``FACELENS_DATABASE_TIMEOUT`` | 10 s |
| object store | ``object_store`` / ``FACELENS_OBJECT_STORE`` | ``local`` (``<home>/s3/<Bucket>/<Name>``) or ``s3`` |
| detector's first look | ``detector_first_look`` / ``FACELENS_DETECTOR_FIRST_LOOK=0`` turns it off | on: every image is first scanned at 320 px, and scanned in full only where that look is not sure (small or faint faces, or none) |
| video sampling | ``video_sample_fps`` / ``FACELENS_VIDEO_SAMPLE_FPS`` | 5 frames per second of video |
| region | ``region_name`` / ``FACELENS_REGION`` | ``us-east-1`` (the HTTP endpoint uses each request's signed region) |
| account in ARNs | ``account_id`` / ``FACELENS_ACCOUNT_ID`` | ``000000000000`` |
| video job runner | ``job_runner`` / ``FACELENS_JOB_RUNNER`` | ``local`` (threads here) or ``ray`` (``ray_address`` or Ray's ``RAY_ADDRESS``) |
| job lease | ``job_lease_s`` / ``FACELENS_JOB_LEASE_S`` | 30 s without news from its worker before a job is run again |
| video job notification webhooks | ``notification_webhooks`` / ``FACELENS_SNS_WEBHOOKS`` | none (the file sink only) |
| webhook tries, seconds per try | ``webhook_attempts``, ``webhook_timeout`` | 4, 5 s |

``notification_webhooks`` maps an SNS topic (its ARN, its name, or ``*`` for every topic) to the http(s) URL that
gets the completion messages of the video jobs notifying it, as an SNS HTTP subscription would
(``video/notify.py``); ``FACELENS_SNS_WEBHOOKS`` holds it as a JSON object or as ``topic=url,topic=url``.

The HTTP endpoint's own settings are a ``ServerSettings`` (``ServerSettings.from_env()``, same rule):

| setting | argument / variable | default |
|---|---|---|
| SigV4 keys | ``access_key_id``, ``secret_access_key`` / ``FACELENS_ACCESS_KEY_ID``, ``FACELENS_SECRET_ACCESS_KEY`` | none: requests are not verified |
| request body limit | ``max_body`` / ``FACELENS_MAX_BODY`` | 8 MiB |
| header deadline | ``header_timeout`` / ``FACELENS_HEADER_TIMEOUT`` | 10 s |
| requests in flight | ``max_requests`` / ``FACELENS_MAX_REQUESTS`` | 256 (503 beyond) |
| connections held | ``max_connections`` / ``FACELENS_MAX_CONNECTIONS`` | 4096 (lowered to fit the file limit) |

The S3 object store is configured the way every AWS tool is (boto3 reads it): the standard credential chain,
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for an S3-compatible server, ``AWS_REGION``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from .models import registry

OBJECT_STORES = ("local", "s3")
JOB_RUNNERS = ("local", "ray")
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
DEFAULT_DATABASE_FILE = "facelens.sqlite3"


def parse_webhooks(value: Optional[str]) -> Dict[str, str]:
    """``$FACELENS_SNS_WEBHOOKS``: a JSON object {topic: url} or ``topic=url,topic=url`` (topic: an ARN, a topic
    name or ``*``; split at the first ``=``, which no topic contains)."""
    if not value or not value.strip():
        return {}
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as e:
            raise ValueError(f"FACELENS_SNS_WEBHOOKS is not valid JSON: {e}") from None
        if not isinstance(parsed, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in parsed.items()):
            raise ValueError("FACELENS_SNS_WEBHOOKS must be a JSON object of topic → URL strings")
        return dict(parsed)
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        topic, sep, url = item.partition("=")
        if not sep or not topic.strip() or not url.strip():
            raise ValueError(f"FACELENS_SNS_WEBHOOKS: {item!r} is not TOPIC=URL")
        out[topic.strip()] = url.strip()
    return out


def check_webhooks(webhooks: Mapping[str, str]) -> None:
    for topic, url in webhooks.items():
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"notification webhook of {topic!r} must be an http:// or https:// URL; got {url!r}")


def _default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Settings:
    home: Path
    threads: int
    database_url: str
    database_timeout: float = 10.0
    object_store: str = "local"
    detector_max_side: int = 640
    detector_first_look: bool = True
    video_sample_fps: float = 5.0
    video_workers: int = 1
    region: str = "us-east-1"
    account_id: str = "000000000000"
    job_runner: str = "local"
    ray_address: Optional[str] = None
    job_lease_s: float = 30.0
    precision: str = "int8"
    providers: Tuple[str, ...] = ("CPUExecutionProvider",)
    notification_webhooks: Mapping[str, str] = field(default_factory=dict)  # SNS topic (ARN, name, *) -> URL
    webhook_attempts: int = 4
    webhook_timeout: float = 5.0
    extra: Mapping[str, Any] = field(default_factory=dict)  # options of optional parts (e.g. the S3 endpoint)

    @classmethod
    def from_env(cls, home: Union[str, os.PathLike, None] = None, threads: Optional[int] = None,
                 database_url: Optional[str] = None, database_timeout: Optional[float] = None,
                 object_store: Optional[str] = None, detector_max_side: Optional[int] = None,
                 detector_first_look: Optional[bool] = None,
                 video_sample_fps: Optional[float] = None, video_workers: Optional[int] = None,
                 region_name: Optional[str] = None, account_id: Optional[str] = None,
                 job_runner: Optional[str] = None, ray_address: Optional[str] = None,
                 job_lease_s: Optional[float] = None, precision: Optional[str] = None,
                 providers: Optional[Sequence[str]] = None,
                 notification_webhooks: Optional[Mapping[str, str]] = None, webhook_attempts: Optional[int] = None,
                 webhook_timeout: Optional[float] = None, environ: Optional[Mapping[str, str]] = None,
                 **extra: Any) -> Settings:
        env = os.environ if environ is None else environ
        home_path = Path(home) if home is not None else (
            Path(env["FACELENS_HOME"]) if env.get("FACELENS_HOME") else Path.home() / ".facelens")
        if threads is None:
            threads = int(env["FACELENS_THREADS"]) if env.get("FACELENS_THREADS") else _default_threads()
        database_url = database_url or env.get("FACELENS_DATABASE_URL") or \
            f"sqlite:///{home_path / DEFAULT_DATABASE_FILE}"
        if database_timeout is None:
            database_timeout = float(env.get("FACELENS_DATABASE_TIMEOUT") or 10.0)
        object_store = (object_store or env.get("FACELENS_OBJECT_STORE") or "local").lower()
        if object_store == "s3" and "s3" not in extra and env.get("AWS_REGION"):
            extra["s3"] = {"region_name": env["AWS_REGION"]}  # boto3 itself reads only AWS_DEFAULT_REGION
        if notification_webhooks is None:
            notification_webhooks = parse_webhooks(env.get("FACELENS_SNS_WEBHOOKS"))
        settings = cls(
            home=home_path, threads=max(1, int(threads)), database_url=database_url,
            database_timeout=float(database_timeout), object_store=object_store,
            detector_max_side=640 if detector_max_side is None else int(detector_max_side),
            detector_first_look=bool(detector_first_look) if detector_first_look is not None else
            (env.get("FACELENS_DETECTOR_FIRST_LOOK") or "1").lower() not in ("0", "false", "no", "off"),
            video_sample_fps=float(video_sample_fps if video_sample_fps is not None
                                   else env.get("FACELENS_VIDEO_SAMPLE_FPS") or 5.0),
            video_workers=1 if video_workers is None else int(video_workers),
            region=region_name or env.get("FACELENS_REGION") or "us-east-1",
            account_id=account_id or env.get("FACELENS_ACCOUNT_ID") or "000000000000",
            job_runner=(job_runner or env.get("FACELENS_JOB_RUNNER") or "local").lower(), ray_address=ray_address,
            job_lease_s=float(job_lease_s if job_lease_s is not None else env.get("FACELENS_JOB_LEASE_S") or 30.0),
            precision=registry.resolve_precision(precision or env.get("FACELENS_PRECISION") or None),
            providers=registry.resolve_providers(
                providers if providers is not None else
                [p.strip() for p in env.get("FACELENS_PROVIDERS", "").split(",") if p.strip()]),
            notification_webhooks=dict(notification_webhooks),
            webhook_attempts=4 if webhook_attempts is None else int(webhook_attempts),
            webhook_timeout=5.0 if webhook_timeout is None else float(webhook_timeout), extra=dict(extra),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.object_store not in OBJECT_STORES:
            raise ValueError(f"object_store must be one of {', '.join(OBJECT_STORES)}; got {self.object_store!r}")
        if not self.database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("database_url must be sqlite:///PATH or postgresql://USER@HOST:PORT/DB; got "
                             f"{self.database_url.split('://')[0]}://...")
        if not self.video_sample_fps > 0:
            raise ValueError("video_sample_fps must be > 0")
        if self.video_workers < 1:
            raise ValueError("video_workers must be >= 1")
        if self.database_timeout <= 0:
            raise ValueError("database_timeout must be > 0")
        if self.job_runner not in JOB_RUNNERS:
            raise ValueError(f"job_runner must be one of {', '.join(JOB_RUNNERS)}; got {self.job_runner!r}")
        if not self.job_lease_s > 0:
            raise ValueError("job_lease_s must be > 0")
        if not REGION_PATTERN.fullmatch(self.region):
            raise ValueError(f"region_name must look like an AWS region (us-east-1); got {self.region!r}")
        if not re.fullmatch(r"\d{12}", self.account_id):
            raise ValueError(f"account_id must be 12 digits; got {self.account_id!r}")
        if self.webhook_attempts < 1 or not self.webhook_timeout > 0:
            raise ValueError("webhook_attempts must be >= 1 and webhook_timeout > 0")
        check_webhooks(self.notification_webhooks)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


# bytes of a request body: a 5 MB image is 6.99 MB in base64, and the rest of the JSON fits; larger Bytes that still
# fit get ImageTooLargeException from the client, as from AWS
DEFAULT_MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = None
    max_body: int = DEFAULT_MAX_BODY
    header_timeout: float = 10.0
    max_requests: int = 256
    max_connections: int = 4096

    @classmethod
    def from_env(cls, access_key_id: Optional[str] = None, secret_access_key: Optional[str] = None,
                 max_body: Optional[int] = None, header_timeout: Optional[float] = None,
                 max_requests: Optional[int] = None, max_connections: Optional[int] = None,
                 environ: Optional[Mapping[str, str]] = None) -> ServerSettings:
        env = os.environ if environ is None else environ

        def pick(value: Any, variable: str, default: Any, kind: Any) -> Any:
            if value is not None:
                return kind(value)
            text = env.get(variable)
            if not text:
                return default
            try:
                return kind(text)
            except ValueError:
                raise ValueError(f"{variable} must be a number; got {text!r}") from None

        settings = cls(
            access_key_id=access_key_id or env.get("FACELENS_ACCESS_KEY_ID") or None,
            secret_access_key=secret_access_key or env.get("FACELENS_SECRET_ACCESS_KEY") or None,
            max_body=pick(max_body, "FACELENS_MAX_BODY", DEFAULT_MAX_BODY, int),
            header_timeout=pick(header_timeout, "FACELENS_HEADER_TIMEOUT", 10.0, float),
            max_requests=pick(max_requests, "FACELENS_MAX_REQUESTS", 256, int),
            max_connections=pick(max_connections, "FACELENS_MAX_CONNECTIONS", 4096, int),
        )
        settings.check()
        return settings

    @property
    def keys(self) -> Dict[str, str]:
        """Access key id -> secret; empty when requests are not verified."""
        if self.access_key_id and self.secret_access_key:
            return {self.access_key_id: self.secret_access_key}
        return {}

    def check(self) -> None:
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("give both the access key id and the secret access key, or neither")
        if self.max_body < 1 or not self.header_timeout > 0 or self.max_requests < 1 or self.max_connections < 1:
            raise ValueError("max_body, header_timeout, max_requests and max_connections must be > 0")
