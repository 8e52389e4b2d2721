"""Video jobs through the in-process runner and through Ray (a local 2-CPU cluster, one actor using both cores),
side by side in one run: time from Start to SUCCEEDED for the same face-detection job on the same clip, and the
jobs per hour that gives on this machine.

Run: pytest bench/bench_video_runners.py --benchmark-only
"""

import os
from pathlib import Path

import pytest

import facelens

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CLIP = "fr_short_hamilton_clip.mp4"  # 9.2 s, 640x360, up to 4 faces


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    ray = pytest.importorskip("ray")
    path = DATA / "videos" / CLIP
    if not path.exists():
        pytest.skip("clip not available")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    home = tmp_path_factory.mktemp("runners")
    local = facelens.Client(home=str(home))
    local.store.put("clips", CLIP, path.read_bytes())
    remote = facelens.Client(home=str(home), job_runner="ray")
    remote.runtime.job_runner.warm()
    yield {"local": local, "ray": remote}
    local.close()
    ray.shutdown()


@pytest.mark.parametrize("runner", ["local", "ray"])
def test_face_detection_job(benchmark, clients, runner):
    client = clients[runner]

    def one_job():
        job = client.start_face_detection(Video={"S3Object": {"Bucket": "clips", "Name": CLIP}})["JobId"]
        assert client.wait_for_video_job(job, timeout=600, poll=0.02) == "SUCCEEDED"
        return job

    benchmark.group = f"face detection job, {CLIP} (9.2 s of video at 5 frames/s)"
    benchmark.pedantic(one_job, rounds=4, iterations=1, warmup_rounds=1)
    benchmark.extra_info["jobs_per_hour"] = round(3600 / benchmark.stats.stats.median, 1)
