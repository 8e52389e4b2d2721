"""Batch analysis (facelens.batch and ``facelens batch``) on real photos: over a folder (with a corrupt file and a
text file, which become error lines), over an S3 prefix on a real S3 server (SeaweedFS), resumed after the CLI is
killed with SIGKILL midway, and on a local Ray cluster, whose results must equal the local pool's byte for byte."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import facelens
import facelens.batch as batch
from tests.support.data import data_path

PHOTOS = ("images/fr_obama_small.jpg", "images/if_Tom_Hanks_54745.png", "images/fr_train_kit_harington_john2.jpeg",
          "nofaces/dlib_dog.jpg")


def lines(path):
    return [json.loads(raw) for raw in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return facelens.Settings.from_env(home=tmp_path_factory.mktemp("batch_home"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder of photos (one in a subfolder, one with spaces in its name), a corrupt JPEG and a text file."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for i, rel in enumerate(PHOTOS):
        name = Path(rel).name if i != 1 else "Tom Hanks (1).png"
        shutil.copy(data_path(rel), root / ("sub" if i == 2 else ".") / name)
    (root / "corrupt.jpg").write_bytes(data_path(PHOTOS[0]).read_bytes()[:600])
    (root / "notes.txt").write_text("not an image\n")
    (root / ".hidden.jpg").write_bytes(b"skipped")
    return root


@pytest.fixture(scope="module")
def local_results(folder, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "local.jsonl"
    summary = batch.detect_faces(folder, out=out, attributes=["ALL"], workers=2, settings=settings)
    return out, summary


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="rayb", dir="/tmp")  # short: Ray's unix socket paths must stay short
    with pytest.MonkeyPatch.context() as env:  # the nodes know no S3 endpoint or keys, as on a real cluster
        env.setenv("RAY_AUTH_MODE", "disabled")
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            env.delenv(name)
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
                 log_to_driver=False, _temp_dir=temp, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.data
def test_folder_gives_one_line_per_file_in_sorted_order(folder, local_results):
    out, summary = local_results
    got = lines(out)
    expected = sorted(str(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert [line["Source"] for line in got] == expected
    assert summary["Images"] == summary["Written"] == len(expected) and summary["Skipped"] == 0
    by_name = {Path(line["Source"]).name: line for line in got}
    assert by_name["corrupt.jpg"]["Error"]["Code"] == "InvalidImageFormatException"
    assert by_name["notes.txt"]["Error"]["Code"] == "InvalidImageFormatException"
    assert summary["Errors"] == 2
    assert len(by_name["fr_obama_small.jpg"]["Response"]["FaceDetails"]) == 1
    assert by_name["dlib_dog.jpg"]["Response"]["FaceDetails"] == []
    assert "ResponseMetadata" not in by_name["fr_obama_small.jpg"]["Response"]
    assert "Emotions" in by_name["Tom Hanks (1).png"]["Response"]["FaceDetails"][0]  # ALL attributes


@pytest.mark.data
def test_lines_match_detect_faces_of_one_client(folder, local_results, settings):
    """Each worker process gives what one in-process client gives for the same image (same threads per engine)."""
    client = facelens.Client(settings=settings.with_(threads=1))
    for line in lines(local_results[0]):
        if "Response" in line:
            expected = client.detect_faces(Image={"Bytes": Path(line["Source"]).read_bytes()}, Attributes=["ALL"])
            expected.pop("ResponseMetadata")
            assert line["Response"] == json.loads(json.dumps(expected))


@pytest.mark.data
def test_rerun_skips_everything_done(folder, local_results, settings):
    out, _ = local_results
    before = out.read_bytes()
    summary = batch.detect_faces(folder, out=out, attributes=["ALL"], workers=2, settings=settings)
    assert summary["Skipped"] == summary["Images"] and summary["Written"] == 0
    assert out.read_bytes() == before


@pytest.mark.data
def test_glob_and_list_file_sources(folder, settings, tmp_path):
    assert batch.list_sources(str(folder / "**" / "*.jp*g"), settings) == sorted(
        str(p) for p in folder.rglob("*.jp*g") if not p.name.startswith("."))
    listing = tmp_path / "list.txt"
    listing.write_text(f"# photos\n{folder / 'notes.txt'}\n\n../{folder.name}/corrupt.jpg\ns3://b/k.jpg\n")
    got = batch.list_sources(str(listing), settings)
    assert got == sorted([str(folder / "notes.txt"), os.path.abspath(tmp_path.parent / folder.name / "corrupt.jpg"),
                          "s3://b/k.jpg"])


@pytest.mark.data
def test_bad_source_and_foreign_results_file_are_refused(folder, settings, tmp_path):
    with pytest.raises(batch.SourceError):
        batch.detect_faces(tmp_path / "missing", out=tmp_path / "r.jsonl", settings=settings)
    image = tmp_path / "photo.jpg"
    image.write_bytes(data_path(PHOTOS[0]).read_bytes())
    with pytest.raises(batch.SourceError, match="not a text list"):
        batch.detect_faces(image, out=tmp_path / "r.jsonl", settings=settings)
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"a": 1}\n')
    with pytest.raises(batch.ResultsFileError):
        batch.detect_faces(folder, out=foreign, settings=settings)
    with pytest.raises(batch.ResultsFileError, match="cannot write"):
        batch.detect_faces(folder, out=tmp_path, settings=settings)  # a folder
    with pytest.raises(facelens.errors.InvalidParameterException):  # before any image is read
        batch.detect_faces(folder, out=tmp_path / "r.jsonl", attributes=["NOSE"], settings=settings)
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.data
def test_output_file_inside_the_folder_is_not_a_source(folder, settings, tmp_path):
    work = tmp_path / "photos"
    shutil.copytree(folder, work)
    assert str(work / "results.jsonl") not in batch.list_sources(str(work), settings, exclude=work / "results.jsonl")


@pytest.mark.data
def test_index_faces_enrols_with_file_names_as_external_ids(folder, settings, tmp_path):
    client = facelens.Client(settings=settings)
    client.create_collection(CollectionId="batch-staff")
    out = tmp_path / "enrolled.jsonl"
    summary = batch.index_faces(folder, "batch-staff", out=out, workers=2, settings=settings)
    got = {Path(line["Source"]).name: line for line in lines(out)}
    assert summary["Errors"] == 2
    indexed = {record["Face"]["ExternalImageId"] for name, line in got.items() if "Response" in line
               for record in line["Response"]["FaceRecords"]}
    assert indexed == {"fr_obama_small.jpg", "Tom_Hanks__1_.png", "fr_train_kit_harington_john2.jpeg"}
    faces = client.list_faces(CollectionId="batch-staff", MaxResults=100)["Faces"]
    assert sorted(f["ExternalImageId"] for f in faces) == sorted(indexed)
    missing = batch.index_faces(folder, "no-such-collection", out=tmp_path / "none.jsonl", workers=1,
                                settings=settings)
    assert missing["Errors"] == missing["Images"]
    assert {line["Error"]["Code"] for line in lines(tmp_path / "none.jsonl")} >= {"ResourceNotFoundException"}


@pytest.fixture(scope="module")
def s3_photos(s3_server, folder):
    """The folder's files uploaded under s3://batch-photos/in/ (plus an object outside the prefix), and the
    environment that reaches the server as boto3 does (endpoint and credentials in AWS_* variables)."""
    s3 = s3_server.client()
    s3.create_bucket(Bucket="batch-photos")
    names = sorted(p.name for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("."):
            s3.put_object(Bucket="batch-photos", Key=f"in/{path.name}", Body=path.read_bytes())
    s3.put_object(Bucket="batch-photos", Key="other/x.jpg", Body=b"outside the prefix")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
        env.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
        env.setenv("AWS_DEFAULT_REGION", s3_server.region)
        yield names


@pytest.fixture(scope="module")
def s3_results(s3_photos, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("s3out") / "s3.jsonl"
    summary = batch.detect_faces("s3://batch-photos/in/", out=out, attributes=["ALL"], workers=1,
                                 settings=settings.with_(object_store="s3"))
    return out, summary


@pytest.mark.data
def test_s3_prefix(s3_photos, s3_results, local_results, settings, tmp_path):
    out, summary = s3_results
    got = lines(out)
    assert [line["Source"] for line in got] == [f"s3://batch-photos/in/{n}" for n in s3_photos]
    assert summary["Errors"] == 2
    local = {Path(line["Source"]).name: line for line in lines(local_results[0])}
    for line in got:
        expected = local[line["Source"].rsplit("/", 1)[1]]
        if "Response" in expected:
            assert line["Response"] == expected["Response"]
        else:
            assert line["Error"]["Code"] == expected["Error"]["Code"]
    with pytest.raises(batch.SourceError, match="NoSuchBucket"):
        batch.detect_faces("s3://no-such-bucket-here/", out=tmp_path / "x.jsonl",
                           settings=settings.with_(object_store="s3"))


@pytest.mark.data
def test_s3_prefix_on_ray(ray_cluster, s3_photos, s3_results, settings, tmp_path):
    """Ray actors read the objects themselves, with the endpoint and keys of this process's AWS_* variables."""
    out = tmp_path / "s3-ray.jsonl"
    batch.detect_faces("s3://batch-photos/in/", out=out, attributes=["ALL"], workers=1, ray=True,
                       settings=settings.with_(object_store="s3"))
    assert out.read_bytes() == s3_results[0].read_bytes()


@pytest.mark.data
def test_killed_cli_run_resumes_without_losing_or_doubling_lines(folder, local_results, settings, tmp_path):
    many = tmp_path / "many"
    many.mkdir()
    photos = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png", ".jpeg")
              and p.name not in ("corrupt.jpg", ".hidden.jpg")]
    for i in range(10):
        source = photos[i % len(photos)]
        shutil.copy(source, many / f"{i:02d}_{source.name}")
    out = tmp_path / "results.jsonl"
    argv = [sys.executable, "-m", "facelens", "--home", str(settings.home), "batch", "detect-faces", str(many),
            "--out", str(out), "--attributes", "ALL", "--workers", "1"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 3):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and its worker process
    process.wait()
    written = out.read_bytes().count(b"\n")
    assert 3 <= written < 10, "the run was not killed midway"
    with open(out, "ab") as f:  # what a kill in the middle of a write leaves: a line cut short
        f.write(b'{"Source":"' + str(many).encode() + b'/99_cut')
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["Skipped"] == written and summary["Written"] == 10 - written
    assert "images/s" in result.stderr and "ETA" in result.stderr
    got = lines(out)
    assert [line["Source"] for line in got] == sorted(str(p) for p in many.iterdir())
    local = {Path(line["Source"]).name: line for line in lines(local_results[0])}
    for line in got:
        assert line.get("Response") == local[Path(line["Source"]).name.split("_", 1)[1]]["Response"], line


def test_cli_usage_errors(settings, tmp_path):
    result = subprocess.run([sys.executable, "-m", "facelens", "--home", str(settings.home), "batch",
                             "detect-faces", str(tmp_path / "nothing"), "--out", str(tmp_path / "o.jsonl")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "is not a folder, a glob" in result.stderr


@pytest.mark.data
def test_ray_results_equal_local_results_byte_for_byte(ray_cluster, folder, local_results, settings, tmp_path):
    """Two Ray actors of one CPU each give the file the local pool of two one-thread engines gave."""
    on_ray = tmp_path / "ray.jsonl"
    summary = batch.detect_faces(folder, out=on_ray, attributes=["ALL"], workers=2, ray=True, settings=settings)
    assert summary["Runner"] == "ray" and summary["Workers"] == 2
    assert on_ray.read_bytes() == local_results[0].read_bytes()
    assert ray_cluster.is_initialized()  # a Ray the caller started is left running


@pytest.mark.data
def test_ray_workers_that_do_not_fit_are_refused(ray_cluster, folder, settings, tmp_path):
    with pytest.raises(ValueError, match="do not fit"):
        batch.detect_faces(folder, out=tmp_path / "r.jsonl", workers=3, cpus_per_worker=1, ray=True,
                           settings=settings)


@pytest.mark.data
def test_a_killed_worker_ends_the_run_clearly_and_the_rerun_completes(folder, local_results, settings, tmp_path):
    import multiprocessing

    out = tmp_path / "r.jsonl"

    def kill_a_worker(done, total, seconds):
        if done == 1:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(batch.WorkerLost, match="rerun"):
        batch.detect_faces(folder, out=out, attributes=["ALL"], workers=1, settings=settings, progress=kill_a_worker)
    assert 1 <= len(lines(out)) < len(lines(local_results[0]))
    batch.detect_faces(folder, out=out, attributes=["ALL"], workers=1, settings=settings)
    assert out.read_bytes() == local_results[0].read_bytes()
