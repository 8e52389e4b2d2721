"""A throwaway PostgreSQL server for the tests: Debian's PostgreSQL 15 binaries, a temporary data folder, a free
loopback port, started as the ``postgres`` user (``initdb`` refuses root) and stopped by its pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from tests.support.endpoint import free_port

BIN = Path(os.environ.get("FACELENS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> bool:
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


def _as_postgres(argv, **kwargs):
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


class PostgresServer:
    """``start()`` → a running server; ``url(db)`` → a ``postgresql://`` URL; ``stop()`` by pid."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="facelens-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self.pid: Optional[int] = None
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def start(self) -> PostgresServer:
        _as_postgres([str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--no-sync"])
        self.launch()
        return self

    def launch(self) -> None:
        """Starts (or restarts) the server on its data folder; a new port only the first time."""
        self.port = self.port or free_port()
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=on -c max_connections=200 "
                   "-c shared_buffers=64MB")
        _as_postgres([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options,
                      "-w", "-t", "60", "start"])
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def kill(self) -> None:
        """Stops the server at once (SIGQUIT to the postmaster: immediate shutdown, as a crash would)."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGQUIT)
        except ProcessLookupError:
            pass
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.pid = None

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)  # fast shutdown
                deadline = time.time() + 30
                while time.time() < deadline:
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)
