"""The database behind every store: migrations, an older home upgraded in place, a PostgreSQL server that goes
away and comes back, and several processes starting on one database at once."""

import subprocess
import sys
import time

import numpy as np
import pytest

import facelens
from facelens.errors import InternalServerError
from facelens.storage import open_database, schema
from tests.support.legacy_home import write_legacy_home


def _tables(db):
    with db.read() as tx:
        if db.dialect == "sqlite":
            rows = tx.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        else:
            rows = tx.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'").fetchall()
    return {r[0] for r in rows}


def test_empty_database_is_migrated_to_the_latest_schema(tmp_path, backend):
    url = backend.url(tmp_path) or f"sqlite:///{tmp_path / 'facelens.sqlite3'}"
    db = open_database(url)
    try:
        with db.read() as tx:
            assert schema.current_version(tx) == schema.LATEST
        assert {"collections", "faces", "celebrities", "refs", "jobs", "results", "meta", "counters",
                "schema_migrations"} <= _tables(db)
        assert schema.migrate(db) == schema.LATEST  # a second start changes nothing
    finally:
        db.close()


def test_many_processes_starting_at_once_migrate_once(tmp_path, backend):
    code = "import sys, facelens; c = facelens.Client(home=sys.argv[1]); print(c.list_collections()['CollectionIds'])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], env=backend.env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "[]"
    db = backend.client(home=tmp_path).runtime.database
    with db.read() as tx:
        assert [r[0] for r in tx.execute("SELECT version FROM schema_migrations ORDER BY version")] == \
            [v for v, _ in schema.MIGRATIONS]
        assert tx.execute("SELECT COUNT(*) FROM meta WHERE key='token_secret'").fetchone()[0] == 1


def test_a_home_of_the_previous_release_is_upgraded_not_dropped(tmp_path, client):
    """A home with collections.sqlite3, celebrities.sqlite3 and video.sqlite3 as the release before the versioned
    schema wrote them: every face, celebrity and job result is there after the upgrade, searchable."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((5, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [{"Timestamp": 200 * i, "Face": {"Confidence": 99.0}} for i in range(3)]
    face_ids, celebrity_id, job_id = write_legacy_home(tmp_path, vectors, items)

    c = facelens.Client(home=str(tmp_path))
    c.runtime.use_engine(client.engine)
    assert c.describe_collection(CollectionId="legacy")["FaceCount"] == 5
    assert [f["FaceId"] for f in c.list_faces(CollectionId="legacy")["Faces"]] == face_ids
    hits = c.search_faces(CollectionId="legacy", FaceId=face_ids[2], FaceMatchThreshold=0)["FaceMatches"]
    assert {h["Face"]["FaceId"] for h in hits} == set(face_ids) - {face_ids[2]}
    assert c.get_celebrity_info(Id=celebrity_id)["Name"] == "Ada"
    job = c.get_face_detection(JobId=job_id)
    assert job["JobStatus"] == "SUCCEEDED" and job["Faces"] == items
    # new writes go to the new database; the old files are left as they were
    c.create_collection(CollectionId="after-upgrade")
    assert set(c.list_collections()["CollectionIds"]) == {"legacy", "after-upgrade"}
    assert (tmp_path / "collections.sqlite3").exists() and (tmp_path / "facelens.sqlite3").exists()
    # and a second client does not import again
    again = facelens.Client(home=str(tmp_path))
    assert again.describe_collection(CollectionId="legacy")["FaceCount"] == 5


def test_postgres_down_gives_internal_server_error_then_recovers(tmp_path):
    """A server that goes away: each call fails with InternalServerError (HTTP 500, which botocore retries) after a
    bounded wait, never hangs, never writes half a face; when it comes back the same client works again."""
    from tests.support import pg_server as pg

    server = pg.PostgresServer().start()
    try:
        url = server.create_database("downtime")
        c = facelens.Client(home=str(tmp_path), database_url=url, database_timeout=2)
        c.create_collection(CollectionId="kept")
        vector = np.ones(128, np.float32) / np.sqrt(128)
        c.collections.store.add_vectors("kept", vector[None])
        server.kill()
        for call in (lambda: c.describe_collection(CollectionId="kept"),
                     lambda: c.create_collection(CollectionId="while-down"),
                     lambda: c.collections.store.add_vectors("kept", vector[None])):
            start = time.monotonic()
            with pytest.raises(InternalServerError) as e:
                call()
            assert time.monotonic() - start < 15
            assert "database" in str(e.value)
        server.launch()
        deadline = time.monotonic() + 30
        while True:  # the pool reconnects by itself
            try:
                info = c.describe_collection(CollectionId="kept")
                break
            except InternalServerError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert info["FaceCount"] == 1
        assert c.list_collections()["CollectionIds"] == ["kept"]
        c.close()
    finally:
        server.stop()
