"""A home written by facelens before the versioned schema: three SQLite files with the tables the previous
release created (its DDL, verbatim), for the migration tests."""

import json
import sqlite3
import time
import uuid

import numpy as np

COLLECTIONS_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    face_model_version TEXT NOT NULL,
    face_count INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    purge INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS faces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    rid INTEGER NOT NULL REFERENCES collections(rid) ON DELETE CASCADE,
    face_id TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    external_image_id TEXT,
    box_left REAL NOT NULL,
    box_top REAL NOT NULL,
    box_width REAL NOT NULL,
    box_height REAL NOT NULL,
    confidence REAL NOT NULL,
    model_version TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_by_collection ON faces (rid, seq);
CREATE INDEX IF NOT EXISTS faces_by_image ON faces (rid, image_id);
"""

CELEBRITIES_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS celebrities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    urls TEXT NOT NULL,
    known_gender TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    celebrity INTEGER NOT NULL REFERENCES celebrities(seq) ON DELETE CASCADE,
    image_sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (celebrity, image_sha256)
);
CREATE INDEX IF NOT EXISTS refs_by_celebrity ON refs (celebrity, seq);
"""

VIDEO_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    request_token TEXT,
    params_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    job_tag TEXT,
    notification TEXT,
    status TEXT NOT NULL,
    status_message TEXT,
    metadata TEXT,
    frames_done INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER NOT NULL DEFAULT 0,
    sample_fps REAL NOT NULL,
    owner_host TEXT NOT NULL,
    owner_pid INTEGER NOT NULL,
    created REAL NOT NULL,
    finished REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_token ON jobs (operation, request_token) WHERE request_token IS NOT NULL;
CREATE TABLE IF NOT EXISTS results (
    job_id TEXT NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    item TEXT NOT NULL,
    sort_key TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
"""


def write_legacy_home(home, vectors, job_items):
    """Writes one collection "legacy" holding ``vectors`` (its FaceIds returned), one celebrity "Ada" whose
    reference is ``vectors[0]``, and one SUCCEEDED face detection job with ``job_items``; returns
    (face ids, celebrity id, job id)."""
    home.mkdir(parents=True, exist_ok=True)
    face_ids = [str(uuid.uuid4()) for _ in vectors]
    with sqlite3.connect(home / "collections.sqlite3") as db:
        db.executescript(COLLECTIONS_DDL)
        db.execute("INSERT INTO meta VALUES ('schema', '1')")
        db.execute("INSERT INTO meta VALUES ('token_secret', ?)", (b"s" * 32,))
        db.execute("INSERT INTO collections (name, created, face_model_version, face_count, version) "
                   "VALUES ('legacy', ?, '1.0', ?, 1)", (time.time(), len(vectors)))
        for fid, v in zip(face_ids, vectors):
            db.execute("INSERT INTO faces (rid, face_id, image_id, external_image_id, box_left, box_top, box_width, "
                       "box_height, confidence, model_version, vector) VALUES (1, ?, ?, 'old', 0.1, 0.1, 0.2, 0.2, "
                       "99.5, '1.0', ?)", (fid, str(uuid.uuid4()), np.asarray(v, "<f4").tobytes()))
    with sqlite3.connect(home / "celebrities.sqlite3") as db:
        db.executescript(CELEBRITIES_DDL)
        db.execute("INSERT INTO meta VALUES ('version', 1)")
        db.execute("INSERT INTO celebrities (id, name, urls, known_gender, created) VALUES "
                   "('AdaLove1', 'Ada', '[\"example.org/ada\"]', 'Female', ?)", (time.time(),))
        db.execute("INSERT INTO refs (celebrity, image_sha256, vector) VALUES (1, 'x', ?)",
                   (np.asarray(vectors[0], "<f4").tobytes(),))
    job_id = "ab" * 32
    with sqlite3.connect(home / "video.sqlite3") as db:
        db.executescript(VIDEO_DDL)
        db.execute("INSERT INTO jobs (job_id, operation, params_hash, request, status, metadata, frames_done, "
                   "frames_total, sample_fps, owner_host, owner_pid, created, finished) VALUES (?, 'FaceDetection', "
                   "'h', ?, 'SUCCEEDED', ?, 3, 3, 5, 'old-host', 1, ?, ?)",
                   (job_id, json.dumps({"Video": {"S3Object": {"Bucket": "b", "Name": "v.mp4"}}}),
                    json.dumps({"Codec": "h264", "DurationMillis": 1000, "Format": "QuickTime / MOV",
                                "FrameRate": 30.0, "FrameHeight": 360, "FrameWidth": 640, "ColorRange": "LIMITED"}),
                    time.time(), time.time()))
        db.executemany("INSERT INTO results (job_id, seq, item) VALUES (?, ?, ?)",
                       [(job_id, i + 1, json.dumps(item)) for i, item in enumerate(job_items)])
    return face_ids, "AdaLove1", job_id
