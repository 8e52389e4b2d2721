"""The server backend: PostgreSQL 15+ through psycopg 3 and a connection pool.

- Writes run at READ COMMITTED and lock the row they change first (``tx.for_update``: the collection, the job), so
  writers of one collection are serialised and commit in the order of the rows they insert — what lets a search
  index load only the rows after the last one it has. Reads run at REPEATABLE READ, READ ONLY: one snapshot.
- Durability is the server's (``synchronous_commit`` on, its default): a call returns after COMMIT, so a killed
  facelens process loses nothing it acknowledged, and a killed transaction is rolled back by the server.
- The pool checks a connection before handing it out (one round trip, skipped when it finished a transaction less
  than a second ago) and reconnects in the background; when the server is down
  a call waits at most ``timeout`` seconds for a connection and then raises ``DatabaseUnavailable`` (HTTP 500). A
  connection that breaks mid-transaction rolls it back (nothing half-written) and the error is the same.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import weakref
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, List, Sequence

from .database import Database, DatabaseUnavailable, Transaction

_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
RECHECK_S = 1.0


class _PostgresTransaction(Transaction):
    for_update = " FOR UPDATE"

    def __init__(self, conn: Any, translate: Callable[[str], str]) -> None:
        self.conn = conn
        self._translate = translate

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self._translate(sql), list(rows))


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, timeout: float = 10.0, max_connections: int = 8) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._psycopg = psycopg
        self.url = url
        self.timeout = float(timeout)
        self._sql: Dict[str, str] = {}
        self._sql_lock = threading.Lock()
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, timeout=self.timeout, open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(min(self.timeout, 5)))},
            check=self._check, reconnect_timeout=0, name="facelens",
        )
        self._last_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._pool.open(wait=False)
        _OPEN.add(self)

    def _check(self, conn: Any) -> None:
        """The pool's check before handing a connection out: a round trip to the server, skipped for a connection
        that completed a transaction less than ``RECHECK_S`` ago (a search makes several in a row)."""
        from psycopg_pool import ConnectionPool

        if time.monotonic() - self._last_used.get(conn, 0.0) > RECHECK_S:
            ConnectionPool.check_connection(conn)

    def _translate(self, sql: str) -> str:
        out = self._sql.get(sql)
        if out is None:
            out = sql.replace("%", "%%").replace("?", "%s")
            with self._sql_lock:
                self._sql[sql] = out
        return out

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled connection (autocommit); the pool's and the driver's connection errors as DatabaseUnavailable."""
        from psycopg_pool import PoolTimeout

        psycopg = self._psycopg
        try:
            with self._pool.connection() as conn:
                yield conn
                self._last_used[conn] = time.monotonic()
        except PoolTimeout:
            raise DatabaseUnavailable(
                f"The database at {self.describe()} did not answer within {self.timeout:g} s.") from None
        except psycopg.OperationalError as e:
            raise DatabaseUnavailable(f"The database at {self.describe()} is unavailable: "
                                      f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None

    @contextmanager
    def _transaction(self, read_only: bool) -> Iterator[Transaction]:
        with self._connection() as conn:
            # one statement opens the transaction (a read: one snapshot, REPEATABLE READ); a round trip saved
            # on every call against BEGIN + SET TRANSACTION
            conn.execute(_BEGIN_READ if read_only else "BEGIN")
            try:
                yield _PostgresTransaction(conn, self._translate)
            except BaseException:
                if not conn.closed:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> List[Any]:
        with self._connection() as conn:  # autocommit: the statement is its own transaction and snapshot
            return conn.execute(self._translate(sql), params).fetchall()

    def write(self) -> AbstractContextManager[Transaction]:
        return self._transaction(read_only=False)

    def read(self) -> AbstractContextManager[Transaction]:
        return self._transaction(read_only=True)

    def describe(self) -> str:
        from psycopg.conninfo import conninfo_to_dict

        try:
            info = conninfo_to_dict(self.url)
        except Exception:
            return "postgresql"
        return f"postgresql://{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"

    def close(self) -> None:
        self._pool.close()

    def __del__(self) -> None:
        # A database dropped without close(): close its pool from a thread of its own, since the collection may
        # run on one of the pool's worker threads, which the pool's own finaliser would try to join. At exit the
        # atexit hook below has closed it already.
        pool = getattr(self, "_pool", None)
        if pool is not None and not pool.closed and not sys.is_finalizing():
            threading.Thread(target=pool.close, kwargs={"timeout": 5}, daemon=True).start()


_OPEN: weakref.WeakSet[PostgresDatabase] = weakref.WeakSet()


@atexit.register
def _close_open_databases() -> None:
    for db in list(_OPEN):
        db.close()
