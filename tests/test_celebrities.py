"""The celebrity gallery and RecognizeCelebrities / GetCelebrityInfo on real photos of real people.

People (../shared/data): Barack Obama and Joe Biden (images/fr_*), Angelina Jolie and Scarlett Johansson (deepface
identity groups 0 and 2), Lin-Manuel Miranda (images/fr_lin-manuel-miranda.png). Each is added from one photo and
must be recognized in other photos of the same person; photos of people not in the gallery (Kit Harington, Rose
Leslie, Alex Lacamoire, deepface's Zuckerberg, Katy Perry, Clooney, Damon, Aniston) must not be. The gallery lives
in a home of its own (a temporary folder).
"""

import re
import threading

import cv2
import numpy as np
import pytest

from facelens.celebrities import MAX_FACES, RECOGNITION_THRESHOLD
from facelens.errors import ParamValidationError
from tests.support.cli import run_cli
from tests.support.data import data_path, image_bytes

pytestmark = pytest.mark.data

ID = re.compile(r"^[0-9A-Za-z]{8}$")
DF = "annotated/deepface_dataset/"
OBAMA, OBAMA_OTHER, OBAMA3 = "images/fr_obama.jpg", "images/fr_test_obama1.jpg", "images/fr_obama3.jpg"
BIDEN = "images/fr_biden.jpg"
TWO = "images/fr_two_people.jpg"  # Obama (left) and Biden (right)
NO_FACE = "nofaces/if_bulk_view.jpg"  # a landscape
GALLERY = (  # name, reference photo, urls, gender
    ("Barack Obama", OBAMA, ["https://en.wikipedia.org/wiki/Barack_Obama", "www.imdb.com/name/nm1682433"], "Male"),
    ("Joe Biden", BIDEN, [], None),
    ("Angelina Jolie", DF + "img1.jpg", ["www.imdb.com/name/nm0001401"], "Female"),
    ("Scarlett Johansson", DF + "img8.jpg", [], "Female"),
    ("Lin-Manuel Miranda", "images/fr_lin-manuel-miranda.png", [], "Male"),
)
COMPARED_FACE = ["BoundingBox", "Confidence", "Landmarks", "Pose", "Quality", "Emotions", "Smile"]


def _strip(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def _recognize(client, rel):
    return client.recognize_celebrities(Image={"Bytes": image_bytes(rel)})


@pytest.fixture(scope="module")
def cc(tmp_path_factory, backend):
    return backend.client(home=str(tmp_path_factory.mktemp("celebrities_home")))


@pytest.fixture(scope="module")
def people(cc):
    """name -> Id of the module gallery (never changed by the tests that use it)."""
    out = {}
    for name, rel, urls, gender in GALLERY:
        out[name] = cc.celebrities.add(name, image_bytes(rel), urls=urls, known_gender=gender)
    return out


# -- the gallery --------------------------------------------------------------------------------------------------
def test_add_list_get(cc, people):
    assert all(ID.match(i) for i in people.values()) and len(set(people.values())) == len(GALLERY)
    listed = cc.celebrities.list()
    assert [c["Name"] for c in listed] == [g[0] for g in GALLERY]  # in the order added
    for entry, (name, _, urls, gender) in zip(listed, GALLERY):
        assert entry["Id"] == people[name] and entry["Urls"] == urls and entry["ReferenceImageCount"] == 1
        assert entry.get("KnownGender") == ({"Type": gender} if gender else None)
        assert cc.celebrities.get(entry["Id"]) == entry


def test_get_celebrity_info_round_trip(cc, people):
    info = _strip(cc.get_celebrity_info(Id=people["Barack Obama"]))
    assert info == {"Urls": GALLERY[0][2], "Name": "Barack Obama", "KnownGender": {"Type": "Male"}}
    assert _strip(cc.get_celebrity_info(Id=people["Joe Biden"])) == {"Urls": [], "Name": "Joe Biden"}


# -- recognition ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "probe"), [
    ("Barack Obama", OBAMA_OTHER), ("Barack Obama", "images/fr_obama2.jpg"),
    ("Joe Biden", "images/fr_train_biden_biden2.jpg"),
    ("Angelina Jolie", DF + "img2.jpg"), ("Angelina Jolie", DF + "img4.jpg"),
    ("Scarlett Johansson", DF + "img9.jpg"), ("Scarlett Johansson", DF + "img47.jpg"),
])
def test_recognized_in_another_photo(cc, people, name, probe):
    resp = _recognize(cc, probe)
    assert resp["UnrecognizedFaces"] == []
    assert len(resp["CelebrityFaces"]) == 1
    celeb = resp["CelebrityFaces"][0]
    _, _, urls, gender = next(g for g in GALLERY if g[0] == name)
    assert celeb["Id"] == people[name] and celeb["Name"] == name and celeb["Urls"] == urls
    assert celeb.get("KnownGender") == ({"Type": gender} if gender else None)
    assert RECOGNITION_THRESHOLD <= celeb["MatchConfidence"] <= 100
    assert list(celeb) == [k for k in ("Urls", "Name", "Id", "Face", "MatchConfidence", "KnownGender") if k in celeb]
    face = celeb["Face"]
    assert list(face) == COMPARED_FACE
    assert [lm["Type"] for lm in face["Landmarks"]] == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
    assert isinstance(face["Smile"]["Value"], bool) and face["Emotions"] and 90 <= face["Confidence"] <= 100
    detected = cc.detect_faces(Image={"Bytes": image_bytes(probe)})["FaceDetails"][0]  # the same face, same box
    assert face["BoundingBox"] == pytest.approx(detected["BoundingBox"])
    assert face["Pose"] == pytest.approx(detected["Pose"])


@pytest.mark.parametrize("probe", [
    "images/fr_train_kit_harington_john1.jpeg", "images/fr_train_rose_leslie_img1.jpg",
    "images/fr_alex-lacamoire.png", "images/fr_test_alex_lacamoire1.jpg",
    DF + "img13.jpg", DF + "img26.jpg", DF + "img38.jpg", DF + "img29.jpg", DF + "img3.jpg",
])
def test_other_people_are_not_recognized(cc, people, probe):
    resp = _recognize(cc, probe)
    assert resp["CelebrityFaces"] == []
    assert len(resp["UnrecognizedFaces"]) == 1 and list(resp["UnrecognizedFaces"][0]) == COMPARED_FACE
    image = cc.runtime.load_image({"Bytes": image_bytes(probe)})
    faces = cc.engine.analyze(image)
    (record, confidence), = cc.celebrities.recognize_faces(image, faces[:1])
    assert record is None and 0 <= confidence < RECOGNITION_THRESHOLD  # the best gallery match stays below


def test_multi_face_image(cc, people):
    resp = _recognize(cc, TWO)
    assert resp["UnrecognizedFaces"] == []
    found = {c["Name"]: c for c in resp["CelebrityFaces"]}
    assert set(found) == {"Barack Obama", "Joe Biden"}
    centre = {n: c["Face"]["BoundingBox"]["Left"] + c["Face"]["BoundingBox"]["Width"] / 2 for n, c in found.items()}
    assert centre["Barack Obama"] < 0.5 < centre["Joe Biden"]
    assert all(c["MatchConfidence"] >= RECOGNITION_THRESHOLD for c in found.values())

    couple = _recognize(cc, DF + "couple.jpg")  # Angelina Jolie (in the gallery) and Brad Pitt (not)
    assert [c["Name"] for c in couple["CelebrityFaces"]] == ["Angelina Jolie"]
    assert len(couple["UnrecognizedFaces"]) == 1
    jolie = couple["CelebrityFaces"][0]["Face"]["BoundingBox"]
    pitt = couple["UnrecognizedFaces"][0]["BoundingBox"]
    assert abs(jolie["Left"] - pitt["Left"]) > 0.1  # two different faces

    group = _recognize(cc, "images/if_t1.jpg")  # six people, none in the gallery
    assert group["CelebrityFaces"] == []
    assert len(group["UnrecognizedFaces"]) == len(cc.detect_faces(Image={"Bytes": image_bytes("images/if_t1.jpg")})
                                                  ["FaceDetails"]) == 6


def test_at_most_the_64_largest_faces(cc, people, backend):
    """A crowd photo twice side by side (92 faces at detector_max_side=1280): the 64 largest come back."""
    img = cv2.imdecode(np.frombuffer(image_bytes("annotated/widerface_val/0_Parade_Parade_0_873.jpg"), np.uint8),
                       cv2.IMREAD_COLOR)
    data = cv2.imencode(".jpg", np.concatenate([img, img], axis=1), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    big = backend.client(home=str(cc.home), detector_max_side=1280)
    detected = big.detect_faces(Image={"Bytes": data})["FaceDetails"]
    assert len(detected) > MAX_FACES
    resp = big.recognize_celebrities(Image={"Bytes": data})
    faces = [c["Face"] for c in resp["CelebrityFaces"]] + resp["UnrecognizedFaces"]
    assert len(faces) == MAX_FACES and resp["CelebrityFaces"] == []
    key = lambda b: (round(b["Left"], 6), round(b["Top"], 6))  # noqa: E731
    assert sorted(key(f["BoundingBox"]) for f in faces) == sorted(key(d["BoundingBox"]) for d in detected[:MAX_FACES])


def test_image_from_the_object_store(cc, people):
    cc.store.put("photos", "team/obama.jpg", image_bytes(OBAMA_OTHER))
    resp = cc.recognize_celebrities(Image={"S3Object": {"Bucket": "photos", "Name": "team/obama.jpg"}})
    assert [c["Id"] for c in resp["CelebrityFaces"]] == [people["Barack Obama"]]


def test_match_for_the_video_job(cc, people):
    """``client.celebrities.match(descriptors)``: what the video celebrity job calls per frame."""
    image = cc.runtime.load_image({"Bytes": image_bytes(TWO)})
    faces = cc.engine.analyze(image)
    vectors = cc.engine.descriptors(image, faces)
    found = cc.celebrities.match(vectors)
    assert [c.name for c, _ in found] == [r["Name"] for r in _recognize(cc, TWO)["CelebrityFaces"]]
    assert all(conf >= RECOGNITION_THRESHOLD for _, conf in found)
    strict = cc.celebrities.match(vectors, threshold=100.0)  # the confidence stays, the name goes
    assert [c for c, _ in strict] == [None, None] and [s for _, s in strict] == [s for _, s in found]


# -- changes, persistence, processes ------------------------------------------------------------------------------
def test_remove_and_persistence_across_clients(tmp_path, backend):
    first = backend.client(home=str(tmp_path))
    assert first.celebrities.match(np.zeros((1, 128), np.float32)) == [(None, 0.0)]  # empty gallery
    obama = first.celebrities.add("Barack Obama", image_bytes(OBAMA), urls=["www.example.org/obama"])
    assert [c["Name"] for c in _recognize(first, OBAMA_OTHER)["CelebrityFaces"]] == ["Barack Obama"]

    second = backend.client(home=str(tmp_path))  # a new client on the same home sees the stored gallery
    assert [c["Id"] for c in second.celebrities.list()] == [obama]
    assert [c["Id"] for c in _recognize(second, OBAMA_OTHER)["CelebrityFaces"]] == [obama]
    assert _strip(second.get_celebrity_info(Id=obama)) == {"Urls": ["www.example.org/obama"], "Name": "Barack Obama"}

    second.celebrities.remove(obama)
    gone = _recognize(first, OBAMA_OTHER)  # the first client's in-memory gallery notices the removal
    assert gone["CelebrityFaces"] == [] and len(gone["UnrecognizedFaces"]) == 1
    assert first.celebrities.list() == []
    with pytest.raises(first.exceptions.ResourceNotFoundException):
        first.get_celebrity_info(Id=obama)
    with pytest.raises(first.exceptions.ResourceNotFoundException):
        first.celebrities.remove(obama)


def test_add_images_adds_references(tmp_path, backend):
    client = backend.client(home=str(tmp_path))
    g = client.celebrities
    obama = g.add("Barack Obama", image=image_bytes(OBAMA3))
    before = _recognize(client, OBAMA_OTHER)["CelebrityFaces"][0]["MatchConfidence"]
    record = g.add_images(obama, [image_bytes(OBAMA), image_bytes(OBAMA3)])  # OBAMA3 again: not stored twice
    assert record["ReferenceImageCount"] == 2 and g.get(obama)["ReferenceImageCount"] == 2
    after = _recognize(client, OBAMA_OTHER)["CelebrityFaces"][0]["MatchConfidence"]
    assert after >= before  # the nearest of more references can only be nearer
    both = g.add("Barack Obama (2)", images=[image_bytes(OBAMA), image_bytes(OBAMA3)])
    assert g.get(both)["ReferenceImageCount"] == 2
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        g.add_images("Zz000000", [image_bytes(OBAMA)])


def test_concurrent_adds(tmp_path, backend):
    client = backend.client(home=str(tmp_path))
    photos = [OBAMA, BIDEN, DF + "img1.jpg", DF + "img8.jpg"]
    ids, errors = [], []

    def add(n, rel):
        try:
            ids.append(client.celebrities.add(f"person {n}", image_bytes(rel)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(n, rel)) for n, rel in enumerate(photos)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(ids) == sorted(c["Id"] for c in backend.client(home=str(tmp_path)).celebrities.list())
    assert len(set(ids)) == len(photos)


# -- errors ---------------------------------------------------------------------------------------------------------
def test_errors(cc, people):
    g = cc.celebrities
    before = g.list()
    ex = cc.exceptions
    with pytest.raises(ex.ResourceNotFoundException) as e:
        cc.get_celebrity_info(Id="Zz000000")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ex.InvalidParameterException):
        cc.get_celebrity_info(Id="not-an-id!")
    with pytest.raises(ParamValidationError):
        cc.get_celebrity_info()
    with pytest.raises(ParamValidationError):
        cc.get_celebrity_info(Id=people["Joe Biden"], Extra=1)
    with pytest.raises(ex.ResourceNotFoundException):
        g.remove("Zz000000")
    with pytest.raises(ex.ResourceNotFoundException):
        g.get("Zz000000")
    with pytest.raises(ex.InvalidParameterException):
        g.get("bad id")
    with pytest.raises(ex.InvalidParameterException):
        g.remove("")

    with pytest.raises(ex.InvalidParameterException, match="no faces"):
        g.add("Nobody", image_bytes(NO_FACE))
    with pytest.raises(ex.InvalidParameterException, match="2 of 2"):  # one good photo, one without a face
        g.add("Barack Obama", images=[image_bytes(OBAMA), image_bytes(NO_FACE)])
    with pytest.raises(ex.InvalidImageFormatException):
        g.add("Gif", b"GIF89a" + b"\0" * 100)
    with pytest.raises(ex.InvalidImageFormatException):
        g.add("Tiff", data_path("odd/skimage_multipage_rgb.tif").read_bytes())
    with pytest.raises(ex.ImageTooLargeException):
        g.add("Huge", b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024 + 1))
    with pytest.raises(ex.InvalidParameterException, match="name"):
        g.add("   ", image_bytes(OBAMA))
    with pytest.raises(ex.InvalidParameterException, match="KnownGender"):
        g.add("Barack Obama", image_bytes(OBAMA), known_gender="Robot")
    with pytest.raises(ex.InvalidParameterException, match="reference photo"):
        g.add("Barack Obama")
    with pytest.raises(ex.InvalidParameterException, match="Urls"):
        g.add("Barack Obama", image_bytes(OBAMA), urls=[f"u{i}" for i in range(256)])
    with pytest.raises(ParamValidationError):
        g.add("Barack Obama", image_bytes(OBAMA), urls="www.example.org")  # a str, not a list
    with pytest.raises(ParamValidationError):
        g.add("Barack Obama", "photo.jpg")  # a file name, not the photo's bytes
    assert g.list() == before  # nothing of the failed adds was stored


def test_recognize_errors_are_those_of_detect_faces(cc, people):
    ex = cc.exceptions
    for image in ({"Bytes": b"GIF89a" + b"\0" * 100}, {"Bytes": image_bytes(OBAMA)[:2000]}):
        with pytest.raises(ex.InvalidImageFormatException) as rec:
            cc.recognize_celebrities(Image=image)
        with pytest.raises(ex.InvalidImageFormatException) as det:
            cc.detect_faces(Image=image)
        assert rec.value.message == det.value.message
        assert "RecognizeCelebrities" in str(rec.value)
    with pytest.raises(ex.InvalidParameterException):
        cc.recognize_celebrities(Image={})
    with pytest.raises(ex.InvalidS3ObjectException):
        cc.recognize_celebrities(Image={"S3Object": {"Bucket": "photos", "Name": "missing.jpg"}})
    with pytest.raises(ParamValidationError):
        cc.recognize_celebrities()
    empty = cc.recognize_celebrities(Image={"Bytes": image_bytes(NO_FACE)})
    assert _strip(empty) == {"CelebrityFaces": [], "UnrecognizedFaces": []}


# -- the HTTP endpoint with boto3 -----------------------------------------------------------------------------------
def test_through_the_http_endpoint_with_boto3(cc, people, serve):
    from facelens.server import operations
    from tests.support.endpoint import DroppedKeys, boto

    assert {"RecognizeCelebrities", "GetCelebrityInfo"} <= set(operations(cc))
    server = serve(cc, keys={})
    try:
        rek = boto(server.url)
        dropped = DroppedKeys(rek)
        remote = rek.recognize_celebrities(Image={"Bytes": image_bytes(TWO)})
        local = cc.recognize_celebrities(Image={"Bytes": image_bytes(TWO)})
        assert {c["Name"] for c in remote["CelebrityFaces"]} == {"Barack Obama", "Joe Biden"}
        assert _strip(remote) == _strip(local)  # the same computation, every float intact
        info = rek.get_celebrity_info(Id=people["Barack Obama"])
        assert _strip(info) == _strip(cc.get_celebrity_info(Id=people["Barack Obama"]))
        assert info["KnownGender"] == {"Type": "Male"}
        with pytest.raises(rek.exceptions.ResourceNotFoundException):
            rek.get_celebrity_info(Id="Zz000000")
        with pytest.raises(rek.exceptions.InvalidImageFormatException):
            rek.recognize_celebrities(Image={"Bytes": b"GIF89a" + b"\0" * 100})
        assert dropped.check() >= {"RecognizeCelebrities", "GetCelebrityInfo"}  # botocore kept every key
    finally:
        server.stop()


# -- the command line -------------------------------------------------------------------------------------------------
def test_cli_celebrities(tmp_path, backend):
    home = tmp_path / "home"
    env = backend.env(home)
    obama, obama3, other = data_path(OBAMA), data_path(OBAMA3), data_path(OBAMA_OTHER)
    added = run_cli(home, "celebrities", "add", "Barack Obama", obama, obama3, "--url", "www.example.org/a",
                "--url", "www.example.org/b", "--gender", "Male", env=env)
    assert ID.match(added["Id"]) and added["Name"] == "Barack Obama" and added["ReferenceImageCount"] == 2
    assert added["Urls"] == ["www.example.org/a", "www.example.org/b"] and added["KnownGender"] == {"Type": "Male"}
    biden = run_cli(home, "celebrities", "add", "Joe Biden", data_path(BIDEN), env=env)["Id"]
    assert [c["Id"] for c in run_cli(home, "celebrities", "list", env=env)["Celebrities"]] == [added["Id"], biden]

    found = run_cli(home, "recognize-celebrities", other, env=env)
    assert [c["Id"] for c in found["CelebrityFaces"]] == [added["Id"]] and found["UnrecognizedFaces"] == []
    assert found["CelebrityFaces"][0]["MatchConfidence"] >= RECOGNITION_THRESHOLD
    both = run_cli(home, "recognize-celebrities", data_path(TWO), env=env)
    assert {c["Name"] for c in both["CelebrityFaces"]} == {"Barack Obama", "Joe Biden"}
    info = run_cli(home, "get-celebrity-info", added["Id"], env=env)
    assert _strip(info) == {"Urls": added["Urls"], "Name": "Barack Obama", "KnownGender": {"Type": "Male"}}

    # another process changed the gallery: an in-process client on the same home sees it
    client = backend.client(home=str(home))
    assert {c["Id"] for c in client.celebrities.list()} == {added["Id"], biden}
    assert run_cli(home, "celebrities", "remove", biden, env=env) == {"Id": biden, "Removed": True}
    assert [c["Name"] for c in _recognize(client, TWO)["CelebrityFaces"]] == ["Barack Obama"]

    for argv, text in ((("get-celebrity-info", biden), "ResourceNotFoundException"),
                       (("get-celebrity-info", "bad-id!"), "InvalidParameterException"),
                       (("celebrities", "remove", biden), "ResourceNotFoundException"),
                       (("celebrities", "add", "Nobody", data_path(NO_FACE)), "InvalidParameterException"),
                       (("celebrities", "add", "Nobody", tmp_path / "nope.jpg"), "cannot read"),
                       (("recognize-celebrities", data_path("odd/skimage_multipage_rgb.tif")),
                        "InvalidImageFormatException")):
        bad = run_cli(home, *argv, ok=False, env=env)
        assert bad.returncode == 2 and text in bad.stderr and bad.stdout == "", (argv, bad.stderr)
    bad = run_cli(home, "celebrities", "add", "X", obama, "--gender", "Robot", ok=False, env=env)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    assert [c["Id"] for c in run_cli(home, "celebrities", "list", env=env)["Celebrities"]] == [added["Id"]]
