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
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..collections.index import DIM, VectorIndex, vector_blob, vectors_from_blobs
from ..errors import (
    ConflictException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from .database import Database, Transaction

_FACE_COLUMNS = (
    "face_id, image_id, external_image_id, box_left, box_top, box_width, box_height, confidence, model_version"
)
_FACE_SELECT = _FACE_COLUMNS + ", user_id"
MAX_USER_FACES = 100  # faces one user may hold (Rekognition's limit)


@dataclass(frozen=True)
class StoredFace:
    face_id: str
    image_id: str
    external_image_id: Optional[str]
    box: Tuple[float, ...]  # Left, Top, Width, Height (ratios)
    confidence: float  # 0..100
    model_version: str
    user_id: Optional[str] = None


@dataclass(frozen=True)
class NewFace:
    box: Tuple[float, ...]  # Left, Top, Width, Height (ratios)
    confidence: float
    vector: np.ndarray  # [128] float32


@dataclass(frozen=True)
class CollectionInfo:
    rid: int
    name: str
    created: float  # epoch seconds
    face_model_version: str
    face_count: int
    user_count: int = 0
    region: str = ""
    # the change counters read with the record: a search brings its index up to them without another query
    version: int = field(default=-1, compare=False, repr=False)
    purge: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True)
class UserInfo:
    user_id: str
    face_count: int

    @property
    def status(self) -> str:
        """Rekognition's UserStatus: CREATED until a face is associated, then ACTIVE."""
        return "ACTIVE" if self.face_count else "CREATED"


_INFO_COLUMNS = ("c.rid, c.name, c.created, c.face_model_version, c.face_count, "
                 "(SELECT COUNT(*) FROM users u WHERE u.rid = c.rid), c.region, c.version, c.purge")
_INFO = f"SELECT {_INFO_COLUMNS} FROM collections c"


def _row_face(row: Sequence[Any]) -> StoredFace:
    return StoredFace(row[0], row[1], row[2], (row[3], row[4], row[5], row[6]), row[7], row[8],
                      row[9] if len(row) > 9 else None)


def _user_not_found(user_id: str, name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"The user id: {user_id} does not exist in the collection {name}")


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
    """The collections of one region. Thread-safe; share one per process, database and region."""

    def __init__(self, db: Database, face_model_version: str, region: str = "us-east-1") -> None:
        self.db = db
        self.face_model_version = face_model_version
        self.region = region
        self._indexes: Dict[int, VectorIndex] = {}
        self._indexes_lock = threading.Lock()

    # -- collections ------------------------------------------------------------------------------------------
    def create(self, name: str, tags: Optional[Dict[str, str]] = None) -> CollectionInfo:
        now = time.time()
        with self.db.write() as c:
            row = c.execute("INSERT INTO collections (region, name, created, face_model_version) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING RETURNING rid",
                            (self.region, name, now, self.face_model_version)).fetchone()
            if row is None:
                raise ResourceAlreadyExistsException(f"The collection id: {name} already exists")
            if tags:
                c.executemany("INSERT INTO tags (rid, key, value) VALUES (?, ?, ?)",
                              [(row[0], k, v) for k, v in tags.items()])
        return CollectionInfo(int(row[0]), name, now, self.face_model_version, 0, 0, self.region)

    def delete(self, name: str) -> None:
        with self.db.write() as c:
            row = c.execute("DELETE FROM collections WHERE region=? AND name=? RETURNING rid",
                            (self.region, name)).fetchone()
            if row is None:
                raise _not_found(name)
        with self._indexes_lock:
            self._indexes.pop(row[0], None)

    def describe(self, name: str) -> CollectionInfo:
        with self.db.read() as c:
            return self._info(c, name)

    def _info(self, c: Transaction, name: str, lock: bool = False) -> CollectionInfo:
        """The collection's record; ``lock``: and its row locked until the write transaction ends."""
        if lock:  # PostgreSQL does not lock rows of a query with an aggregate: lock first, then count
            c.execute("SELECT rid FROM collections WHERE region=? AND name=?" + c.for_update, (self.region, name))
        row = c.execute(_INFO + " WHERE c.region=? AND c.name=?", (self.region, name)).fetchone()
        if row is None:
            raise _not_found(name)
        return CollectionInfo(*row)

    def list(self, after: int, limit: int) -> Tuple[List[CollectionInfo], Optional[int]]:
        """Collections in creation order after position ``after``; the position to continue from, if any."""
        with self.db.read() as c:
            rows = c.execute(_INFO + " WHERE c.region=? AND c.rid > ? ORDER BY c.rid LIMIT ?",
                             (self.region, after, limit + 1)).fetchall()
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
                    f"SELECT {_FACE_SELECT} FROM faces WHERE rid=? AND image_id=? "
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

    def list_faces(self, name: str, after: int, limit: int, face_ids: Optional[Sequence[str]] = None,
                   user_id: Optional[str] = None) -> Tuple[CollectionInfo, List[StoredFace], Optional[int]]:
        """Faces in indexing order after position ``after`` (optionally only those in ``face_ids``, or only those
        associated with ``user_id``)."""
        with self.db.read() as c:
            info = self._info(c, name)
            if face_ids is not None:  # at most 4096 ids (the API's limit): found by the face_id index, then ordered
                ids = list(dict.fromkeys(face_ids))
                rows = sorted(c.execute(f"SELECT seq, {_FACE_SELECT} FROM faces WHERE face_id IN "
                                        f"({','.join('?' * len(ids))}) AND +rid=? AND +seq > ?"
                                        + (" AND user_id = ?" if user_id is not None else ""),
                                        (*ids, info.rid, after, *([user_id] if user_id is not None else [])))
                              .fetchall())[:limit + 1]
            elif user_id is not None:
                rows = c.execute(f"SELECT seq, {_FACE_SELECT} FROM faces WHERE rid=? AND user_id=? AND seq > ? "
                                 "ORDER BY seq LIMIT ?", (info.rid, user_id, after, limit + 1)).fetchall()
            else:
                rows = c.execute(f"SELECT seq, {_FACE_SELECT} FROM faces WHERE rid=? AND seq > ? ORDER BY seq "
                                 "LIMIT ?", (info.rid, after, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return info, [_row_face(r[1:]) for r in rows], (rows[-1][0] if more and rows else None)

    def delete_faces(self, name: str, face_ids: Sequence[str]) -> Tuple[List[str], List[str]]:
        """(deleted, not found), each in request order without repeats."""
        wanted = list(dict.fromkeys(face_ids))
        deleted: List[str] = []
        missing: List[str] = []
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
        return self.described_face_vector(name, face_id)[1]

    def described_face_vector(self, name: str, face_id: str) -> Tuple[CollectionInfo, Optional[np.ndarray]]:
        """The collection's record and a face's descriptor (None if it has no such face), in one statement."""
        rows = self.db.query(f"SELECT {_INFO_COLUMNS}, (SELECT f.vector FROM faces f WHERE f.face_id=? "
                             "AND +f.rid=c.rid) FROM collections c WHERE c.region=? AND c.name=?",
                             (face_id, self.region, name))
        if not rows:
            raise _not_found(name)
        *info, blob = rows[0]
        return CollectionInfo(*info), (None if blob is None else vectors_from_blobs([blob])[0])

    def faces_by_id(self, name: Union[str, CollectionInfo], face_ids: Sequence[str]) -> Dict[str, StoredFace]:
        """The stored records of those of ``face_ids`` the collection holds."""
        out: Dict[str, StoredFace] = {}
        if not face_ids:
            return out
        rid = name.rid if isinstance(name, CollectionInfo) else self.describe(name).rid
        ids = list(dict.fromkeys(face_ids))
        for start in range(0, len(ids), 4096):  # by the UNIQUE index on face_id
            chunk = ids[start:start + 4096]
            for r in self.db.query(f"SELECT {_FACE_SELECT} FROM faces WHERE face_id IN ({','.join('?' * len(chunk))})"
                                   " AND +rid=?", (*chunk, rid)):
                out[r[0]] = _row_face(r)
        return out

    # -- users ------------------------------------------------------------------------------------------------
    def create_user(self, name: str, user_id: str, request_token: Optional[str] = None) -> None:
        """A new user; ConflictException if it exists (unless created by the same ClientRequestToken: a retry)."""
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            row = c.execute("INSERT INTO users (rid, user_id, created, request_token) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING RETURNING seq",
                            (info.rid, user_id, time.time(), request_token)).fetchone()
            if row is None:
                token = c.execute("SELECT request_token FROM users WHERE rid=? AND user_id=?",
                                  (info.rid, user_id)).fetchone()[0]
                if request_token is None or token != request_token:
                    raise ConflictException(f"A user with the id {user_id} already exists in the collection {name}.")

    def delete_user(self, name: str, user_id: str) -> None:
        """Deletes a user; its faces stay in the collection, associated with no one."""
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            if c.execute("DELETE FROM users WHERE rid=? AND user_id=? RETURNING seq", (info.rid, user_id)).fetchone() \
                    is None:
                raise _user_not_found(user_id, name)
            c.execute("UPDATE faces SET user_id = NULL WHERE rid=? AND user_id=?", (info.rid, user_id))

    def list_users(self, name: str, after: int, limit: int) -> Tuple[List[UserInfo], Optional[int]]:
        """Users in creation order after position ``after``; the position to continue from, if any."""
        with self.db.read() as c:
            info = self._info(c, name)
            rows = c.execute("SELECT u.seq, u.user_id, (SELECT COUNT(*) FROM faces f WHERE f.rid = u.rid AND "
                             "f.user_id = u.user_id) FROM users u WHERE u.rid=? AND u.seq > ? ORDER BY u.seq LIMIT ?",
                             (info.rid, after, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return [UserInfo(r[1], int(r[2])) for r in rows], (rows[-1][0] if more and rows else None)

    def user(self, name: str, user_id: str) -> UserInfo:
        with self.db.read() as c:
            return self._user(c, self._info(c, name), user_id)

    def _user(self, c: Transaction, info: CollectionInfo, user_id: str) -> UserInfo:
        if c.execute("SELECT 1 FROM users WHERE rid=? AND user_id=?", (info.rid, user_id)).fetchone() is None:
            raise _user_not_found(user_id, info.name)
        count = c.execute("SELECT COUNT(*) FROM faces WHERE rid=? AND user_id=?", (info.rid, user_id)).fetchone()[0]
        return UserInfo(user_id, int(count))

    def user_vectors(self, name: str, user_id: str) -> Tuple[List[str], np.ndarray]:
        """The FaceIds and descriptors of a user's faces (ResourceNotFoundException for an unknown user)."""
        with self.db.read() as c:
            info = self._info(c, name)
            self._user(c, info, user_id)
            rows = c.execute("SELECT face_id, vector FROM faces WHERE rid=? AND user_id=? ORDER BY seq",
                             (info.rid, user_id)).fetchall()
        return [r[0] for r in rows], vectors_from_blobs(r[1] for r in rows)

    def associate_faces(self, name: str, user_id: str, face_ids: Sequence[str],
                        accept: Callable[[np.ndarray, np.ndarray], Tuple[bool, float]]
                        ) -> Tuple[List[str], List[Tuple[str, Optional[str], Optional[float], str]], UserInfo]:
        """Associates faces with a user in one transaction. ``accept(user_vectors, face_vector)`` says whether a
        face matches a user that already has faces, and with what confidence. Returns (associated FaceIds,
        [(FaceId, its other user or None, confidence or None, Reason)], the user after)."""
        wanted = list(dict.fromkeys(face_ids))
        associated: List[str] = []
        refused: List[Tuple[str, Optional[str], Optional[float], str]] = []
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            user = self._user(c, info, user_id)
            rows = {r[0]: (r[1], r[2]) for r in c.execute(
                f"SELECT face_id, user_id, vector FROM faces WHERE face_id IN ({','.join('?' * len(wanted))}) "
                "AND +rid=?", (*wanted, info.rid))}
            mine = c.execute("SELECT vector FROM faces WHERE rid=? AND user_id=?", (info.rid, user_id)).fetchall()
            user_vectors = vectors_from_blobs(r[0] for r in mine)
            new = [f for f in wanted if f in rows and rows[f][0] is None]
            if user.face_count + len(new) > MAX_USER_FACES:
                raise ServiceQuotaExceededException(
                    f"A user holds at most {MAX_USER_FACES} faces; {user_id} has {user.face_count} and "
                    f"{len(new)} more were asked for.")
            for face_id in wanted:
                if face_id not in rows:
                    refused.append((face_id, None, None, "FACE_NOT_FOUND"))
                    continue
                owner, blob = rows[face_id]
                if owner == user_id:
                    associated.append(face_id)
                    continue
                if owner is not None:
                    refused.append((face_id, owner, None, "ASSOCIATED_TO_A_DIFFERENT_USER"))
                    continue
                if len(user_vectors):
                    ok, confidence = accept(user_vectors, vectors_from_blobs([blob])[0])
                    if not ok:
                        refused.append((face_id, None, confidence, "LOW_MATCH_CONFIDENCE"))
                        continue
                associated.append(face_id)
            newly = [f for f in associated if rows[f][0] is None]
            if newly:
                c.execute(f"UPDATE faces SET user_id = ? WHERE face_id IN ({','.join('?' * len(newly))}) AND +rid=?",
                          (user_id, *newly, info.rid))
            user = UserInfo(user_id, user.face_count + len(newly))
        return associated, refused, user

    def disassociate_faces(self, name: str, user_id: str, face_ids: Sequence[str]
                           ) -> Tuple[List[str], List[Tuple[str, Optional[str], str]], UserInfo]:
        """(disassociated FaceIds, [(FaceId, its user or None, Reason)], the user after)."""
        wanted = list(dict.fromkeys(face_ids))
        done: List[str] = []
        refused: List[Tuple[str, Optional[str], str]] = []
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            user = self._user(c, info, user_id)
            owners = {r[0]: r[1] for r in c.execute(
                f"SELECT face_id, user_id FROM faces WHERE face_id IN ({','.join('?' * len(wanted))}) AND +rid=?",
                (*wanted, info.rid))}
            for face_id in wanted:
                if face_id not in owners:
                    refused.append((face_id, None, "FACE_NOT_FOUND"))
                elif owners[face_id] != user_id:
                    refused.append((face_id, owners[face_id], "ASSOCIATED_TO_A_DIFFERENT_USER"))
                else:
                    done.append(face_id)
            if done:
                c.execute(f"UPDATE faces SET user_id = NULL WHERE face_id IN ({','.join('?' * len(done))}) AND +rid=?",
                          (*done, info.rid))
        return done, refused, UserInfo(user_id, user.face_count - len(done))

    # -- tags -------------------------------------------------------------------------------------------------
    def tags(self, name: str) -> Dict[str, str]:
        with self.db.read() as c:
            info = self._info(c, name)
            return dict(c.execute("SELECT key, value FROM tags WHERE rid=? ORDER BY key", (info.rid,)))

    def tag(self, name: str, tags: Dict[str, str], limit: int) -> None:
        """Adds or replaces tags; ServiceQuotaExceededException when the collection would hold more than ``limit``."""
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            have = {r[0] for r in c.execute("SELECT key FROM tags WHERE rid=?", (info.rid,))}
            if len(have | set(tags)) > limit:
                raise ServiceQuotaExceededException(
                    f"A resource holds at most {limit} tags; {name} would hold {len(have | set(tags))}.")
            c.executemany("DELETE FROM tags WHERE rid=? AND key=?", [(info.rid, k) for k in tags])
            c.executemany("INSERT INTO tags (rid, key, value) VALUES (?, ?, ?)",
                          [(info.rid, k, v) for k, v in tags.items()])

    def untag(self, name: str, keys: Sequence[str]) -> None:
        with self.db.write() as c:
            info = self._info(c, name, lock=True)
            c.executemany("DELETE FROM tags WHERE rid=? AND key=?", [(info.rid, k) for k in dict.fromkeys(keys)])

    # -- search -----------------------------------------------------------------------------------------------
    def index(self, name: Union[str, CollectionInfo]) -> VectorIndex:
        """The collection's in-memory index, brought up to date with the database (other processes' writes
        included): with the counters of a record just read, or else read now."""
        if isinstance(name, CollectionInfo) and name.version >= 0:
            rid, version, purge, name = name.rid, name.version, name.purge, name.name
        else:
            name = name.name if isinstance(name, CollectionInfo) else name
            rows = self.db.query("SELECT rid, version, purge FROM collections WHERE region=? AND name=?",
                                 (self.region, name))
            if not rows:
                raise _not_found(name)
            rid, version, purge = rows[0]
        with self._indexes_lock:
            index = self._indexes.get(rid)
            if index is None:
                # a collection of this name deleted (by any process) and created again: drop the old one's index
                for old in [r for r, ix in self._indexes.items() if ix.name == name]:
                    del self._indexes[old]
                index = self._indexes[rid] = VectorIndex(rid, name)
        if index.version >= version:  # the counters only grow: an index ahead of the record read is fresh enough
            return index
        with index.lock:
            if index.version < version:
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

    def search(self, name: Union[str, CollectionInfo], vector: np.ndarray, k: int, max_distance: float,
               exclude: Optional[str] = None) -> List[Tuple[StoredFace, float]]:
        """Up to k stored faces nearest to ``vector`` within ``max_distance``, nearest first, leaving out the face
        ``exclude``. Given the collection's record just read (``describe``), a search makes one more query."""
        info = name if isinstance(name, CollectionInfo) else self.describe(name)
        index = self.index(info)
        if max_distance < 0 or k <= 0:
            return []
        hits = index.search(vector, k + (1 if exclude else 0), None if np.isinf(max_distance) else max_distance)
        hits = [(fid, d) for fid, d in hits if fid != exclude][:k]
        records = self.faces_by_id(info, [fid for fid, _ in hits])
        return [(records[fid], d) for fid, d in hits if fid in records]
