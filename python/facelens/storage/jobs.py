"""Video jobs in the database.

- ``jobs``: one row per job (its operation, request, the ClientRequestToken and a hash of the other parameters
  for idempotency, JobTag, NotificationChannel, status, StatusMessage, VideoMetadata, progress, the process
  that runs it).
- ``results``: the job's result items (e.g. FaceDetection dicts as JSON) numbered ``seq`` = 1, 2, ... in
  timestamp order (Get*'s default order), each with an optional ``sort_key`` for the other orders (SortBy INDEX:
  the person's index then detection confidence, highest first; SortBy ID: the celebrity's Id). A running job
  writes them in batches (memory stays flat on long videos) but Get* returns none until the transaction that
  stores the last batch and marks the job SUCCEEDED; a FAILED job's rows are deleted. So a job is either
  IN_PROGRESS (no results shown) or finished with all of them: pages are stable and complete, and any other
  process (or host) on the same database answers Get* for it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .database import Database, Transaction

_JOB_COLUMNS = (
    "job_id, operation, request_token, params_hash, request, job_tag, notification, status, status_message, "
    "metadata, frames_done, frames_total, sample_fps, owner_host, owner_pid, created, finished"
)
_ROW_COLUMNS = _JOB_COLUMNS + ", region, lease_owner, lease_expires, attempts"


@dataclass(frozen=True)
class JobRow:
    job_id: str
    operation: str
    request_token: Optional[str]
    params_hash: str
    request: Dict[str, Any]
    job_tag: Optional[str]
    notification: Optional[Dict[str, Any]]
    status: str
    status_message: Optional[str]
    metadata: Optional[Dict[str, Any]]
    frames_done: int
    frames_total: int
    sample_fps: float
    owner_host: str
    owner_pid: int
    created: float
    finished: Optional[float]
    region: str = "us-east-1"
    lease_owner: Optional[str] = None  # who holds the job: "queued:<process>" until a worker claims it
    lease_expires: Optional[float] = None  # epoch seconds; a lapsed lease means its holder is gone
    attempts: int = 0  # times a worker claimed it


def _row(r: Sequence[Any]) -> JobRow:
    return JobRow(
        r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], json.loads(r[6]) if r[6] else None, r[7], r[8],
        json.loads(r[9]) if r[9] else None, r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17], r[18],
        r[19], int(r[20]),
    )


class JobStore:
    def __init__(self, db: Database, region: str = "us-east-1") -> None:
        self.db = db
        self.region = region

    # -- jobs ---------------------------------------------------------------------------------------------
    def create(self, job_id: str, operation: str, request_token: Optional[str], params_hash: str,
               request: Dict[str, Any], job_tag: Optional[str], notification: Optional[Dict[str, Any]],
               frames_total: int, sample_fps: float) -> Tuple[JobRow, bool]:
        """Inserts a new IN_PROGRESS job, or returns the job already started with the same ClientRequestToken
        for the same operation. (row, created)."""
        with self.db.write() as db:
            created = db.execute(
                f"INSERT INTO jobs (region, {_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'IN_PROGRESS', NULL, NULL, 0, "
                "?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING RETURNING job_id",
                (self.region, job_id, operation, request_token, params_hash, json.dumps(request), job_tag,
                 json.dumps(notification) if notification else None, int(frames_total), float(sample_fps),
                 socket.gethostname(), os.getpid(), time.time()),
            ).fetchone() is not None
            if created:
                r = db.execute(f"SELECT {_ROW_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            else:  # the same ClientRequestToken for the same operation: that job
                r = db.execute(f"SELECT {_ROW_COLUMNS} FROM jobs WHERE region = ? AND operation = ? AND "
                               "request_token = ?", (self.region, operation, request_token)).fetchone()
        return _row(r), created

    def get(self, job_id: str) -> Optional[JobRow]:
        with self.db.read() as db:
            r = db.execute(f"SELECT {_ROW_COLUMNS} FROM jobs WHERE job_id = ? AND region = ?",
                           (job_id, self.region)).fetchone()
        return _row(r) if r is not None else None

    # -- leases: who runs a job, and for how long without news -----------------------------------------------
    def lease(self, job_id: str, owner: str, seconds: float) -> None:
        """Marks a job as held by ``owner`` (queued by a process, not yet claimed by a worker)."""
        with self.db.write() as db:
            db.execute("UPDATE jobs SET lease_owner = ?, lease_expires = ? WHERE job_id = ? AND status = 'IN_PROGRESS'",
                       (owner, time.time() + seconds, job_id))

    def claim(self, job_id: str, owner: str, seconds: float) -> bool:
        """A worker takes the job to run it: only while it is IN_PROGRESS and not held by another worker whose lease
        still runs (a queued job's lease is its submitter's and may be taken). Counts an attempt."""
        now = time.time()
        with self.db.write() as db:
            row = db.execute("SELECT status, lease_owner, lease_expires FROM jobs WHERE job_id = ?" + db.for_update,
                             (job_id,)).fetchone()
            if row is None or row[0] != "IN_PROGRESS":
                return False
            held = row[1] is not None and not row[1].startswith("queued:") and row[1] != owner
            if held and (row[2] or 0) >= now:
                return False
            db.execute("UPDATE jobs SET lease_owner = ?, lease_expires = ?, attempts = attempts + 1, frames_done = 0 "
                       "WHERE job_id = ?", (owner, now + seconds, job_id))
        return True

    def renew(self, owner: str, job_ids: Sequence[str], seconds: float) -> None:
        """Extends the leases ``owner`` still holds on these jobs (one statement)."""
        if not job_ids:
            return
        with self.db.write() as db:
            db.execute(f"UPDATE jobs SET lease_expires = ? WHERE lease_owner = ? AND status = 'IN_PROGRESS' AND "
                       f"job_id IN ({','.join('?' * len(job_ids))})", (time.time() + seconds, owner, *job_ids))

    def take_lapsed(self, job_id: str, owner: str, seconds: float, max_attempts: int) -> Optional[bool]:
        """For a job whose lease lapsed: True if ``owner`` takes it to run it again (its attempts so far are below
        ``max_attempts``), False if it is to be FAILED, None if its lease did not lapse (or it finished)."""
        now = time.time()
        with self.db.write() as db:
            row = db.execute("SELECT status, lease_expires, attempts FROM jobs WHERE job_id = ?" + db.for_update,
                             (job_id,)).fetchone()
            if row is None or row[0] != "IN_PROGRESS" or row[1] is None or row[1] >= now:
                return None
            if int(row[2]) >= max_attempts:
                return False
            db.execute("UPDATE jobs SET lease_owner = ?, lease_expires = ? WHERE job_id = ?",
                       (owner, now + seconds, job_id))
        return True

    def progress(self, job_id: str, done: int, total: int, owner: Optional[str] = None,
                 lease_s: Optional[float] = None) -> None:
        """Records progress (and, for the lease's holder, extends its lease)."""
        with self.db.write() as db:
            if owner is None:
                db.execute("UPDATE jobs SET frames_done = ?, frames_total = ? WHERE job_id = ? AND "
                           "status = 'IN_PROGRESS'", (int(done), int(total), job_id))
            else:
                db.execute("UPDATE jobs SET frames_done = ?, frames_total = ?, lease_expires = ? WHERE job_id = ? AND "
                           "status = 'IN_PROGRESS' AND lease_owner = ?",
                           (int(done), int(total), time.time() + (lease_s or 0), job_id, owner))

    def add_results(self, job_id: str, first_seq: int, items: Sequence[Dict[str, Any]],
                    owner: Optional[str] = None) -> None:
        """Stores results of a job still IN_PROGRESS (Get* shows none of them until ``succeed``), numbered from
        ``first_seq``; a job's results are written in batches so that a long video needs no memory for them."""
        with self.db.write() as db:
            if self._in_progress(db, job_id, owner):
                _write_results(db, job_id, first_seq, items)

    def succeed(self, job_id: str, metadata: Dict[str, Any], items: Sequence[Dict[str, Any]], frames: int,
                first_seq: int = 1, owner: Optional[str] = None) -> None:
        """Stores the last results (from ``first_seq``) and marks the job SUCCEEDED, in one transaction; nothing
        if the job is no longer IN_PROGRESS (stopped and marked FAILED meanwhile) or, given ``owner``, no longer
        held by it (its lease lapsed and another worker took the job)."""
        with self.db.write() as db:
            if not self._in_progress(db, job_id, owner):
                return
            _write_results(db, job_id, first_seq, items)
            db.execute(
                "UPDATE jobs SET status = 'SUCCEEDED', metadata = ?, frames_done = ?, frames_total = ?, finished = ? "
                "WHERE job_id = ?",
                (json.dumps(metadata), int(frames), int(frames), time.time(), job_id),
            )

    @staticmethod
    def _in_progress(db: Transaction, job_id: str, owner: Optional[str] = None) -> bool:
        row = db.execute("SELECT status, lease_owner FROM jobs WHERE job_id = ?" + db.for_update, (job_id,)).fetchone()
        return row is not None and row[0] == "IN_PROGRESS" and (owner is None or row[1] == owner)

    def fail(self, job_id: str, message: str, only_in_progress: bool = True, owner: Optional[str] = None) -> None:
        """Marks the job FAILED with a StatusMessage and drops any results it had stored (given ``owner``: only
        while it holds the job)."""
        with self.db.write() as db:
            row = db.execute("SELECT status, lease_owner FROM jobs WHERE job_id = ?" + db.for_update,
                             (job_id,)).fetchone()
            if row is None or (only_in_progress and row[0] != "IN_PROGRESS") or (owner is not None and row[1] != owner):
                return
            db.execute("DELETE FROM results WHERE job_id = ?", (job_id,))
            db.execute(
                "UPDATE jobs SET status = 'FAILED', status_message = ?, finished = ? WHERE job_id = ?"
                + (" AND status = 'IN_PROGRESS'" if only_in_progress else ""),
                (message[:1000], time.time(), job_id),
            )

    def results(self, job_id: str, after: int, limit: int) -> Tuple[List[Dict[str, Any]], Optional[int]]:
        """Items with seq > after, at most ``limit``; and the seq of the last one returned if more follow."""
        with self.db.read() as db:
            rows = db.execute("SELECT seq, item FROM results WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                              (job_id, int(after), int(limit) + 1)).fetchall()
        more = rows[limit - 1][0] if len(rows) > limit else None
        return [json.loads(item) for _, item in rows[:limit]], more

    def results_by_key(self, job_id: str, offset: int, limit: int) -> Tuple[List[Dict[str, Any]], Optional[int]]:
        """Items in (sort_key, seq) order from position ``offset`` (0-based), at most ``limit``; and the position
        after the last one returned if more follow."""
        with self.db.read() as db:
            rows = db.execute("SELECT item FROM results WHERE job_id = ? ORDER BY sort_key, seq LIMIT ? OFFSET ?",
                              (job_id, int(limit) + 1, int(offset))).fetchall()
        more = offset + limit if len(rows) > limit else None
        return [json.loads(item) for (item,) in rows[:limit]], more



def _write_results(db: Transaction, job_id: str, first_seq: int, items: Sequence[Dict[str, Any]]) -> None:
    """Result items numbered from ``first_seq``, replacing any an earlier run of the job wrote there."""
    db.execute("DELETE FROM results WHERE job_id = ? AND seq >= ?", (job_id, first_seq))
    db.executemany("INSERT INTO results (job_id, seq, item, sort_key) VALUES (?, ?, ?, ?)",
                   _rows(job_id, first_seq, items))


def _rows(job_id: str, first_seq: int,
          items: Sequence[Dict[str, Any]]) -> Iterator[Tuple[str, int, str, Any]]:
    """Database rows of result items; an item's private ``_sort`` entry (if any) becomes its sort_key."""
    for i, item in enumerate(items):
        key = item.pop("_sort", None)
        yield job_id, first_seq + i, json.dumps(item, separators=(",", ":")), key
