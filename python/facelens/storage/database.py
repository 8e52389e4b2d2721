"""What the stores need from a database, whichever server holds it.

A ``Database`` hands out transactions: ``write()`` (one at a time per locked row or, on SQLite, per file) and
``read()`` (a consistent snapshot that never blocks writers), and ``query(sql, params)`` runs one read-only
statement on its own. Inside one, ``tx.execute(sql, params)`` takes SQL
with ``?`` placeholders written in the subset SQLite 3.35+ and PostgreSQL 15 share (``RETURNING``, ``ON CONFLICT
DO NOTHING``); the backend translates placeholders. Where the two differ the backend supplies the piece:
``tx.for_update`` (a row lock in a write transaction; nothing on SQLite, whose writers are already serialised).

Every error that means "the database cannot be reached or answered" leaves a backend as
``DatabaseUnavailable`` (an ``InternalServerError``, HTTP 500, which botocore retries); a write that fails that way
was rolled back, never half applied.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, Iterable, List, Sequence

from ..errors import InternalServerError


class DatabaseUnavailable(InternalServerError):
    """The database could not be reached, or stopped answering, within the configured wait."""


class Transaction(ABC):
    """One open transaction: ``execute``/``executemany`` with ``?`` placeholders."""

    for_update = ""  # appended to a SELECT in a write transaction to lock the rows it reads

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Runs one statement; a DB-API cursor."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Runs one statement for each row of parameters."""


class Database(ABC):
    """Base of the backends (``storage.sqlite.SQLiteDatabase``, ``storage.postgres.PostgresDatabase``)."""

    dialect = ""  # "sqlite" | "postgresql": picks the DDL of each migration
    url = ""

    @abstractmethod
    def write(self) -> AbstractContextManager[Transaction]:
        """A write transaction (committed when the block ends, rolled back if it raises)."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Transaction]:
        """A read-only snapshot."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> List[Any]:
        """The rows of one read-only statement, which is its own snapshot: no transaction around it, so one round
        trip to a server (the hot read paths)."""
        with self.read() as c:
            return c.execute(sql, params).fetchall()

    def close(self) -> None:  # noqa: B027 (a backend without connections to release keeps it)
        """Releases this process's connections (the data stays)."""

    def describe(self) -> str:
        """Where the data is, for messages and ``facelens info``."""
        return self.url
