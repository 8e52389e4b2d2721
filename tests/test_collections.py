"""Face collections: the nine operations, their responses, errors, pagination, idempotent IndexFaces and the
QualityFilter reasons, on real photos. The collections live in a home of their own (a temporary folder)."""

import datetime
import json
import re
import threading

import cv2
import numpy as np
import pytest

import facelens
from tests.support.data import image_bytes

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

OBAMA = "images/fr_obama.jpg"
OBAMA2 = "images/fr_obama2.jpg"
BIDEN = "images/fr_biden.jpg"
GROUP = "images/if_t1.jpg"  # six faces
TWO = "images/fr_two_people.jpg"  # Obama (left) and Biden (right)


@pytest.fixture(scope="module")
def cc(tmp_path_factory, backend):
    """A client with its own FACELENS home: collection tests never see other tests' data."""
    return backend.client(home=str(tmp_path_factory.mktemp("collections_home")))


_counter = iter(range(10**6))


@pytest.fixture
def coll(cc):
    """A fresh collection, deleted afterwards."""
    name = f"test-{next(_counter)}"
    cc.create_collection(CollectionId=name)
    yield name
    try:
        cc.delete_collection(CollectionId=name)
    except cc.exceptions.ResourceNotFoundException:
        pass


def jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def rgb_of(rel: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(image_bytes(rel), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def index(cc, coll, rel, **kw):
    data = rel if isinstance(rel, bytes) else image_bytes(rel)
    return cc.index_faces(CollectionId=coll, Image={"Bytes": data}, **kw)


def area(box):
    return box["Width"] * box["Height"]


def strip(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


# -- collection lifecycle ---------------------------------------------------------------------------------------

def test_create_describe_list_delete(cc):
    before = datetime.datetime.now(datetime.timezone.utc)
    resp = cc.create_collection(CollectionId="life.cycle_1-A")
    assert strip(resp) == {
        "StatusCode": 200,
        "CollectionArn": "aws:rekognition:us-east-1:000000000000:collection/life.cycle_1-A",
        "FaceModelVersion": "1.0",
    }
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    desc = cc.describe_collection(CollectionId="life.cycle_1-A")
    assert desc["FaceCount"] == 0 and desc["FaceModelVersion"] == "1.0" and desc["UserCount"] == 0
    assert desc["CollectionARN"] == "arn:aws:rekognition:us-east-1:000000000000:collection/life.cycle_1-A"
    ts = desc["CreationTimestamp"]
    assert isinstance(ts, datetime.datetime) and ts.tzinfo is not None
    assert before - datetime.timedelta(seconds=2) <= ts <= datetime.datetime.now(datetime.timezone.utc)
    listed = cc.list_collections()
    assert "life.cycle_1-A" in listed["CollectionIds"]
    assert len(listed["FaceModelVersions"]) == len(listed["CollectionIds"])
    assert "NextToken" not in listed
    assert strip(cc.delete_collection(CollectionId="life.cycle_1-A")) == {"StatusCode": 200}
    assert "life.cycle_1-A" not in cc.list_collections()["CollectionIds"]
    with pytest.raises(cc.exceptions.ResourceNotFoundException) as e:
        cc.describe_collection(CollectionId="life.cycle_1-A")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_tags_are_accepted(cc):
    assert cc.create_collection(CollectionId="tagged", Tags={"team": "vision"})["StatusCode"] == 200
    cc.delete_collection(CollectionId="tagged")


def test_create_twice(cc, coll):
    with pytest.raises(cc.exceptions.ResourceAlreadyExistsException):
        cc.create_collection(CollectionId=coll)


@pytest.mark.parametrize(("op", "extra"), [
    ("delete_collection", {}),
    ("describe_collection", {}),
    ("list_faces", {}),
    ("delete_faces", {"FaceIds": ["11111111-2222-4333-8444-555555555555"]}),
    ("search_faces", {"FaceId": "11111111-2222-4333-8444-555555555555"}),
    ("index_faces", {"Image": {"Bytes": b"\xff\xd8\xff"}}),
    ("search_faces_by_image", {"Image": {"Bytes": b"\xff\xd8\xff"}}),
])
def test_missing_collection(cc, op, extra):
    with pytest.raises(cc.exceptions.ResourceNotFoundException) as e:
        getattr(cc, op)(CollectionId="no-such-collection", **extra)
    assert "no-such-collection" in e.value.response["Error"]["Message"]


@pytest.mark.parametrize(("op", "kwargs"), [
    ("create_collection", {"CollectionId": ""}),
    ("create_collection", {"CollectionId": "has space"}),
    ("create_collection", {"CollectionId": "slash/no"}),
    ("create_collection", {"CollectionId": "x" * 256}),
    ("describe_collection", {"CollectionId": "colon:no"}),
    ("index_faces", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "ExternalImageId": "a/b"}),
    ("index_faces", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "ExternalImageId": ""}),
    ("index_faces", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "ExternalImageId": "e" * 256}),
    ("index_faces", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "MaxFaces": 0}),
    ("index_faces", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "QualityFilter": "BEST"}),
    ("index_faces", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "DetectionAttributes": ["NOSE"]}),
    ("search_faces", {"CollectionId": "c", "FaceId": "not-a-uuid"}),
    ("search_faces", {"CollectionId": "c", "FaceId": "11111111-2222-4333-8444-55555555555A"}),
    ("search_faces", {"CollectionId": "c", "FaceId": "11111111-2222-4333-8444-555555555555", "MaxFaces": 0}),
    ("search_faces", {"CollectionId": "c", "FaceId": "11111111-2222-4333-8444-555555555555", "MaxFaces": 4097}),
    ("search_faces", {"CollectionId": "c", "FaceId": "11111111-2222-4333-8444-555555555555",
                      "FaceMatchThreshold": 100.5}),
    ("search_faces", {"CollectionId": "c", "FaceId": "11111111-2222-4333-8444-555555555555",
                      "FaceMatchThreshold": -1}),
    ("search_faces_by_image", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "QualityFilter": "low"}),
    ("delete_faces", {"CollectionId": "c", "FaceIds": []}),
    ("delete_faces", {"CollectionId": "c", "FaceIds": ["nope"]}),
    ("delete_faces", {"CollectionId": "c", "FaceIds": ["11111111-2222-4333-8444-555555555555"] * 4097}),
    ("list_faces", {"CollectionId": "c", "MaxResults": 4097}),
    ("list_faces", {"CollectionId": "c", "MaxResults": -1}),
    ("list_faces", {"CollectionId": "c", "FaceIds": ["x"]}),
    ("list_faces", {"CollectionId": "c", "UserId": "bad user"}),
    ("create_collection", {"CollectionId": "tagged", "Tags": {f"k{i}": "v" for i in range(201)}}),
    ("search_faces", {"CollectionId": "c", "FaceId": "11111111-2222-4333-8444-555555555555",
                      "FaceMatchThreshold": float("nan")}),
    ("list_collections", {"MaxResults": 5000}),
    ("list_collections", {"NextToken": "t" * 256}),
])
def test_invalid_parameters(cc, op, kwargs):
    with pytest.raises(cc.exceptions.InvalidParameterException):
        getattr(cc, op)(**kwargs)


@pytest.mark.parametrize(("op", "kwargs"), [
    ("create_collection", {}),
    ("create_collection", {"CollectionId": 5}),
    ("create_collection", {"CollectionId": "a", "Colour": "red"}),
    ("index_faces", {"CollectionId": "c"}),
    ("index_faces", {"CollectionId": "c", "Image": {"Bytes": b"x"}, "MaxFaces": "2"}),
    ("search_faces", {"CollectionId": "c"}),
    ("delete_faces", {"CollectionId": "c"}),
    ("list_collections", {"MaxResults": "10"}),
    ("search_faces_by_image", {"CollectionId": "c", "Image": {"Url": "http://x"}}),
])
def test_shape_errors(cc, op, kwargs):
    with pytest.raises(facelens.ParamValidationError):
        getattr(cc, op)(**kwargs)


@pytest.mark.data
def test_image_errors(cc, coll):
    with pytest.raises(cc.exceptions.InvalidImageFormatException):
        index(cc, coll, b"GIF89a" + bytes(100))
    with pytest.raises(cc.exceptions.InvalidImageFormatException):
        cc.search_faces_by_image(CollectionId=coll, Image={"Bytes": b"\x00" * 500})
    with pytest.raises(cc.exceptions.ImageTooLargeException):
        index(cc, coll, b"\xff\xd8\xff" + bytes(5 * 1024 * 1024 + 10))
    with pytest.raises(cc.exceptions.InvalidParameterException):  # under 80x80
        index(cc, coll, jpeg(np.zeros((60, 60, 3), np.uint8)))
    with pytest.raises(cc.exceptions.InvalidS3ObjectException):
        cc.index_faces(CollectionId=coll, Image={"S3Object": {"Bucket": "nobucket", "Name": "x.jpg"}})


# -- IndexFaces ---------------------------------------------------------------------------------------------------

@pytest.mark.data
def test_index_faces_response(cc, coll):
    resp = index(cc, coll, GROUP, ExternalImageId="friends:t1")
    assert set(strip(resp)) == {"FaceRecords", "FaceModelVersion", "UnindexedFaces"}
    assert resp["FaceModelVersion"] == "1.0"
    records = resp["FaceRecords"]
    assert len(records) == 6 and resp["UnindexedFaces"] == []
    areas = [area(r["Face"]["BoundingBox"]) for r in records]
    assert areas == sorted(areas, reverse=True)  # largest first
    image_ids = {r["Face"]["ImageId"] for r in records}
    assert len(image_ids) == 1 and UUID.fullmatch(image_ids.pop())
    for r in records:
        face = r["Face"]
        assert set(face) == {"FaceId", "BoundingBox", "ImageId", "ExternalImageId", "Confidence"}
        assert UUID4.fullmatch(face["FaceId"]) and face["ExternalImageId"] == "friends:t1"
        assert set(r["FaceDetail"]) == {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}
        assert r["FaceDetail"]["BoundingBox"] == face["BoundingBox"]
        assert abs(r["FaceDetail"]["Confidence"] - face["Confidence"]) < 1e-9
    assert len({r["Face"]["FaceId"] for r in records}) == 6
    json.dumps(strip(resp))
    assert cc.describe_collection(CollectionId=coll)["FaceCount"] == 6


@pytest.mark.data
def test_detection_attributes(cc, coll):
    resp = index(cc, coll, OBAMA, DetectionAttributes=["DEFAULT", "EYE_DIRECTION"])
    (rec,) = resp["FaceRecords"]
    assert set(rec["FaceDetail"]["EyeDirection"]) == {"Yaw", "Pitch", "Confidence"}
    assert "ExternalImageId" not in rec["Face"]
    full = index(cc, coll, OBAMA, DetectionAttributes=["ALL"])["FaceRecords"][0]["FaceDetail"]
    assert len(full["Landmarks"]) == 30 and "EyeDirection" in full
    detect = cc.detect_faces(Image={"Bytes": image_bytes(OBAMA)}, Attributes=["ALL"])["FaceDetails"][0]
    assert set(full) == set(detect)


@pytest.mark.data
def test_same_image_is_not_indexed_twice(cc, coll):
    first = index(cc, coll, TWO, ExternalImageId="pair")
    again = index(cc, coll, TWO, ExternalImageId="pair")
    ids = [r["Face"]["FaceId"] for r in first["FaceRecords"]]
    assert len(ids) == 2
    assert [r["Face"]["FaceId"] for r in again["FaceRecords"]] == ids
    assert cc.describe_collection(CollectionId=coll)["FaceCount"] == 2
    # the same content under another ExternalImageId is another image to index; without one, too
    other = index(cc, coll, TWO, ExternalImageId="pair-2")
    assert not {r["Face"]["FaceId"] for r in other["FaceRecords"]} & set(ids)
    assert other["FaceRecords"][0]["Face"]["ImageId"] == first["FaceRecords"][0]["Face"]["ImageId"]
    none1 = index(cc, coll, TWO)
    none2 = index(cc, coll, TWO)
    assert [r["Face"]["FaceId"] for r in none1["FaceRecords"]] == [r["Face"]["FaceId"] for r in none2["FaceRecords"]]
    assert cc.describe_collection(CollectionId=coll)["FaceCount"] == 6
    # a first call limited to one face, then a second one without limit, adds only the missing face
    one = index(cc, coll, TWO, ExternalImageId="step", MaxFaces=1)
    both = index(cc, coll, TWO, ExternalImageId="step")
    assert one["FaceRecords"][0]["Face"]["FaceId"] in [r["Face"]["FaceId"] for r in both["FaceRecords"]]
    assert cc.describe_collection(CollectionId=coll)["FaceCount"] == 8
    # a different image (re-encoded) gets another ImageId
    other_image = index(cc, coll, jpeg(rgb_of(TWO)), ExternalImageId="pair")
    assert other_image["FaceRecords"][0]["Face"]["ImageId"] != first["FaceRecords"][0]["Face"]["ImageId"]


@pytest.mark.data
def test_max_faces_keeps_the_largest(cc, coll):
    group = "images/fnp_multiface.jpg"  # six faces that all pass HIGH: only size decides
    resp = index(cc, coll, group, MaxFaces=2)
    detected = cc.detect_faces(Image={"Bytes": image_bytes(group)})["FaceDetails"]
    assert len(resp["FaceRecords"]) == 2 and len(resp["UnindexedFaces"]) == 4
    assert all(u["Reasons"] == ["EXCEEDS_MAX_FACES"] for u in resp["UnindexedFaces"])
    kept = sorted(area(r["Face"]["BoundingBox"]) for r in resp["FaceRecords"])
    dropped = [area(u["FaceDetail"]["BoundingBox"]) for u in resp["UnindexedFaces"]]
    assert min(kept) >= max(dropped)
    assert len(detected) == 6
    one = index(cc, coll, GROUP, MaxFaces=1, ExternalImageId="one")
    assert len(one["FaceRecords"]) == 1 and len(one["UnindexedFaces"]) == 5
    assert all(u["Reasons"] == ["EXCEEDS_MAX_FACES"] for u in one["UnindexedFaces"])


@pytest.mark.data
def test_quality_filter_reasons(cc, coll):
    rgb = rgb_of(OBAMA)
    blurred = jpeg(cv2.GaussianBlur(rgb, (0, 0), 10))
    dark = jpeg((rgb * 0.12).astype(np.uint8))
    small = cv2.resize(rgb, (rgb.shape[1] // 8, rgb.shape[0] // 8), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[100:100 + small.shape[0], 100:100 + small.shape[1]] = small
    tiny = jpeg(canvas)
    for data, reason in ((blurred, "LOW_SHARPNESS"), (dark, "LOW_BRIGHTNESS"), (tiny, "SMALL_BOUNDING_BOX")):
        resp = index(cc, coll, data)  # QualityFilter AUTO by default
        assert resp["FaceRecords"] == []
        (unindexed,) = resp["UnindexedFaces"]
        assert reason in unindexed["Reasons"], unindexed["Reasons"]
        assert set(unindexed["Reasons"]) <= {"EXTREME_POSE", "LOW_BRIGHTNESS", "LOW_SHARPNESS", "LOW_CONFIDENCE",
                                             "SMALL_BOUNDING_BOX", "LOW_FACE_QUALITY"}
        assert "BoundingBox" in unindexed["FaceDetail"]
        assert len(index(cc, coll, data, QualityFilter="NONE")["FaceRecords"]) == 1
    # the same photo unharmed passes every level
    for level in ("LOW", "MEDIUM", "AUTO", "HIGH"):
        assert len(index(cc, coll, OBAMA, QualityFilter=level)["FaceRecords"]) == 1


@pytest.mark.data
def test_quality_levels_are_nested(cc, coll):
    data = image_bytes("annotated/widerface_val/0_Parade_marchingband_1_765.jpg")
    counts = {lv: len(index(cc, coll, data, QualityFilter=lv, ExternalImageId=lv)["FaceRecords"])
              for lv in ("NONE", "LOW", "MEDIUM", "HIGH")}
    assert counts["NONE"] >= counts["LOW"] >= counts["MEDIUM"] >= counts["HIGH"]
    assert counts["NONE"] > counts["HIGH"]


def test_quality_rank_before_size():
    """Over MaxFaces the lower quality faces go first, then the smaller."""
    from facelens.collections import quality
    from facelens.pipeline import FaceAnalysis

    def face(side, sharp):
        return FaceAnalysis(box=np.array([0, 0, side, side], np.float32), score=0.9, points5=np.zeros((5, 2)),
                            mesh=np.zeros((478, 3)), mesh_presence=1.0, pose=(0, 0, 0), quality=(50.0, sharp))

    faces = [face(200, 10.0), face(100, 90.0), face(70, 90.0), face(300, 1.0)]
    assert [quality.tier(f) for f in faces] == [2, 3, 3, 0]
    kept, left_out = quality.select(faces, "NONE", 2)
    assert kept == [1, 2]  # the sharp ones, largest first, though 0 and 3 are larger
    assert dict(left_out) == {0: ["EXCEEDS_MAX_FACES"], 3: ["EXCEEDS_MAX_FACES"]}
    kept, left_out = quality.select(faces, "AUTO", 2)
    assert kept == [1, 2] and dict(left_out) == {0: ["EXCEEDS_MAX_FACES"], 3: ["LOW_SHARPNESS"]}
    kept, left_out = quality.select(faces, "AUTO", 3)
    assert kept == [0, 1, 2] and dict(left_out) == {3: ["LOW_SHARPNESS"]}
    kept, _ = quality.select(faces, "NONE", 3)
    assert kept == [0, 1, 2]
    kept, _ = quality.select([face(100, 90.0), face(150, 90.0), face(120, 90.0)], "NONE", 2)
    assert kept == [1, 2]  # same quality: the largest stay, largest first


@pytest.mark.data
def test_image_without_faces(cc, coll):
    nothing = jpeg(np.full((200, 300, 3), 90, np.uint8))
    resp = index(cc, coll, nothing)
    assert resp["FaceRecords"] == [] and resp["UnindexedFaces"] == []
    with pytest.raises(cc.exceptions.InvalidParameterException, match="no faces"):
        cc.search_faces_by_image(CollectionId=coll, Image={"Bytes": nothing})


@pytest.mark.data
def test_s3_object(cc, coll):
    cc.store.put("photos", "people/obama.jpg", image_bytes(OBAMA))
    resp = cc.index_faces(CollectionId=coll, Image={"S3Object": {"Bucket": "photos", "Name": "people/obama.jpg"}})
    assert len(resp["FaceRecords"]) == 1
    by_bytes = index(cc, coll, OBAMA)
    assert by_bytes["FaceRecords"][0]["Face"]["FaceId"] == resp["FaceRecords"][0]["Face"]["FaceId"]


# -- searching ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def people(cc):
    """A collection with Obama (two photos), Biden and the six Friends faces."""
    name = "people"
    cc.create_collection(CollectionId=name)
    ids = {
        "obama": index(cc, name, OBAMA, ExternalImageId="obama")["FaceRecords"][0]["Face"]["FaceId"],
        "obama2": index(cc, name, OBAMA2, ExternalImageId="obama2")["FaceRecords"][0]["Face"]["FaceId"],
        "biden": index(cc, name, BIDEN, ExternalImageId="biden")["FaceRecords"][0]["Face"]["FaceId"],
    }
    index(cc, name, GROUP, ExternalImageId="friends")
    return name, ids


@pytest.mark.data
def test_search_faces(cc, people):
    name, ids = people
    resp = cc.search_faces(CollectionId=name, FaceId=ids["obama"])
    assert set(strip(resp)) == {"SearchedFaceId", "FaceMatches", "FaceModelVersion"}
    assert resp["SearchedFaceId"] == ids["obama"]
    matches = resp["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in matches] == [ids["obama2"]]  # itself left out, others below 80
    assert 80 <= matches[0]["Similarity"] <= 100
    assert set(matches[0]["Face"]) == {"FaceId", "BoundingBox", "ImageId", "ExternalImageId", "Confidence",
                                       "IndexFacesModelVersion"}
    everyone = cc.search_faces(CollectionId=name, FaceId=ids["obama"], FaceMatchThreshold=0, MaxFaces=4096)
    sims = [m["Similarity"] for m in everyone["FaceMatches"]]
    assert len(sims) == 8 and sims == sorted(sims, reverse=True)
    assert all(0 <= s <= 100 for s in sims)
    assert ids["obama"] not in [m["Face"]["FaceId"] for m in everyone["FaceMatches"]]
    top3 = cc.search_faces(CollectionId=name, FaceId=ids["obama"], FaceMatchThreshold=0, MaxFaces=3)["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in top3] == [m["Face"]["FaceId"] for m in everyone["FaceMatches"][:3]]
    assert cc.search_faces(CollectionId=name, FaceId=ids["obama"], FaceMatchThreshold=100)["FaceMatches"] == []
    with pytest.raises(cc.exceptions.InvalidParameterException, match="not found"):
        cc.search_faces(CollectionId=name, FaceId="11111111-2222-4333-8444-555555555555")


@pytest.mark.data
def test_search_faces_by_image(cc, people):
    name, ids = people
    resp = cc.search_faces_by_image(CollectionId=name, Image={"Bytes": image_bytes("images/fr_test_obama1.jpg")})
    assert set(strip(resp)) == {"SearchedFaceBoundingBox", "SearchedFaceConfidence", "FaceMatches", "FaceModelVersion"}
    assert set(resp["SearchedFaceBoundingBox"]) == {"Width", "Height", "Left", "Top"}
    assert 50 <= resp["SearchedFaceConfidence"] <= 100
    assert {m["Face"]["FaceId"] for m in resp["FaceMatches"]} == {ids["obama"], ids["obama2"]}
    # the largest face of a two-person photo is the one searched for
    two = cc.search_faces_by_image(CollectionId=name, Image={"Bytes": image_bytes(TWO)}, MaxFaces=1)
    detected = cc.detect_faces(Image={"Bytes": image_bytes(TWO)})["FaceDetails"]
    assert two["SearchedFaceBoundingBox"] == detected[0]["BoundingBox"]
    assert len(two["FaceMatches"]) == 1
    # an indexed image finds its own face at ~100
    same = cc.search_faces_by_image(CollectionId=name, Image={"Bytes": image_bytes(BIDEN)})
    assert same["FaceMatches"][0]["Face"]["FaceId"] == ids["biden"] and same["FaceMatches"][0]["Similarity"] > 99.9


@pytest.mark.data
def test_search_in_empty_collection(cc, coll):
    resp = cc.search_faces_by_image(CollectionId=coll, Image={"Bytes": image_bytes(OBAMA)})
    assert resp["FaceMatches"] == []


# -- listing, pagination and deletion -----------------------------------------------------------------------------

@pytest.mark.data
def test_list_faces_pages(cc, coll):
    index(cc, coll, GROUP)
    index(cc, coll, TWO)
    index(cc, coll, OBAMA)
    everything = cc.list_faces(CollectionId=coll)
    assert "NextToken" not in everything and everything["FaceModelVersion"] == "1.0"
    all_ids = [f["FaceId"] for f in everything["Faces"]]
    assert len(all_ids) == 9 == len(set(all_ids))
    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = cc.list_faces(CollectionId=coll, MaxResults=4, **kw)
        pages += 1
        assert len(page["Faces"]) <= 4
        seen += [f["FaceId"] for f in page["Faces"]]
        token = page.get("NextToken")
        if not token:
            break
        assert len(token) <= 255
    assert pages == 3 and seen == all_ids
    subset = cc.list_faces(CollectionId=coll, FaceIds=[all_ids[3], all_ids[0], "11111111-2222-4333-8444-555555555555"])
    assert [f["FaceId"] for f in subset["Faces"]] == [all_ids[0], all_ids[3]]
    assert cc.list_faces(CollectionId=coll, UserId="someone")["Faces"] == []
    assert len(cc.list_faces(CollectionId=coll, MaxResults=0)["Faces"]) == 9  # 0: the default page size


@pytest.mark.data
def test_forged_tokens(cc, coll):
    index(cc, coll, GROUP)
    other = coll + "-other"
    cc.create_collection(CollectionId=other)
    try:
        index(cc, other, TWO)
        token = cc.list_faces(CollectionId=coll, MaxResults=2)["NextToken"]
        after, mac = token.split(".")
        flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
        forged = [
            "garbage",
            "",  # empty means "no token": allowed, see below
            token[:-1],
            f"{int(after) + 1}.{mac}",  # moved cursor, old signature
            f"{after}.{flipped}",
            token + "x",
            "1.AAAAAAAAAAAAAAAAAAAAAA",
        ]
        for bad in forged:
            if bad == "":
                assert cc.list_faces(CollectionId=coll, NextToken="")["Faces"]
                continue
            with pytest.raises(cc.exceptions.InvalidPaginationTokenException):
                cc.list_faces(CollectionId=coll, NextToken=bad)
        with pytest.raises(cc.exceptions.InvalidPaginationTokenException):  # another collection's token
            cc.list_faces(CollectionId=other, NextToken=token)
        with pytest.raises(cc.exceptions.InvalidPaginationTokenException):  # another operation's token
            cc.list_collections(NextToken=token)
        # the genuine token still works
        assert len(cc.list_faces(CollectionId=coll, NextToken=token)["Faces"]) == 4
    finally:
        cc.delete_collection(CollectionId=other)


def test_tokens_are_per_home(tmp_path, backend):
    a = backend.client(home=str(tmp_path / "a"))
    b = backend.client(home=str(tmp_path / "b"))
    for c in (a, b):
        for i in range(3):
            c.create_collection(CollectionId=f"c{i}")
    token = a.list_collections(MaxResults=1)["NextToken"]
    assert a.list_collections(NextToken=token)["CollectionIds"] == ["c1", "c2"]
    with pytest.raises(b.exceptions.InvalidPaginationTokenException):
        b.list_collections(NextToken=token)


def test_list_collections_pages(tmp_path, backend):
    c = backend.client(home=str(tmp_path))
    names = [f"coll-{i:02d}" for i in range(7)]
    for n in names:
        c.create_collection(CollectionId=n)
    got, token = [], None
    while True:
        page = c.list_collections(MaxResults=3, **({"NextToken": token} if token else {}))
        got += page["CollectionIds"]
        assert page["FaceModelVersions"] == ["1.0"] * len(page["CollectionIds"])
        token = page.get("NextToken")
        if not token:
            break
    assert got == names
    c.delete_collection(CollectionId="coll-03")
    assert c.list_collections()["CollectionIds"] == names[:3] + names[4:]


@pytest.mark.data
def test_delete_faces(cc, coll):
    ids = [r["Face"]["FaceId"] for r in index(cc, coll, GROUP)["FaceRecords"]]
    unknown = "11111111-2222-4333-8444-555555555555"
    resp = cc.delete_faces(CollectionId=coll, FaceIds=[ids[0], unknown, ids[1], ids[0]])
    assert strip(resp) == {
        "DeletedFaces": [ids[0], ids[1]],
        "UnsuccessfulFaceDeletions": [{"FaceId": unknown, "Reasons": ["FACE_NOT_FOUND"]}],
    }
    assert cc.describe_collection(CollectionId=coll)["FaceCount"] == 4
    assert [f["FaceId"] for f in cc.list_faces(CollectionId=coll)["Faces"]] == ids[2:]
    with pytest.raises(cc.exceptions.InvalidParameterException):
        cc.search_faces(CollectionId=coll, FaceId=ids[0])
    found = cc.search_faces(CollectionId=coll, FaceId=ids[2], FaceMatchThreshold=0)["FaceMatches"]
    assert {m["Face"]["FaceId"] for m in found} == set(ids[3:])
    # a deleted face's image can be indexed again (new FaceIds for the faces that were deleted)
    again = index(cc, coll, GROUP)
    assert cc.describe_collection(CollectionId=coll)["FaceCount"] == 6
    assert set(ids[2:]) <= {r["Face"]["FaceId"] for r in again["FaceRecords"]}


@pytest.mark.data
def test_delete_collection_deletes_its_faces(cc):
    cc.create_collection(CollectionId="doomed")
    fid = index(cc, "doomed", OBAMA)["FaceRecords"][0]["Face"]["FaceId"]
    cc.delete_collection(CollectionId="doomed")
    cc.create_collection(CollectionId="doomed")
    try:
        assert cc.describe_collection(CollectionId="doomed")["FaceCount"] == 0
        assert cc.list_faces(CollectionId="doomed")["Faces"] == []
        with pytest.raises(cc.exceptions.InvalidParameterException):
            cc.search_faces(CollectionId="doomed", FaceId=fid)
        assert cc.search_faces_by_image(CollectionId="doomed", Image={"Bytes": image_bytes(OBAMA)})["FaceMatches"] == []
        with cc.runtime.database.read() as tx:
            assert tx.execute("SELECT COUNT(*) FROM faces WHERE face_id=?", (fid,)).fetchone()[0] == 0
    finally:
        cc.delete_collection(CollectionId="doomed")


# -- several clients and threads ----------------------------------------------------------------------------------

@pytest.mark.data
def test_another_client_sees_changes(cc, coll, backend):
    """A second client on the same home (as another process would) finds faces added and loses deleted ones."""
    other = backend.client(home=str(cc.home))
    assert other.search_faces_by_image(CollectionId=coll, Image={"Bytes": image_bytes(OBAMA)})["FaceMatches"] == []
    fid = index(cc, coll, OBAMA)["FaceRecords"][0]["Face"]["FaceId"]
    found = other.search_faces_by_image(CollectionId=coll, Image={"Bytes": image_bytes(OBAMA2)})["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in found] == [fid]
    cc.delete_faces(CollectionId=coll, FaceIds=[fid])
    assert other.search_faces_by_image(CollectionId=coll, Image={"Bytes": image_bytes(OBAMA2)})["FaceMatches"] == []
    cc.delete_collection(CollectionId=coll)
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.search_faces_by_image(CollectionId=coll, Image={"Bytes": image_bytes(OBAMA2)})


@pytest.mark.data
def test_threads_index_and_search(cc, coll):
    photos = [OBAMA, OBAMA2, BIDEN, TWO, "images/fr_test_obama1.jpg", "images/fr_train_biden_biden2.jpg"]
    data = [image_bytes(p) for p in photos]
    results, errors = {}, []

    def work(i):
        try:
            results[i] = index(cc, coll, data[i], ExternalImageId=f"t{i}")
            cc.search_faces_by_image(CollectionId=coll, Image={"Bytes": data[i]})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(photos))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    acknowledged = {r["Face"]["FaceId"] for res in results.values() for r in res["FaceRecords"]}
    listed = {f["FaceId"] for f in cc.list_faces(CollectionId=coll)["Faces"]}
    assert acknowledged == listed and len(listed) == 7
    for res in results.values():  # every face finds itself
        for r in res["FaceRecords"]:
            found = cc.search_faces(CollectionId=coll, FaceId=r["Face"]["FaceId"], FaceMatchThreshold=0, MaxFaces=10)
            assert len(found["FaceMatches"]) == 6


@pytest.mark.data
def test_paginators_walk_every_face_once(tmp_path, backend):
    c = backend.client(home=str(tmp_path))
    assert c.can_paginate("list_faces") and not c.can_paginate("detect_faces")
    for k in range(3):
        c.create_collection(CollectionId=f"p{k}")
    c.index_faces(CollectionId="p0", Image={"Bytes": image_bytes("images/if_t1.jpg")}, QualityFilter="NONE")
    pages = list(c.get_paginator("list_faces").paginate(CollectionId="p0", PaginationConfig={"PageSize": 4}))
    ids = [f["FaceId"] for p in pages for f in p["Faces"]]
    assert len(pages) == 2 and len(ids) == 6 == len(set(ids))
    assert "NextToken" not in pages[-1]
    full = c.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 1}).build_full_result()
    assert full["CollectionIds"] == ["p0", "p1", "p2"]
    capped = list(c.get_paginator("list_faces").paginate(CollectionId="p0", PaginationConfig={"MaxItems": 5, "PageSize": 4}))
    assert sum(len(p["Faces"]) for p in capped) == 5
