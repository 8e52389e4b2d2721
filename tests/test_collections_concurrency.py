"""Collections shared by processes: concurrent writers lose nothing, and a writer killed (SIGKILL) in the middle
of a loop of writes leaves a readable collection holding every face it had acknowledged."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.support.data import data_path

# A child that writes to a collection and prints each FaceId once the call returned (= acknowledged).
_STORE_WRITER = textwrap.dedent("""
    import os, sys, time, numpy as np
    import facelens
    from facelens.storage.collections import NewFace
    home, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = facelens.Client(home=home).collections.store
    while not os.path.exists(go):
        time.sleep(0.001)
    rng = np.random.default_rng(os.getpid())
    i = 0
    while count < 0 or i < count:
        v = rng.standard_normal(128).astype(np.float32)
        (face,) = store.add_faces(name, f"00000000-0000-5000-8000-{os.getpid():012d}", f"x{i}",
                                  [NewFace((0.1, 0.1, 0.2, 0.2), 99.0, v)])
        print(face.face_id, flush=True)
        i += 1
""")

_CLIENT_WRITER = textwrap.dedent("""
    import os, sys, time, facelens
    home, name, count, go, photo = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    client = facelens.Client(home=home)
    data = open(photo, "rb").read()
    client.index_faces(CollectionId=name, Image={"Bytes": data}, ExternalImageId=f"warm-{os.getpid()}")
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    i = 0
    while count < 0 or i < count:
        resp = client.index_faces(CollectionId=name, Image={"Bytes": data}, ExternalImageId=f"p{os.getpid()}-{i}")
        for r in resp["FaceRecords"]:
            print(r["Face"]["FaceId"], flush=True)
        i += 1
""")


def spawn(backend, script, home, *args):
    """A child running ``script`` on ``home`` (on the test's backend)."""
    return subprocess.Popen([sys.executable, "-c", script, str(home), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=backend.env(home))


def listed_ids(client, name):
    ids, token = [], None
    while True:
        page = client.list_faces(CollectionId=name, MaxResults=4096, **({"NextToken": token} if token else {}))
        ids += [f["FaceId"] for f in page["Faces"]]
        token = page.get("NextToken")
        if not token:
            return ids


def check_consistent(home, client, name):
    db = client.runtime.database
    with db.read() as tx:
        if db.dialect == "sqlite":
            assert tx.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, stored = tx.execute("SELECT c.face_count, (SELECT COUNT(*) FROM faces f WHERE f.rid = c.rid) "
                                   "FROM collections c WHERE name=?", (name,)).fetchone()
    assert count == stored
    assert client.describe_collection(CollectionId=name)["FaceCount"] == count
    return count


def acknowledged_ids(procs):
    """The FaceIds the writer processes printed after each call returned (each must exit cleanly)."""
    acknowledged = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        acknowledged += out.split()
    return acknowledged


def test_two_processes_write_at_once(tmp_path, backend):
    home = tmp_path / "home"
    client = backend.client(home=str(home))
    client.create_collection(CollectionId="shared")
    go = tmp_path / "go"
    procs = [spawn(backend, _STORE_WRITER, home, "shared", 300, go) for _ in range(2)]
    time.sleep(0.3)
    go.touch()
    acknowledged = acknowledged_ids(procs)
    assert len(acknowledged) == 600 == len(set(acknowledged))
    assert set(listed_ids(client, "shared")) == set(acknowledged)
    assert check_consistent(home, client, "shared") == 600
    # the in-memory index of a fresh reader holds all of them too
    index = backend.client(home=str(home)).collections.store.index("shared")
    assert len(index) == 600 and set(index.snapshot()[1]) == set(acknowledged)


@pytest.mark.data
def test_two_processes_index_faces_at_once(tmp_path, backend):
    photo = data_path("images/fr_obama.jpg")
    home = tmp_path / "home"
    client = backend.client(home=str(home))
    client.create_collection(CollectionId="shared")
    go = tmp_path / "go"
    procs = [spawn(backend, _CLIENT_WRITER, home, "shared", 6, go, photo) for _ in range(2)]
    for p in procs:  # both have loaded their models
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    go.touch()
    acknowledged = acknowledged_ids(procs)
    assert len(acknowledged) == 12 == len(set(acknowledged))
    listed = set(listed_ids(client, "shared"))
    assert set(acknowledged) <= listed and len(listed) == 14  # + one warm-up face per process
    found = client.search_faces(CollectionId="shared", FaceId=acknowledged[0], MaxFaces=100)["FaceMatches"]
    assert len(found) == 13  # the same face, indexed 14 times, finds the 13 others


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0])
def test_killed_writer_loses_no_acknowledged_face(tmp_path, delay, backend):
    home = tmp_path / "home"
    client = backend.client(home=str(home))
    client.create_collection(CollectionId="victim")
    go = tmp_path / "go"
    go.touch()
    p = spawn(backend, _STORE_WRITER, home, "victim", -1, go)  # writes until killed
    acknowledged = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 20 and time.monotonic() < deadline:  # it is writing
        acknowledged.append(p.stdout.readline().strip())
    time.sleep(delay)
    os.kill(p.pid, signal.SIGKILL)
    out, _ = p.communicate(timeout=30)
    acknowledged += out.split()
    assert p.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 20
    after = backend.client(home=str(home))  # a new reader: the collection opens and reads
    listed = set(listed_ids(after, "victim"))
    assert set(acknowledged) <= listed
    assert len(listed) - len(set(acknowledged)) <= 1  # at most the face committed but not yet printed
    check_consistent(home, after, "victim")
    index = after.collections.store.index("victim")
    assert set(acknowledged) <= set(index.snapshot()[1])
    v = after.collections.store.face_vector("victim", acknowledged[-1])
    hits = after.collections.store.search("victim", v, 1, np.inf)
    assert hits[0][0].face_id == acknowledged[-1] and hits[0][1] == 0.0
    # and it accepts writes again
    after.create_collection(CollectionId="after-crash")
    assert after.describe_collection(CollectionId="victim")["FaceCount"] == len(listed)


@pytest.mark.data
def test_killed_index_faces_loop(tmp_path, backend):
    """The same through the public API: a process in a loop of IndexFaces calls, killed."""
    photo = data_path("images/fr_obama.jpg")
    home = tmp_path / "home"
    client = backend.client(home=str(home))
    client.create_collection(CollectionId="victim")
    go = tmp_path / "go"
    go.touch()
    p = spawn(backend, _CLIENT_WRITER, home, "victim", -1, go, photo)
    assert p.stdout.readline().strip() == "ready", p.stderr.read()
    acknowledged = [p.stdout.readline().strip() for _ in range(3)]
    os.kill(p.pid, signal.SIGKILL)
    out, _ = p.communicate(timeout=30)
    acknowledged += out.split()
    listed = set(listed_ids(backend.client(home=str(home)), "victim"))
    assert set(acknowledged) <= listed
    check_consistent(home, client, "victim")
    json.dumps(client.list_faces(CollectionId="victim")["Faces"])
