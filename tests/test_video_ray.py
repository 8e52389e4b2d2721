"""Video jobs on Ray: a local Ray cluster (2 CPUs, loopback) runs each job type through an actor that loads its
engine once; results equal the in-process runner's; a worker killed mid-job makes the job run again (its lease
lapses) and a second kill makes it FAILED, never IN_PROGRESS for ever."""

import os
import signal
import time

import pytest

from tests.support.data import data_path

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.data, pytest.mark.server]

BUCKET = "clips"
SINGLE = "pyfeat_single_face.mp4"  # one face, 640x360, 2.4 s
LONG = "fr_short_hamilton_clip.mp4"  # 9 s, up to 4 faces
FPS = 2.0


@pytest.fixture(scope="module")
def ray_cluster():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clients(ray_cluster, tmp_path_factory, client):
    """An in-process client and a Ray client on one home (SQLite and the local object store, which the Ray workers
    on this host share)."""
    import facelens

    home = tmp_path_factory.mktemp("ray_home")
    local = facelens.Client(home=str(home), video_sample_fps=FPS)
    local.runtime.use_engine(client.engine)
    for name in (SINGLE, LONG):
        local.store.put(BUCKET, name, data_path(f"videos/{name}").read_bytes())
    remote = facelens.Client(home=str(home), video_sample_fps=FPS, job_runner="ray", job_lease_s=3)
    remote.runtime.use_engine(client.engine)  # the Ray workers load their own; this one serves Get* only
    pids = remote.runtime.job_runner.warm()
    assert len(pids) == 1 and pids[0] != os.getpid()
    yield local, remote
    local.close()


def _video(name):
    return {"S3Object": {"Bucket": BUCKET, "Name": name}}


def _all(client, get, job, **kw):
    return client.get_paginator(get).paginate(JobId=job, **kw).build_full_result()


@pytest.mark.parametrize(("start", "get", "extra"), [
    ("start_face_detection", "get_face_detection", {"FaceAttributes": "ALL"}),
    ("start_person_tracking", "get_person_tracking", {}),
    ("start_face_search", "get_face_search", {"CollectionId": "cast"}),
    ("start_celebrity_recognition", "get_celebrity_recognition", {}),
])
def test_each_job_type_on_ray_equals_in_process(clients, start, get, extra):
    local, remote = clients
    if "CollectionId" in extra and "cast" not in local.list_collections()["CollectionIds"]:
        local.create_collection(CollectionId="cast")
        local.index_faces(CollectionId="cast", Image={"Bytes": data_path("images/fr_lin-manuel-miranda.png")
                                                       .read_bytes()}, MaxFaces=1)
    if start == "start_celebrity_recognition" and not local.celebrities.list():
        local.celebrities.add("Lin-Manuel Miranda", data_path("images/fr_lin-manuel-miranda.png").read_bytes())
    jobs = {}
    for name, c in (("local", local), ("ray", remote)):
        jobs[name] = getattr(c, start)(Video=_video(LONG), **extra)["JobId"]
    for name, c in (("local", local), ("ray", remote)):
        assert c.wait_for_video_job(jobs[name], timeout=300) == "SUCCEEDED"
    row = remote.video.store.get(jobs["ray"])
    assert row.lease_owner != local.video.owner and row.attempts == 1  # claimed by the Ray worker
    a, b = _all(local, get, jobs["local"]), _all(remote, get, jobs["ray"])
    key = next(k for k in a if isinstance(a[k], list))
    assert a[key] == b[key] and a["VideoMetadata"] == b["VideoMetadata"]
    assert len(a[key]) > 0


def _worker_pid(remote):
    return remote.runtime.job_runner.pids()[0]


def _kill_mid_job(remote, job):
    """Waits until the job's worker has made progress, then SIGKILLs that worker process."""
    deadline = time.time() + 120
    while remote.video.store.get(job).frames_done < 2:
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(_worker_pid(remote), signal.SIGKILL)


def test_killed_worker_job_runs_again_then_fails(clients):
    _, remote = clients
    # ALL: a few hundred ms a frame, so that the worker is killed mid-job however fast the machine
    job = remote.start_face_detection(Video=_video(LONG), FaceAttributes="ALL")["JobId"]
    _kill_mid_job(remote, job)
    # the lease lapses (3 s); the next Get* gives the job to the runner again: a new attempt on a restarted worker
    deadline = time.time() + 120
    while remote.video.store.get(job).attempts < 2:
        assert remote.get_face_detection(JobId=job)["JobStatus"] == "IN_PROGRESS"
        assert time.time() < deadline
        time.sleep(0.3)
    _kill_mid_job(remote, job)
    deadline = time.time() + 120
    while True:
        resp = remote.get_face_detection(JobId=job)
        if resp["JobStatus"] != "IN_PROGRESS":
            break
        assert time.time() < deadline
        time.sleep(0.3)
    assert resp["JobStatus"] == "FAILED" and "stopped before it finished (2 attempts" in resp["StatusMessage"]
    # the restarted worker still runs new jobs
    again = remote.start_face_detection(Video=_video(SINGLE))["JobId"]
    assert remote.wait_for_video_job(again, timeout=120) == "SUCCEEDED"
