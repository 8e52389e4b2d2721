"""Everything facelens stores — collections, faces and their descriptors, the celebrity gallery, video jobs, their
results and progress, the pagination secret — in one database, chosen by URL:

- ``sqlite:///PATH`` (the default, ``<home>/facelens.sqlite3``): embedded, nothing to start (``sqlite.py``);
- ``postgresql://USER@HOST:PORT/DB``: PostgreSQL 15+ through psycopg 3 and a pool, shared by any number of
  processes and hosts (``postgres.py``).

The stores (``collections.py``, ``celebrities.py``, ``jobs.py``) are written once against ``database.Database``;
``schema.py`` holds the versioned schema and applies its migrations when a database is opened.
"""

from __future__ import annotations

from pathlib import Path

from .database import Database, DatabaseUnavailable
from .schema import migrate, token_secret


def open_database(url: str, timeout: float = 10.0) -> Database:
    """The database at ``url``, migrated to the current schema."""
    db: Database
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteDatabase

        db = SQLiteDatabase(Path(url[len("sqlite:///"):]), busy_timeout=max(60.0, timeout))
    elif url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresDatabase

        db = PostgresDatabase(url, timeout=timeout)
    else:
        raise ValueError(f"unsupported database URL {url.split('://')[0]}://... (sqlite:/// or postgresql://)")
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


__all__ = ["Database", "DatabaseUnavailable", "open_database", "token_secret"]
