"""CompareFaces: in process and through the HTTP endpoint with a real boto3 client, on real photos of
../shared/data. The accuracy on the identity sets is measured by bench/compare_accuracy.py (README)."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from facelens.errors import InvalidParameterException, ParamValidationError
from tests.support.cli import run_cli
from tests.support.data import data_path, read
from tests.support.endpoint import boto

pytestmark = pytest.mark.data

FACE_KEYS = ["BoundingBox", "Confidence", "Landmarks", "Pose", "Quality", "Emotions", "Smile"]


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _compare(client, source: bytes, target: bytes, **kw):
    return client.compare_faces(SourceImage={"Bytes": source}, TargetImage={"Bytes": target}, **kw)


def _check_shape(resp, threshold=80.0):
    assert set(resp["SourceImageFace"]) == {"BoundingBox", "Confidence"}
    sims = [m["Similarity"] for m in resp["FaceMatches"]]
    assert sims == sorted(sims, reverse=True) and all(threshold <= s <= 100 for s in sims)
    for face in [m["Face"] for m in resp["FaceMatches"]] + resp["UnmatchedFaces"]:
        assert list(face) == FACE_KEYS
        assert len(face["Landmarks"]) == 5 and len(face["Emotions"]) == 8
    areas = [f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"] for f in resp["UnmatchedFaces"]]
    assert areas == sorted(areas, reverse=True)


def test_same_person_matches_and_another_does_not(client):
    resp = _compare(client, read("images/fr_obama.jpg"), read("images/fr_two_people.jpg"))
    _check_shape(resp)
    # Obama is the left one of the two, Biden the right one
    assert len(resp["FaceMatches"]) == 1 and len(resp["UnmatchedFaces"]) == 1
    assert resp["FaceMatches"][0]["Similarity"] > 95
    assert resp["FaceMatches"][0]["Face"]["BoundingBox"]["Left"] < 0.5 < resp["UnmatchedFaces"][0]["BoundingBox"]["Left"]
    assert resp["SourceImageFace"]["Confidence"] > 90


def test_mirrored_source_still_matches(client):
    original = read("images/fr_obama.jpg")
    mirrored = _png(cv2.flip(_decode(original), 1))
    for target in (original, read("images/fr_obama2.jpg")):
        resp = _compare(client, mirrored, target)
        assert len(resp["FaceMatches"]) == 1 and resp["FaceMatches"][0]["Similarity"] >= 90, resp["FaceMatches"]
    # the source box is the mirror image of the original's
    box = _compare(client, mirrored, original)["SourceImageFace"]["BoundingBox"]
    plain = _compare(client, original, original)["SourceImageFace"]["BoundingBox"]
    assert abs((box["Left"] + box["Width"]) - (1 - plain["Left"])) < 0.02


def _six_faces():
    """{photo: [(name, x, y, w, h)]} of the two photos of the same six people (Friends cast), labelled by eye."""
    path = data_path("annotated/attributes_by_eye_faces.tsv")
    out = {}
    for row in csv.reader(path.read_text().splitlines(), delimiter="\t"):
        if row and row[0] in ("images/if_t1.jpg", "images/fnp_multiface.jpg"):
            out.setdefault(row[0], []).append((row[17].split(";")[0].split()[0], *map(int, row[1:5])))
    assert all(len(v) == 6 for v in out.values()), out
    return out


def test_six_face_photo_matches_the_right_face(client):
    """Each face of one photo of six people, cut out, against another photo of the same six: the best match is
    the same person, and nobody else reaches the default threshold."""
    labels = _six_faces()
    source = _decode(read("images/fnp_multiface.jpg"))
    target = read("images/if_t1.jpg")
    height, width = _decode(target).shape[:2]

    def who(box):
        cx, cy = (box["Left"] + box["Width"] / 2) * width, (box["Top"] + box["Height"] / 2) * height
        found = [n for n, x, y, w, h in labels["images/if_t1.jpg"] if x <= cx <= x + w and y <= cy <= y + h]
        assert len(found) == 1, box
        return found[0]

    matched_at_80 = 0
    for name, x, y, w, h in labels["images/fnp_multiface.jpg"]:
        crop = source[max(0, y - w // 2): y + h + w // 2, max(0, x - w // 2): x + w + w // 2]
        every = _compare(client, _png(crop), target, SimilarityThreshold=0)
        _check_shape(every, 0)
        assert len(every["FaceMatches"]) == 6 and not every["UnmatchedFaces"]
        best, *others = every["FaceMatches"]
        assert who(best["Face"]["BoundingBox"]) == name
        assert all(m["Similarity"] < 80 for m in others)  # at the default threshold only the right one can match
        matched_at_80 += best["Similarity"] >= 80
    assert matched_at_80 >= 3  # small faces, other poses and lighting: most still reach 80


def test_similarity_is_the_scale_of_search_faces(client):
    """The same pair of faces scores the same through CompareFaces and through a collection's search."""
    source, target = read("images/fr_obama.jpg"), read("images/fr_test_obama1.jpg")
    client.create_collection(CollectionId="compare-scale")
    try:
        client.index_faces(CollectionId="compare-scale", Image={"Bytes": target}, MaxFaces=1)
        searched = client.search_faces_by_image(CollectionId="compare-scale", Image={"Bytes": source},
                                                FaceMatchThreshold=0)["FaceMatches"][0]["Similarity"]
    finally:
        client.delete_collection(CollectionId="compare-scale")
    compared = _compare(client, source, target, SimilarityThreshold=0)["FaceMatches"][0]["Similarity"]
    assert compared == pytest.approx(searched, abs=1e-3)


def test_threshold_moves_faces_between_the_lists(client):
    source, target = read("images/fr_obama.jpg"), read("images/if_t1.jpg")
    everyone = _compare(client, source, target, SimilarityThreshold=0)
    assert len(everyone["FaceMatches"]) == 6 and not everyone["UnmatchedFaces"]
    cut = everyone["FaceMatches"][2]["Similarity"]
    split = _compare(client, source, target, SimilarityThreshold=cut)
    _check_shape(split, cut)
    assert len(split["FaceMatches"]) == 3 and len(split["UnmatchedFaces"]) == 3
    default = _compare(client, source, target)
    assert default["FaceMatches"] == [] and len(default["UnmatchedFaces"]) == 6  # Obama is not at the table


def test_no_face(client):
    blank = _png(np.full((480, 640, 3), 128, np.uint8))
    face = read("images/fr_obama.jpg")
    with pytest.raises(InvalidParameterException, match="no faces"):
        _compare(client, blank, face)
    with pytest.raises(InvalidParameterException, match="no faces in the target"):
        _compare(client, face, blank)


def test_quality_filter(client):
    """A heavily blurred face is compared with NONE (the default) and left out at AUTO: a blurred target is in
    neither list, a blurred source is no usable face."""
    sharp = read("images/fr_obama.jpg")
    blurred = _png(cv2.GaussianBlur(_decode(sharp), (0, 0), 8))
    none = _compare(client, sharp, blurred)
    assert len(none["FaceMatches"]) + len(none["UnmatchedFaces"]) == 1
    auto = _compare(client, sharp, blurred, QualityFilter="AUTO")
    assert auto["FaceMatches"] == [] and auto["UnmatchedFaces"] == []
    assert _compare(client, blurred, sharp)["SourceImageFace"]
    with pytest.raises(InvalidParameterException):
        _compare(client, blurred, sharp, QualityFilter="AUTO")


def test_s3_object_source(client):
    client.store.put("compare-bucket", "obama.jpg", read("images/fr_obama.jpg"))
    resp = client.compare_faces(SourceImage={"S3Object": {"Bucket": "compare-bucket", "Name": "obama.jpg"}},
                                TargetImage={"Bytes": read("images/fr_obama2.jpg")})
    assert len(resp["FaceMatches"]) == 1


def test_request_rules(client):
    face = {"Bytes": read("images/fr_obama.jpg")}
    with pytest.raises(ParamValidationError, match="TargetImage"):
        client.compare_faces(SourceImage=face)
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        client.compare_faces(SourceImage=face, TargetImage=face, MaxFaces=3)
    with pytest.raises(InvalidParameterException, match="SimilarityThreshold"):
        client.compare_faces(SourceImage=face, TargetImage=face, SimilarityThreshold=100.5)
    with pytest.raises(InvalidParameterException, match="QualityFilter"):
        client.compare_faces(SourceImage=face, TargetImage=face, QualityFilter="BEST")
    with pytest.raises(InvalidParameterException, match="Bytes or S3Object"):
        client.compare_faces(SourceImage=face, TargetImage={})


def test_through_boto3(client, serve):
    """A real boto3 client: the same answer as in process, every key of the JSON kept by botocore's parser, and
    the errors as boto3's exception classes."""
    source, target = read("images/fr_obama.jpg"), read("images/fr_two_people.jpg")
    with serve(client) as endpoint:
        rek = boto(endpoint.url)
        raw = []
        rek.meta.events.register("after-call.rekognition.CompareFaces",
                                 lambda http_response, parsed, **kw: raw.append((json.loads(http_response.content),
                                                                                 parsed)))
        resp = rek.compare_faces(SourceImage={"Bytes": source}, TargetImage={"Bytes": target},
                                 SimilarityThreshold=70, QualityFilter="LOW")
        mine = _compare(client, source, target, SimilarityThreshold=70, QualityFilter="LOW")
        resp.pop("ResponseMetadata")
        mine.pop("ResponseMetadata")
        assert resp == mine
        body, parsed = raw[-1]
        parsed = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
        assert body == parsed and list(body) == ["SourceImageFace", "FaceMatches", "UnmatchedFaces"]
        assert len(body["FaceMatches"]) == 1 and len(body["UnmatchedFaces"]) == 1

        blank = _png(np.zeros((200, 200, 3), np.uint8))
        with pytest.raises(rek.exceptions.InvalidParameterException):
            rek.compare_faces(SourceImage={"Bytes": blank}, TargetImage={"Bytes": target})
        with pytest.raises(rek.exceptions.InvalidS3ObjectException):
            rek.compare_faces(SourceImage={"S3Object": {"Bucket": "no-such-bucket", "Name": "x.jpg"}},
                              TargetImage={"Bytes": target})


def test_cli(tmp_path):
    source, target = data_path("images/fr_obama.jpg"), data_path("images/fr_two_people.jpg")
    out = run_cli(tmp_path, "compare-faces", source, target, "--threshold", "90", "--quality-filter", "low")
    assert len(out["FaceMatches"]) == 1 and len(out["UnmatchedFaces"]) == 1
    assert out["FaceMatches"][0]["Face"]["BoundingBox"]["Left"] < 0.5
    bad = run_cli(tmp_path, "compare-faces", source, target, "--threshold", "120", ok=False)
    assert bad.returncode == 2 and "SimilarityThreshold" in bad.stderr
    missing = run_cli(tmp_path, "compare-faces", source, tmp_path / "nope.jpg", ok=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
