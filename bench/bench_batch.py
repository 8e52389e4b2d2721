"""Batch throughput: images/s through the local process pool and through Ray actors (1 and 2 workers), beside one
process calling detect_faces in a loop on the same photos; and the per-image overhead of each path.

Run: pytest bench/bench_batch.py --benchmark-only
Photos: 12 real photos from ../shared/data/images (33 KB - 600 KB, 1 to 6 faces), each twice (24 images), DEFAULT
attributes. Workers are started and warmed (engine loaded, one image analysed) before the timing; the timed part is
everything a batch does per image: reading the file, sending it to a worker, DetectFaces, the result line back,
the ordered write. ``extra_info`` has images/s and, for the pool and Ray, the time per image beyond the loop's.
On a 2-core machine the loop's engine already fills both cores: workers x threads per worker = 2 everywhere.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

import facelens
from facelens.batch import Task, list_sources
from facelens.batch.output import encode
from facelens.batch.runners import LocalRunner, RayRunner, run_ordered

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PHOTOS = ("fr_obama.jpg", "fr_obama2.jpg", "fr_obama_small.jpg", "fr_biden.jpg", "fr_test_obama1.jpg",
          "fr_test_johnsnow_test1.jpg", "fr_test_kit_with_rose.jpg", "fr_train_biden_biden2.jpg",
          "fr_train_rose_leslie_img2.jpg", "fr_two_people.jpg", "if_t1.jpg", "fr_train_kit_harington_john1.jpeg")
COPIES = 2
TASK = Task("DetectFaces", {})
ROUNDS = 3
timings = {}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch_photos")
    for name in PHOTOS:
        if not (DATA / "images" / name).exists():
            pytest.skip(f"{DATA / 'images' / name} not available")
        for copy in range(COPIES):
            shutil.copy(DATA / "images" / name, folder / f"{copy}_{name}")
    return list_sources(str(folder), None)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return facelens.Settings.from_env(home=tmp_path_factory.mktemp("home"), threads=2)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="rayb", dir="/tmp")
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
             log_to_driver=False, _temp_dir=temp)
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def _record(benchmark, name, count):
    best = benchmark.stats.stats.min
    timings[name] = best / count
    benchmark.extra_info.update(images=count, images_per_s=round(count / best, 2))
    if "loop" in timings and name != "loop":
        extra = timings[name] - timings["loop"]
        benchmark.extra_info.update(overhead_ms_per_image=round(1000 * extra, 2),
                                    overhead_percent=round(100 * extra / timings["loop"], 1))


def test_loop_in_one_process(benchmark, sources, settings):
    """The reference: one client (one engine, 2 threads) calling detect_faces on each file in turn."""
    client = facelens.Client(settings=settings)
    client.detect_faces(Image={"Bytes": Path(sources[0]).read_bytes()})
    sink = open(os.devnull, "wb")

    def loop():
        for source in sources:
            response = client.detect_faces(Image={"Bytes": Path(source).read_bytes()})
            response.pop("ResponseMetadata")
            sink.write(encode({"Source": source, "Response": response}))

    benchmark.group = "batch detect_faces, 24 photos"
    benchmark.pedantic(loop, rounds=ROUNDS, iterations=1)
    _record(benchmark, "loop", len(sources))


def _through(benchmark, runner, sources, name):
    sink = open(os.devnull, "wb")
    try:
        run_ordered(sources[:2 * runner.workers], runner, 4 * runner.workers, lambda line: None)  # warm every worker
        benchmark.group = "batch detect_faces, 24 photos"
        benchmark.pedantic(lambda: run_ordered(sources, runner, 4 * runner.workers,
                                               lambda line: sink.write(encode(line))),
                           rounds=ROUNDS, iterations=1)
    finally:
        runner.close()
    _record(benchmark, name, len(sources))


@pytest.mark.parametrize("workers", [1, 2])
def test_local_pool(benchmark, sources, settings, workers):
    _through(benchmark, LocalRunner(settings, TASK, workers, threads=2 // workers), sources, f"pool{workers}")


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_actors(benchmark, ray_cluster, sources, settings, workers):
    runner = RayRunner(settings, TASK, workers=workers, cpus_per_worker=2 // workers, address=None)
    _through(benchmark, runner, sources, f"ray{workers}")
