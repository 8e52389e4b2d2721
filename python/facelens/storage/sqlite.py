"""The embedded backend: one SQLite file shared by the threads (a connection each) and processes (WAL) of facelens.

Writes are ``BEGIN IMMEDIATE`` transactions (one writer at a time; the others wait up to ``busy_timeout``
seconds), reads are snapshots that never block. ``synchronous=FULL``: a transaction is acknowledged only after the
WAL is fsync'ed, so neither a killed process nor a power cut loses it; a writer killed mid-transaction leaves
nothing behind (SQLite rolls it back on the next open).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Sequence

from .database import Database, DatabaseUnavailable, Transaction


class _SQLiteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path, busy_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._enable_wal()

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode: transactions are explicit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout, isolation_level=None)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _enable_wal(self) -> None:
        conn = self.conn()
        deadline = time.monotonic() + self.busy_timeout
        while True:  # switching to WAL needs a moment alone with the file; the setting then persists
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode for {self.path} (got {mode!r})")

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        conn = self.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:  # "database is locked" after busy_timeout
            raise DatabaseUnavailable(f"The database {self.path} is busy: {e}") from None
        try:
            yield _SQLiteTransaction(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield _SQLiteTransaction(conn)
        finally:
            conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> List[Any]:
        return self.conn().execute(sql, params).fetchall()  # autocommit: the statement is its own snapshot

    def close(self) -> None:
        """Closes this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
