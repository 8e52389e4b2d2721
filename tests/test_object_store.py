"""The local S3 store cannot be led outside ``$FACELENS_HOME/s3``: symlinked buckets, folders and objects, a folder
swapped for a symlink during reads, FIFOs and odd keys all give InvalidS3ObjectException, never another file's
bytes or another exception."""

import os
import threading

import pytest

from facelens import errors
from facelens.objects import ObjectStore


@pytest.fixture
def store(tmp_path):
    s = ObjectStore(tmp_path / "home")
    s.put("photos", "team/alice.jpg", b"inside")
    return s


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    (d / "team").mkdir(parents=True)
    (d / "team" / "alice.jpg").write_bytes(b"OUTSIDE")
    (d / "secret.txt").write_bytes(b"OUTSIDE")
    return d


def test_round_trip_and_versions(store):
    assert store.read({"Bucket": "photos", "Name": "team/alice.jpg"}, 100) == b"inside"
    store.put("photos", "team/alice.jpg.versions/v2", b"second")
    assert store.read({"Bucket": "photos", "Name": "team/alice.jpg", "Version": "v2"}, 100) == b"second"
    with pytest.raises(errors.ImageTooLargeException):
        store.read({"Bucket": "photos", "Name": "team/alice.jpg"}, 3)


def test_symlinked_bucket_is_neither_read_nor_written(store, outside):
    os.symlink(outside, store.root / "s3" / "linked")
    with pytest.raises(errors.InvalidS3ObjectException, match="symlink"):
        store.read({"Bucket": "linked", "Name": "secret.txt"}, 100)
    with pytest.raises(errors.InvalidS3ObjectException):
        store.read({"Bucket": "linked", "Name": "team/alice.jpg"}, 100)
    with pytest.raises(errors.InvalidS3ObjectException):
        store.put("linked", "new.jpg", b"x")
    with pytest.raises(errors.InvalidS3ObjectException):
        store.path_of({"Bucket": "linked", "Name": "secret.txt"})
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt", "team"]


def test_symlink_to_a_system_file_is_not_opened(store):
    os.symlink("/etc", store.root / "s3" / "etcbucket")
    os.symlink("/etc/passwd", store.root / "s3" / "photos" / "passwd.jpg")
    for obj in ({"Bucket": "etcbucket", "Name": "passwd"}, {"Bucket": "photos", "Name": "passwd.jpg"}):
        with pytest.raises(errors.InvalidS3ObjectException):
            store.read(obj, 1 << 20)


def test_symlinked_folder_and_object_inside_a_bucket(store, outside):
    os.symlink(outside / "team", store.root / "s3" / "photos" / "linkdir")
    os.symlink(outside / "secret.txt", store.root / "s3" / "photos" / "team" / "link.jpg")
    for name in ("linkdir/alice.jpg", "team/link.jpg"):
        with pytest.raises(errors.InvalidS3ObjectException):
            store.read({"Bucket": "photos", "Name": name}, 100)
    with pytest.raises(errors.InvalidS3ObjectException):
        store.put("photos", "linkdir/new.jpg", b"x")
    assert not (outside / "team" / "new.jpg").exists()


def test_folder_swapped_for_a_symlink_during_reads(store, outside):
    """A writer swaps ``photos/team`` for a symlink to an outside folder and back as fast as it can while reads
    run: each read returns the store's bytes or InvalidS3ObjectException, never the outside file."""
    bucket = store.root / "s3" / "photos"
    real, link = bucket / "team.real", bucket / "team.link"
    os.rename(bucket / "team", real)
    os.symlink(outside / "team", link)
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            os.rename(real, bucket / "team")
            os.rename(bucket / "team", real)
            os.rename(link, bucket / "team")
            os.rename(bucket / "team", link)

    t = threading.Thread(target=swap)
    t.start()
    seen = {"inside": 0, "refused": 0}
    try:
        for _ in range(3000):
            try:
                data = store.read({"Bucket": "photos", "Name": "team/alice.jpg"}, 100)
            except errors.InvalidS3ObjectException:
                seen["refused"] += 1
            else:
                assert data == b"inside"
                seen["inside"] += 1
    finally:
        stop.set()
        t.join()
    assert seen["inside"] + seen["refused"] == 3000


def test_fifo_and_folder_objects_are_refused_without_waiting(store):
    os.mkfifo(store.root / "s3" / "photos" / "pipe.jpg")
    (store.root / "s3" / "photos" / "folder.jpg").mkdir()
    for name in ("pipe.jpg", "folder.jpg", "team"):
        with pytest.raises(errors.InvalidS3ObjectException, match="not a regular file"):
            store.read({"Bucket": "photos", "Name": name}, 100)


@pytest.mark.parametrize("obj", [
    {"Bucket": "photos", "Name": "team/alice.jpg", "Version": "v\x00"},
    {"Bucket": "photos", "Name": "team/alice.jpg", "Version": "../../alice.jpg"},
    {"Bucket": "photos", "Name": "team/alice.jpg", "Version": ".."},
    {"Bucket": "photos", "Name": "team//alice.jpg"},
    {"Bucket": "photos", "Name": "x" * 300},
    {"Bucket": "photos", "Name": "/".join(["d"] * 400)},
    {"Bucket": "nobucket", "Name": "team/alice.jpg"},
])
def test_odd_keys_are_invalid_s3_objects(store, obj):
    with pytest.raises(errors.InvalidS3ObjectException):
        store.read(obj, 100)


def test_unreadable_store_folder(tmp_path):
    store = ObjectStore(tmp_path / "never-created")
    with pytest.raises(errors.InvalidS3ObjectException):
        store.read({"Bucket": "photos", "Name": "a.jpg"}, 100)
    (tmp_path / "file-home").write_bytes(b"")
    with pytest.raises(errors.InvalidS3ObjectException):
        ObjectStore(tmp_path / "file-home").read({"Bucket": "photos", "Name": "a.jpg"}, 100)
