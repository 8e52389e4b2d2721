"""The celebrity gallery in the database: celebrities and their reference descriptors, and the in-memory matrix
used for matching.

- ``add``/``add_images``/``remove`` return only after their transaction is committed: a celebrity and all its
  reference descriptors are stored together or not at all, on either backend.
- The ``gallery`` counter is bumped by every write. Matching keeps the whole gallery in memory (one float32 matrix
  of reference descriptors and the row → celebrity map) and reloads it when the counter in the database differs
  from the one it was built from (one indexed SELECT per match call), so a celebrity added or removed by one
  process is seen by the next match of any other.
- Removing a celebrity removes its references (foreign key, ON DELETE CASCADE) in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _core
from ..collections.index import DIM, vector_blob, vectors_from_blobs
from ..errors import ResourceNotFoundException
from .database import Database, Transaction

ID_ALPHABET = string.digits + string.ascii_letters  # Rekognition's RekognitionUniqueId: [0-9A-Za-z]
ID_LENGTH = 8

@dataclass(frozen=True)
class Celebrity:
    id: str
    name: str
    urls: Tuple[str, ...]
    known_gender: Optional[str]  # "Male" | "Female" | "Nonbinary" | "Unlisted" | None
    reference_count: int  # reference photos (one descriptor each)
    created: float  # epoch seconds

    def as_dict(self) -> Dict[str, object]:
        """The record as ``client.celebrities.list()`` / ``get()`` return it."""
        out: Dict[str, object] = {"Id": self.id, "Name": self.name, "Urls": list(self.urls)}
        if self.known_gender is not None:
            out["KnownGender"] = {"Type": self.known_gender}
        out["ReferenceImageCount"] = self.reference_count
        return out


@dataclass(frozen=True)
class Reference:
    """One reference photo's descriptor, ready to store."""

    image_sha256: str
    vector: np.ndarray  # [128] float32


def image_digest(data: bytes) -> str:
    return hashlib.sha256(bytes(data)).hexdigest()


def not_found(celebrity_id: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The celebrity id: {celebrity_id} does not exist")


_SELECT = ("SELECT c.seq, c.id, c.name, c.urls, c.known_gender, c.created, "
           "(SELECT COUNT(*) FROM refs r WHERE r.celebrity = c.seq) FROM celebrities c")


def _row(row: Sequence[Any]) -> Celebrity:
    return Celebrity(row[1], row[2], tuple(json.loads(row[3])), row[4], int(row[6]), float(row[5]))


class _Snapshot:
    """The gallery as of one database version: reference matrix, row → celebrity, records by id."""

    def __init__(self, version: int, matrix: np.ndarray, owners: List[str], records: Dict[str, Celebrity]) -> None:
        self.version = version
        self.matrix = matrix  # [n, 128] float32, C-contiguous
        self.owners = owners  # celebrity id of each row
        self.records = records


class CelebrityStore:
    """Thread-safe; share one per process and home (each Client holds one)."""

    def __init__(self, db: Database, region: str = "us-east-1") -> None:
        self.db = db
        self.region = region
        self._snapshot: Optional[_Snapshot] = None
        self._snapshot_lock = threading.Lock()

    @staticmethod
    def _bump(c: Transaction) -> None:
        c.execute("UPDATE counters SET value = value + 1 WHERE name='gallery'")

    @staticmethod
    def _version(c: Transaction) -> int:
        return int(c.execute("SELECT value FROM counters WHERE name='gallery'").fetchone()[0])

    # -- writes -----------------------------------------------------------------------------------------------
    def add(self, name: str, urls: Sequence[str], known_gender: Optional[str],
            references: Sequence[Reference]) -> Celebrity:
        """Stores a new celebrity with its reference descriptors (one transaction); returns its record."""
        now = time.time()
        with self.db.write() as c:
            for _ in range(100):  # 62**8 ids: a collision is all but impossible, but never overwrite one
                new_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
                row = c.execute("INSERT INTO celebrities (id, region, name, urls, known_gender, created) "
                                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING seq",
                                (new_id, self.region, name, json.dumps(list(urls)), known_gender, now)).fetchone()
                if row is not None:
                    break
            else:  # pragma: no cover
                raise RuntimeError("could not draw an unused celebrity id")
            self._insert_refs(c, row[0], references)
            self._bump(c)
            return _row(c.execute(_SELECT + " WHERE c.seq=?", (row[0],)).fetchone())

    def add_references(self, celebrity_id: str, references: Sequence[Reference]) -> Celebrity:
        """Adds reference descriptors to a celebrity (a photo it already has, by sha256, is not added again)."""
        with self.db.write() as c:
            row = c.execute("SELECT seq FROM celebrities WHERE id=? AND region=?" + c.for_update,
                            (celebrity_id, self.region)).fetchone()
            if row is None:
                raise not_found(celebrity_id)
            if self._insert_refs(c, row[0], references):
                self._bump(c)
            return _row(c.execute(_SELECT + " WHERE c.seq=?", (row[0],)).fetchone())

    @staticmethod
    def _insert_refs(c: Transaction, seq: int, references: Sequence[Reference]) -> int:
        added = 0
        for ref in references:
            cur = c.execute("INSERT INTO refs (celebrity, image_sha256, vector) VALUES (?, ?, ?) "
                            "ON CONFLICT DO NOTHING", (seq, ref.image_sha256, vector_blob(ref.vector)))
            added += max(cur.rowcount, 0)
        return added

    def remove(self, celebrity_id: str) -> None:
        with self.db.write() as c:
            cur = c.execute("DELETE FROM celebrities WHERE id=? AND region=?", (celebrity_id, self.region))
            if cur.rowcount == 0:
                raise not_found(celebrity_id)
            self._bump(c)

    # -- reads ------------------------------------------------------------------------------------------------
    def get(self, celebrity_id: str) -> Celebrity:
        with self.db.read() as c:
            row = c.execute(_SELECT + " WHERE c.id=? AND c.region=?", (celebrity_id, self.region)).fetchone()
        if row is None:
            raise not_found(celebrity_id)
        return _row(row)

    def list(self) -> List[Celebrity]:
        """Every celebrity, in the order they were added."""
        with self.db.read() as c:
            rows = c.execute(_SELECT + " WHERE c.region=? ORDER BY c.seq", (self.region,)).fetchall()
        return [_row(r) for r in rows]

    # -- matching ---------------------------------------------------------------------------------------------
    def snapshot(self) -> _Snapshot:
        """The in-memory gallery, reloaded if any process changed the database since it was built."""
        with self.db.read() as c:
            version = self._version(c)
        snap = self._snapshot
        if snap is not None and snap.version == version:
            return snap
        with self._snapshot_lock:
            snap = self._snapshot
            if snap is not None and snap.version == version:
                return snap
            with self.db.read() as c:  # one snapshot: the version and the rows agree
                version = self._version(c)
                records = {r[1]: _row(r) for r in c.execute(_SELECT + " WHERE c.region=? ORDER BY c.seq",
                                                            (self.region,))}
                rows = c.execute("SELECT c.id, r.vector FROM refs r JOIN celebrities c ON c.seq = r.celebrity "
                                 "WHERE c.region=? ORDER BY r.seq", (self.region,)).fetchall()
            matrix = vectors_from_blobs(r[1] for r in rows)
            snap = self._snapshot = _Snapshot(version, matrix, [r[0] for r in rows], records)
            return snap

    def nearest(self, vectors: np.ndarray) -> List[Tuple[Optional[Celebrity], float]]:
        """Per descriptor, (the celebrity with the nearest reference descriptor, that L2 distance); (None, inf)
        when the gallery is empty. A celebrity's distance is the minimum over its references, so the nearest
        reference overall names the best celebrity."""
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(-1, DIM)
        snap = self.snapshot()
        out: List[Tuple[Optional[Celebrity], float]] = []
        for v in vectors:
            if len(snap.matrix) == 0:
                out.append((None, float("inf")))
                continue
            idx, dist = _core.search_topk(snap.matrix, v, 1, "l2", None)
            if len(idx) == 0:  # a NaN descriptor
                out.append((None, float("inf")))
                continue
            out.append((snap.records[snap.owners[int(idx[0])]], float(dist[0])))
        return out
