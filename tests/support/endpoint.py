"""The HTTP endpoint for tests and benches: served in a thread of this process (``ThreadedEndpoint``) or by
``facelens serve`` in a child process (``serve_process``), a boto3 client for it, and raw HTTP requests."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

KEY_ID, SECRET = "AKIDFACELENSTEST", "s3cr3t/facelens+key"


def free_port() -> int:
    """A loopback port that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boto(url: str, key: str = "x", secret: str = "y", read_timeout: float = 60, **config: Any):
    """A boto3 rekognition client for the endpoint at ``url`` that never retries."""
    import boto3
    from botocore.config import Config

    return boto3.client("rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout,
                                      **config))


class ThreadedEndpoint:
    """An ASGI app (``facelens.server.create_app(...)``) served by uvicorn on a free loopback port in a daemon
    thread, with the settings ``facelens serve`` uses; ``url``, ``port``, ``stop()``; a context manager too."""

    def __init__(self, app, start_timeout_s: float = 60.0) -> None:
        import uvicorn

        from facelens.server.run import uvicorn_settings

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        settings = uvicorn_settings()
        settings.pop("workers")
        settings["timeout_graceful_shutdown"] = 5
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **settings))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.time() + start_timeout_s
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("the endpoint did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def __enter__(self) -> ThreadedEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve_process(env: Dict[str, str], *args: str, start_timeout_s: float = 120.0) -> Iterator[str]:
    """``facelens serve`` in a child process on a free loopback port with ``env``; yields its URL once it answers
    ListCollections, and stops it by its pid when the block ends."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "facelens", "serve", "--port", str(port), *args], env=env,
                                stderr=log, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + start_timeout_s
            while True:
                try:
                    boto(url).list_collections()
                    break
                except Exception as e:
                    if proc.poll() is not None:
                        log.seek(0)
                        raise RuntimeError(f"facelens serve exited: {log.read()[-2000:].decode()}") from e
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def raw_request(url: str, body: bytes, target: Optional[str] = "RekognitionService.DetectFaces", method: str = "POST",
                headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP request on a new connection, outside botocore: (status, lower-cased headers, body)."""
    host, port = url.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    h = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        h["X-Amz-Target"] = target
    h.update(headers or {})
    conn.request(method, "/", body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def sigv4_headers(body: bytes = b"{}", key: str = KEY_ID, secret: str = SECRET,
                  url: str = "http://127.0.0.1:8087/") -> Dict[str, List[str]]:
    """The headers botocore signs a ListCollections request with, as the server's request object holds them."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest("POST", url, data=body, headers={"X-Amz-Target": "RekognitionService.ListCollections",
                                                     "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(key, secret), "rekognition", "us-east-1").add_auth(req)
    req.headers["Host"] = "127.0.0.1:8087"
    return {k.lower(): [v] for k, v in req.headers.items()}


class DroppedKeys:
    """Records, per call of a boto3 client, the raw JSON body and botocore's parsed dict; ``check()`` asserts that
    botocore kept every key (it silently drops keys its model does not know) and returns the operations seen."""

    def __init__(self, rek) -> None:
        self.calls: List[Tuple[str, Any, Any]] = []
        rek.meta.events.register("after-call.rekognition.*", self._after)

    def _after(self, http_response, parsed, model, **kwargs) -> None:
        if http_response.status_code == 200:
            self.calls.append((model.name, json.loads(http_response.content or b"{}"), parsed))

    @staticmethod
    def missing(raw, parsed, path: str = "") -> List[str]:
        out = []
        if isinstance(raw, dict):
            for key, value in raw.items():
                if not isinstance(parsed, dict) or key not in parsed:
                    out.append(f"{path}.{key}")
                else:
                    out.extend(DroppedKeys.missing(value, parsed[key], f"{path}.{key}"))
        elif isinstance(raw, list):
            for i, item in enumerate(raw):
                out.extend(DroppedKeys.missing(item, parsed[i] if i < len(parsed) else None, f"{path}[{i}]"))
        return out

    def check(self) -> set:
        assert self.calls
        for name, raw, parsed in self.calls:
            assert not self.missing(raw, parsed), (name, self.missing(raw, parsed)[:10])
        return {name for name, _, _ in self.calls}
