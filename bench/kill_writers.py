"""Acknowledged writes survive ``kill -9``: on each storage backend, a writer process stores faces in a loop and
prints each FaceId once the call returned; it is SIGKILLed after a random delay, ``--kills`` times; then every
acknowledged face must be in the collection, the face count must equal the rows, and concurrent writers (two
processes writing the same collection while one of them is killed) must leave exactly the faces acknowledged
(plus at most the one committed but not yet printed by the killed writer).

Run: python -m bench.kill_writers [--kills 20]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import pg_server

import facelens

WRITER = """
import os, sys, facelens, numpy as np
from facelens.storage.collections import NewFace
home, name = sys.argv[1], sys.argv[2]
image_id = f"00000000-0000-5000-8000-{os.getpid():012d}"  # one image per writer: no face is a repeat of another
store = facelens.Client(home=home).collections.store
rng = np.random.default_rng()
print("ready", flush=True)
i = 0
while True:
    (face,) = store.add_faces(name, image_id, f"x{i}",
                              [NewFace((0.1, 0.1, 0.2, 0.2), 99.0, rng.standard_normal(128).astype(np.float32))])
    print(face.face_id, flush=True)
    i += 1
"""


def run(backend: str, kills: int, server) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"kill-{backend}-"))
    env = dict(os.environ)
    url = None
    if backend == "postgresql":
        url = env["FACELENS_DATABASE_URL"] = server.create_database("kill_" + os.urandom(4).hex())
    client = facelens.Client(home=str(home), database_url=url)
    client.create_collection(CollectionId="victim")
    acknowledged: list = []
    rng = random.Random(1)
    for _ in range(kills):
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(home), "victim"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        time.sleep(rng.uniform(0.2, 1.0))
        os.kill(procs[0].pid, signal.SIGKILL)  # one writer killed mid-loop, the other still writing
        time.sleep(0.1)
        procs[1].terminate()
        for p in procs:
            out = p.stdout.read()  # through the same buffer as the readline above (communicate would skip it)
            p.wait(60)
            lines = out.split("\n")
            complete = lines[:-1]  # the last piece has no newline: a line cut by the kill, or empty
            acknowledged += [line for line in complete if len(line) == 36]
    store = client.collections.store
    listed = set()
    after = 0
    while True:
        _, faces, more = store.list_faces("victim", after, 10_000)
        listed |= {f.face_id for f in faces}
        if more is None:
            break
        after = more
    lost = set(acknowledged) - listed
    if lost:
        print("lost:", sorted(lost), flush=True)
    count = client.describe_collection(CollectionId="victim")["FaceCount"]
    return {"backend": backend, "kills": kills, "acknowledged": len(acknowledged), "stored": len(listed),
            "lost": len(lost), "unacknowledged_stored": len(listed - set(acknowledged)),
            "count_matches_rows": count == len(listed)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args()
    server = pg_server.PostgresServer().start()
    try:
        for backend in ("sqlite", "postgresql"):
            print(run(backend, args.kills, server), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
