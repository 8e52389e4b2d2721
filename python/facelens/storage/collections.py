"""Face collections in the database: their records, faces and descriptors, and the in-memory index of each.

Durability and concurrency (either backend, see ``storage/sqlite.py`` and ``storage/postgres.py``)
- A face is acknowledged (IndexFaces returns) only after its transaction is committed: neither a killed process
  nor (SQLite FULL sync; PostgreSQL's own) a power cut loses an acknowledged face; a writer killed
  mid-transaction leaves nothing behind.
- Every write locks its collection's row first, so writers of one collection are serialised (across threads,
  processes and hosts) and its faces' ``seq`` numbers commit in order; reads run in a snapshot and never block.
- Each collection row carries ``version`` (bumped by every change of its faces) and ``purge`` (bumped by every
  deletion of faces). Before a search the in-memory index compares them with the database (one indexed
  SELECT): a new version with the same purge loads only the faces added since (rows after the last ``seq``
  loaded); a new purge rebuilds the index. So a face stored by one process is found by the next search of any
  other, on any host sharing the database.
- Deleting a collection deletes its faces (foreign key, ON DELETE CASCADE) in the same transaction.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ResourceAlreadyExistsException, ResourceNotFoundException
from ..collections.index import DIM, VectorIndex, vector_blob, vectors_from_blobs
from .database import Database, Transaction

_FACE_COLUMNS = (
    "face_id, image_id, external_image_id, box_left, box_top, box_width, box_height, confidence, model_version"
)


@dataclass(frozen=True)
class StoredFace:
    face_id: str
    image_id: str
    external_image_id: Optional[str]
    box: Tuple[float, float, float, float]  # Left, Top, Width, Height (ratios)
    confidence: float  # 0..100
    model_version: str


@dataclass(frozen=True)
class NewFace:
    box: Tuple[float, float, float, float]  # Left, Top, Width, Height (ratios)
    confidence: float
    vector: np.ndarray  # [128] float32


@dataclass(frozen=True)
class CollectionInfo:
    rid: int
    name: str
    created: float  # epoch seconds
    face_model_version: str
    face_count: int


def _row_face(row) -> StoredFace:
    return StoredFace(row[0], row[1], row[2], (row[3], row[4], row[5], row[6]), row[7], row[8])


def _not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The collection id: {name} does not exist")


def _same_box(a: Sequence[float], b: Sequence[float]) -> bool:
    """Two boxes of the same face of the same image (the pipeline is deterministic; allow float noise)."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return union > 0 and inter / union > 0.9


class CollectionStore:
    """Thread-safe; share one per process and home (each Client holds one)."""

    def __init__(self, db: Database, face_model_version: str) -> None:
        self.db = db
        self.face_model_version = face_model_version
        self._indexes: Dict[int, VectorIndex] = {}
        self._indexes_lock = threading.Lock()

    # -- collections ------------------------------------------------------------------------------------------
    def create(self, name: str) -> CollectionInfo:
        now = time.time()
        with self.db.write() as c:
            row = c.execute("INSERT INTO collections (name, created, face_model_version) VALUES (?, ?, ?) "
                            "ON CONFLICT DO NOTHING RETURNING rid", (name, now, self.face_model_version)).fetchone()
        if row is None:
            raise ResourceAlreadyExistsException(f"The collection id: {name} already exists")
        return CollectionInfo(int(row[0]), name, now, self.face_model_version, 0)

    def delete(self, name: str) -> None:
        with self.db.write() as c:
            row = c.execute("DELETE FROM collections WHERE name=? RETURNING rid", (name,)).fetchone()
            if row is None:
                raise _not_found(name)
        with self._indexes_lock:
            self._indexes.pop(row[0], None)

    def describe(self, name: str) -> CollectionInfo:
        with self.db.read() as c:
            return self._info(c, name)

    def _info(self, c: Transaction, name: str, lock: bool = False) -> CollectionInfo:
        """The collection's record; ``lock``: and its row locked until the write transaction ends."""
        row = c.execute("SELECT rid, name, created, face_model_version, face_count FROM collections WHERE name=?"
                        + (c.for_update if lock else ""), (name,)).fetchone()
        if row is None:
            raise _not_found(name)
        return CollectionInfo(*row)

    def list(self, after: int, limit: int) -> Tuple[List[CollectionInfo], Optional[int]]:
        """Collections in creation order after position ``after``; the position to continue from, if any."""
        with self.db.read() as c:
            rows = c.execute("SELECT rid, name, created, face_model_version, face_count FROM collections "
                             "WHERE rid > ? ORDER BY rid LIMIT ?", (after, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return [CollectionInfo(*r) for r in rows], (rows[-1][0] if more and rows else None)

    # -- faces ------------------------------------------------------------------------------------------------
    def add_faces(self, name: str, image_id: str, external_image_id: Optional[str],
                  faces: Sequence[NewFace]) -> List[StoredFace]:
        """Stores faces of one image; a face already stored for the same image and ExternalImageId in this
        collection is not stored again (its record comes back instead). Returns the records in ``faces``'s
        order, once committed."""
        out: List[StoredFace] = []
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            existing = [
                _row_face(r) for r in c.execute(
                    f"SELECT {_FACE_COLUMNS} FROM faces WHERE rid=? AND image_id=? "
                    "AND COALESCE(external_image_id, '') = COALESCE(?, '')",
                    (info.rid, image_id, external_image_id))
            ]
            added = 0
            for face in faces:
                same = next((e for e in existing if _same_box(e.box, face.box)), None)
                if same is not None:
                    out.append(same)
                    continue
                record = StoredFace(str(uuid.uuid4()), image_id, external_image_id,
                                    tuple(float(v) for v in face.box), float(face.confidence),
                                    self.face_model_version)
                c.execute(
                    f"INSERT INTO faces (rid, {_FACE_COLUMNS}, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (info.rid, record.face_id, image_id, external_image_id, *record.box, record.confidence,
                     record.model_version, vector_blob(face.vector)),
                )
                existing.append(record)
                out.append(record)
                added += 1
            if added:
                c.execute("UPDATE collections SET face_count = face_count + ?, version = version + 1 WHERE rid=?",
                          (added, info.rid))
        return out

    def add_vectors(self, name: str, vectors: np.ndarray, image_id: Optional[str] = None) -> List[str]:
        """Bulk path (benchmarks, imports): stores descriptors as faces of one image, in one transaction, without
        the duplicate check. Returns their FaceIds."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4").reshape(-1, DIM)
        image_id = image_id or str(uuid.uuid4())
        ids = [str(uuid.uuid4()) for _ in range(len(vectors))]
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            c.executemany(
                f"INSERT INTO faces (rid, {_FACE_COLUMNS}, vector) VALUES (?, ?, ?, NULL, 0, 0, 1, 1, 100, ?, ?)",
                ((info.rid, fid, image_id, self.face_model_version, vector_blob(v)) for fid, v in zip(ids, vectors)),
            )
            c.execute("UPDATE collections SET face_count = face_count + ?, version = version + 1 WHERE rid=?",
                      (len(ids), info.rid))
        return ids

    def list_faces(self, name: str, after: int, limit: int,
                   face_ids: Optional[Sequence[str]] = None) -> Tuple[CollectionInfo, List[StoredFace], Optional[int]]:
        """Faces in indexing order after position ``after`` (optionally only those in ``face_ids``)."""
        with self.db.read() as c:
            info = self._info(c, name)
            if face_ids is None:
                rows = c.execute(f"SELECT seq, {_FACE_COLUMNS} FROM faces WHERE rid=? AND seq > ? ORDER BY seq "
                                 "LIMIT ?", (info.rid, after, limit + 1)).fetchall()
            else:  # at most 4096 ids (the API's limit): found by the face_id index, then put in order
                ids = list(dict.fromkeys(face_ids))
                rows = sorted(c.execute(f"SELECT seq, {_FACE_COLUMNS} FROM faces WHERE face_id IN "
                                        f"({','.join('?' * len(ids))}) AND +rid=? AND +seq > ?",
                                        (*ids, info.rid, after)).fetchall())[:limit + 1]
        more = len(rows) > limit
        rows = rows[:limit]
        return info, [_row_face(r[1:]) for r in rows], (rows[-1][0] if more and rows else None)

    def delete_faces(self, name: str, face_ids: Sequence[str]) -> Tuple[List[str], List[str]]:
        """(deleted, not found), each in request order without repeats."""
        wanted = list(dict.fromkeys(face_ids))
        deleted, missing = [], []
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            for fid in wanted:
                cur = c.execute("DELETE FROM faces WHERE face_id=? AND +rid=?", (fid, info.rid))
                (deleted if cur.rowcount else missing).append(fid)
            if deleted:
                c.execute("UPDATE collections SET face_count = face_count - ?, version = version + 1, "
                          "purge = purge + 1 WHERE rid=?", (len(deleted), info.rid))
        return deleted, missing

    def face_vector(self, name: str, face_id: str) -> Optional[np.ndarray]:
        """The stored descriptor of a face of the collection (None if the collection has no such face)."""
        with self.db.read() as c:
            info = self._info(c, name)
            row = c.execute("SELECT vector FROM faces WHERE face_id=? AND +rid=?", (face_id, info.rid)).fetchone()
        return None if row is None else vectors_from_blobs([row[0]])[0]

    def faces_by_id(self, name: str, face_ids: Sequence[str]) -> Dict[str, StoredFace]:
        out: Dict[str, StoredFace] = {}
        if not face_ids:
            return out
        with self.db.read() as c:
            info = self._info(c, name)
            ids = list(dict.fromkeys(face_ids))
            for start in range(0, len(ids), 4096):  # by the UNIQUE index on face_id
                chunk = ids[start:start + 4096]
                for r in c.execute(f"SELECT {_FACE_COLUMNS} FROM faces WHERE face_id IN ({','.join('?' * len(chunk))})"
                                   " AND +rid=?", (*chunk, info.rid)):
                    out[r[0]] = _row_face(r)
        return out

    # -- search -----------------------------------------------------------------------------------------------
    def index(self, name: str) -> VectorIndex:
        """The collection's in-memory index, brought up to date with the database (other processes' writes
        included)."""
        with self.db.read() as c:
            row = c.execute("SELECT rid, version, purge FROM collections WHERE name=?", (name,)).fetchone()
        if row is None:
            raise _not_found(name)
        rid, version, purge = row
        with self._indexes_lock:
            index = self._indexes.get(rid)
            if index is None:
                # a collection of this name deleted (by any process) and created again: drop the old one's index
                for old in [r for r, ix in self._indexes.items() if ix.name == name]:
                    del self._indexes[old]
                index = self._indexes[rid] = VectorIndex(rid, name)
        if index.version == version:
            return index
        with index.lock:
            if index.version != version:
                self._refresh(index, full=index.purge != purge)
        return index

    def _refresh(self, index: VectorIndex, full: bool) -> None:
        with self.db.read() as c:
            row = c.execute("SELECT version, purge FROM collections WHERE rid=?", (index.rid,)).fetchone()
            if row is None:  # deleted meanwhile: an empty index; the caller's next lookup reports it
                index.reset([], np.zeros((0, DIM), np.float32), 0)
                return
            full = full or index.purge != row[1]  # decided on this snapshot: faces may have gone meanwhile
            after = 0 if full else index.last_seq
            rows = c.execute("SELECT seq, face_id, vector FROM faces WHERE rid=? AND seq > ? ORDER BY seq",
                             (index.rid, after)).fetchall()
        ids = [r[1] for r in rows]
        vectors = vectors_from_blobs(r[2] for r in rows)
        last = rows[-1][0] if rows else after
        if full:
            index.reset(ids, vectors, last)
        else:
            index.append(ids, vectors, last)
        index.version, index.purge = row

    def search(self, name: str, vector: np.ndarray, k: int, max_distance: float,
               exclude: Optional[str] = None) -> List[Tuple[StoredFace, float]]:
        """Up to k stored faces nearest to ``vector`` within ``max_distance``, nearest first, leaving out the face
        ``exclude``."""
        index = self.index(name)
        if max_distance < 0 or k <= 0:
            return []
        hits = index.search(vector, k + (1 if exclude else 0), None if np.isinf(max_distance) else max_distance)
        hits = [(fid, d) for fid, d in hits if fid != exclude][:k]
        records = self.faces_by_id(name, [fid for fid, _ in hits])
        return [(records[fid], d) for fid, d in hits if fid in records]
