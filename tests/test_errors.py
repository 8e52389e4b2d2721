"""Bad input gets the error Rekognition gives, with a clear message, never a crash or a hang."""

import os
import struct
import zlib

import cv2
import numpy as np
import pytest

import facelens
from facelens import errors
from facelens.images import MAX_BYTES
from tests.support.data import read


def _detect(client, data, **kw):
    return client.detect_faces(Image={"Bytes": data}, **kw)


def _png(width, height):
    ok, buf = cv2.imencode(".png", np.full((height, width, 3), 127, np.uint8))
    assert ok
    return buf.tobytes()


def test_exceptions_are_reachable_like_boto3(client):
    assert client.exceptions.InvalidParameterException is errors.InvalidParameterException
    assert issubclass(client.exceptions.InvalidImageFormatException, client.exceptions.ClientError)
    with pytest.raises(client.exceptions.InvalidParameterException) as info:
        _detect(client, b"")
    err = info.value.response["Error"]
    assert err["Code"] == "InvalidParameterException"
    assert "empty" in err["Message"]
    assert "DetectFaces" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4096),
        b"GIF89a" + os.urandom(100),
        b"BM" + os.urandom(100),
        b"II*\x00" + os.urandom(100),
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + os.urandom(100),
        b"\xff\xd8\xff\xe0" + os.urandom(200),  # JPEG magic, garbage behind it
        b"\x89PNG\r\n\x1a\n" + os.urandom(200),  # PNG magic, garbage behind it
    ],
    ids=["random", "gif", "bmp", "tiff", "webp", "jpeg-garbage", "png-garbage"],
)
def test_unsupported_or_corrupt_bytes(client, data):
    with pytest.raises(errors.InvalidImageFormatException):
        _detect(client, data)


@pytest.mark.data
@pytest.mark.parametrize(
    "rel", ["odd/pillow/pillow_hopper.gif", "odd/pillow/pillow_hopper.bmp", "odd/pillow/pillow_hopper.webp",
            "odd/pillow/pillow_hopper.tif", "odd/pillow/pillow_hopper.heif", "odd/pillow/pillow_hopper.avif",
            "odd/pillow/pillow_hopper.psd", "odd/pillow/pillow_broken.png", "odd/skimage_truncated.jpg"],
)
def test_real_files_in_other_formats_are_refused(client, rel):
    with pytest.raises(errors.InvalidImageFormatException) as info:
        _detect(client, read(rel))
    assert info.value.response["Error"]["Message"]


def test_truncated_jpeg(client, sample_bytes):
    with pytest.raises(errors.InvalidImageFormatException, match="truncated"):
        _detect(client, sample_bytes[: len(sample_bytes) // 2])


def test_too_many_bytes(client):
    with pytest.raises(errors.ImageTooLargeException):
        _detect(client, b"\xff\xd8\xff" + b"\x00" * (MAX_BYTES + 1))


def test_small_image(client):
    with pytest.raises(errors.InvalidParameterException, match="minimum"):
        _detect(client, _png(79, 200))
    _detect(client, _png(80, 80))  # the minimum itself is fine


def test_decompression_bomb_header(client):
    # A valid PNG signature and IHDR claiming 100000 x 100000 pixels, with a tiny body.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    with pytest.raises(errors.ImageTooLargeException, match="dimensions"):
        _detect(client, data)


@pytest.mark.data
def test_pillow_decompression_bomb_gif(client):
    with pytest.raises(errors.InvalidImageFormatException):
        _detect(client, read("odd/pillow/pillow_decompression_bomb.gif"))


def test_both_bytes_and_s3object(client, sample_bytes):
    with pytest.raises(errors.InvalidParameterException, match="not both"):
        client.detect_faces(Image={"Bytes": sample_bytes, "S3Object": {"Bucket": "abc", "Name": "x.jpg"}})


def test_neither_bytes_nor_s3object(client):
    with pytest.raises(errors.InvalidParameterException):
        client.detect_faces(Image={})


def test_missing_image_is_a_param_validation_error(client):
    with pytest.raises(facelens.ParamValidationError, match="Missing required parameter"):
        client.detect_faces()
    with pytest.raises(facelens.ParamValidationError, match="Unknown parameter"):
        client.detect_faces(Image={"Bytes": b"x"}, Bogus=1)


def test_unknown_attribute(client, sample_bytes):
    with pytest.raises(errors.InvalidParameterException, match="NOSE_SIZE"):
        _detect(client, sample_bytes, Attributes=["DEFAULT", "NOSE_SIZE"])


def test_missing_s3_object(client):
    with pytest.raises(errors.InvalidS3ObjectException):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "nobody.jpg"}})


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/../../b.jpg", "/etc/passwd", "./x.jpg"])
def test_s3_names_cannot_escape_the_store(client, name):
    with pytest.raises(errors.InvalidS3ObjectException):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": name}})


def test_bad_bucket_name(client):
    with pytest.raises(errors.InvalidParameterException):
        client.detect_faces(Image={"S3Object": {"Bucket": "..", "Name": "x.jpg"}})


def test_s3_object_round_trip(client, sample_bytes):
    client.store.put("photos", "people/astronaut.jpg", sample_bytes)
    via_s3 = client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "people/astronaut.jpg"}})
    via_bytes = client.detect_faces(Image={"Bytes": sample_bytes})
    assert via_s3["FaceDetails"] == via_bytes["FaceDetails"]
    assert len(via_s3["FaceDetails"]) == 1


def test_corrupt_model_file_is_named(tmp_path, monkeypatch):
    from facelens.models import registry

    for name in ("manifest.json", "centerface.onnx"):
        (tmp_path / name).write_bytes((registry.MODELS_DIR / name).read_bytes())
    blob = bytearray((tmp_path / "centerface.onnx").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / "centerface.onnx").write_bytes(bytes(blob))
    monkeypatch.setattr(registry, "MODELS_DIR", tmp_path)
    monkeypatch.setattr(registry, "_verified", {})
    monkeypatch.setattr(registry, "_manifest", None)
    with pytest.raises(errors.ModelError, match=r"centerface\.onnx.*corrupt"):
        registry.path("centerface.onnx")
    (tmp_path / "centerface.onnx").unlink()
    with pytest.raises(errors.ModelError, match=r"centerface\.onnx.*missing"):
        registry.path("centerface.onnx")


@pytest.mark.data
def test_every_odd_file_gives_a_result_or_a_rekognition_error(client):
    from tests.support.data import data_path

    root = data_path("odd")
    seen = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix == ".py":
            continue
        data = path.read_bytes()
        try:
            result = client.detect_faces(Image={"Bytes": data})
        except facelens.ClientError as e:
            assert e.code != "InternalServerError", f"{path}: {e}"
        else:
            assert isinstance(result["FaceDetails"], list)
        seen += 1
    assert seen > 40
