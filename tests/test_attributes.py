"""The FaceDetail attributes (engine/attributes.py): shapes, selection, and behaviour on labelled photos."""

import cv2
import numpy as np
import pytest

from tests.support.data import image_bytes

BOOLEANS = ("Smile", "Eyeglasses", "Sunglasses", "Beard", "Mustache", "EyesOpen", "MouthOpen", "FaceOccluded")
ORDER = ("BoundingBox", "AgeRange", "Smile", "Eyeglasses", "Sunglasses", "Gender", "Beard", "Mustache", "EyesOpen",
         "MouthOpen", "Emotions", "Landmarks", "Pose", "Quality", "Confidence", "FaceOccluded", "EyeDirection")
EMOTIONS = {"HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR"}

_cache = {}


def _face(client, rel, attrs=("ALL",), mirror=False):
    key = (rel, attrs, mirror)
    if key not in _cache:
        data = image_bytes(rel)
        if mirror:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, ::-1]
            data = cv2.imencode(".png", img)[1].tobytes()
        faces = client.detect_faces(Image={"Bytes": data}, Attributes=list(attrs))["FaceDetails"]
        assert faces, rel
        _cache[key] = faces[0]
    return _cache[key]


@pytest.mark.data
def test_all_shapes_types_and_order(client):
    f = _face(client, "images/fr_obama.jpg")
    assert tuple(f) == ORDER
    assert isinstance(f["AgeRange"]["Low"], int) and isinstance(f["AgeRange"]["High"], int)
    assert 0 <= f["AgeRange"]["Low"] <= f["AgeRange"]["High"] and f["AgeRange"]["High"] - f["AgeRange"]["Low"] <= 17
    assert f["Gender"]["Value"] in ("Male", "Female") and 50 <= f["Gender"]["Confidence"] <= 100
    for name in BOOLEANS:
        assert list(f[name]) == ["Value", "Confidence"]
        assert type(f[name]["Value"]) is bool and type(f[name]["Confidence"]) is float
        assert 50 <= f[name]["Confidence"] <= 100
    emo = f["Emotions"]
    assert {e["Type"] for e in emo} == EMOTIONS and len(emo) == 8
    conf = [e["Confidence"] for e in emo]
    assert conf == sorted(conf, reverse=True) and all(0 <= c <= 100 for c in conf)


def test_default_has_none_and_one_attribute_adds_only_itself(client, sample_bytes):
    d = client.detect_faces(Image={"Bytes": sample_bytes})["FaceDetails"][0]
    assert not set(d) & {"AgeRange", "Gender", "Emotions", *BOOLEANS}
    s = client.detect_faces(Image={"Bytes": sample_bytes}, Attributes=["SMILE"])["FaceDetails"][0]
    assert set(s) - set(d) == {"Smile"}
    g = client.detect_faces(Image={"Bytes": sample_bytes}, Attributes=["AGE_RANGE", "EMOTIONS"])["FaceDetails"][0]
    assert set(g) - set(d) == {"AgeRange", "Emotions"}


@pytest.mark.data
def test_smiling_and_neutral_portraits_disagree(client):
    assert _face(client, "images/fr_obama.jpg")["Smile"]["Value"] is True
    assert _face(client, "images/fnp_paul_rudd_1.jpg")["Smile"]["Value"] is False
    assert _face(client, "images/fr_obama.jpg")["Emotions"][0]["Type"] == "HAPPY"


@pytest.mark.data
def test_closed_eyes(client):
    assert _face(client, "images/inspireface/reaction_close_eyes.jpeg")["EyesOpen"]["Value"] is False
    assert _face(client, "images/fnp_paul_rudd_1.jpg")["EyesOpen"]["Value"] is True


@pytest.mark.data
@pytest.mark.parametrize("mirror", [False, True])
def test_a_wink_is_not_eyes_open(client, mirror):
    """One eye shut (image-left in the photo, image-right mirrored): EyesOpen is false, as for both shut."""
    face = _face(client, "images/inspireface/reaction_close_open_eyes.jpeg", mirror=mirror)
    assert face["EyesOpen"]["Value"] is False


@pytest.mark.data
def test_one_eye_features_only_where_both_eyes_are_measurable(client):
    """eye_open_min (the narrower eye) is used on a large frontal face, and repeats eye_open once the face is
    shrunk until its eyes are under EYE_RESOLVED_PX wide."""
    from facelens import images
    from facelens.engine.attributes import EYE_RESOLVED_PX

    data = image_bytes("images/inspireface/reaction_close_open_eyes.jpeg")
    big = client.engine.analyze(images.decode(data), attributes=frozenset({"EYES_OPEN"}))[0]
    f = big.attributes["features"]
    assert f["eye_open_min"] < f["eye_open"] - 0.1
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    eye_px = float(np.linalg.norm(big.mesh[263, :2] - big.mesh[362, :2]))
    scale = 0.7 * EYE_RESOLVED_PX / eye_px
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((max(small.shape[0], 240), max(small.shape[1], 240), 3), 128, np.uint8)
    canvas[:small.shape[0], :small.shape[1]] = small
    faces = client.engine.analyze(images.decode(cv2.imencode(".png", canvas)[1].tobytes()),
                                  attributes=frozenset({"EYES_OPEN"}))
    assert faces
    g = faces[0].attributes["features"]
    assert g["eye_open_min"] == g["eye_open"]


@pytest.mark.data
def test_mouth_open(client):
    assert _face(client, "images/pyfeat_0-f1-su-ph.jpg")["MouthOpen"]["Value"] is True
    assert _face(client, "images/fnp_paul_rudd_1.jpg")["MouthOpen"]["Value"] is False


@pytest.mark.data
def test_sunglasses(client):
    assert _face(client, "images/prnet_2.jpg")["Sunglasses"]["Value"] is True
    assert _face(client, "images/fnp_paul_rudd_1.jpg")["Sunglasses"]["Value"] is False


@pytest.mark.data
def test_age_child_vs_older_adult_and_gender(client):
    child = _face(client, "images/inspireface/attribute_2963.jpg")
    older = _face(client, "images/fr_biden.jpg")
    assert child["AgeRange"]["High"] < 15 < 55 < older["AgeRange"]["Low"]
    assert older["Gender"]["Value"] == "Male"
    assert _face(client, "images/skimage_astronaut.png")["Gender"]["Value"] == "Female"


@pytest.mark.data
@pytest.mark.parametrize("rel", ["images/fr_obama.jpg", "images/inspireface/reaction_close_eyes.jpeg",
                                 "images/inspireface/reaction_close_open_eyes.jpeg"])
def test_mirrored_photo_gives_the_same_attributes(client, rel):
    a, b = _face(client, rel), _face(client, rel, mirror=True)
    for name in ("Smile", "EyesOpen", "MouthOpen", "Sunglasses"):
        assert a[name]["Value"] == b[name]["Value"], name
    assert a["Gender"]["Value"] == b["Gender"]["Value"]
    assert abs(a["AgeRange"]["Low"] - b["AgeRange"]["Low"]) <= 4


@pytest.mark.data
@pytest.mark.parametrize("rel", ["images/fr_obama.jpg", "images/fr_biden.jpg"])
def test_covered_lower_face_is_occluded(client, rel):
    """A grey block over the lower half of the face box (a mask or an object) turns FaceOccluded true."""
    clear = _face(client, rel, attrs=("FACE_OCCLUDED",))
    assert clear["FaceOccluded"]["Value"] is False
    img = cv2.imdecode(np.frombuffer(image_bytes(rel), np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    b = clear["BoundingBox"]
    x1, y1 = int(b["Left"] * w), int(b["Top"] * h)
    x2, y2 = int((b["Left"] + b["Width"]) * w), int((b["Top"] + b["Height"]) * h)
    img[(y1 + y2) // 2 : y2, x1:x2] = 128
    faces = client.detect_faces(Image={"Bytes": cv2.imencode(".png", img)[1].tobytes()},
                                Attributes=["FACE_OCCLUDED"])["FaceDetails"]
    assert faces and faces[0]["FaceOccluded"]["Value"] is True


@pytest.mark.data
@pytest.mark.parametrize("rel", ["images/inspireface/bulk_mask.png", "images/inspireface/bulk_mask2.jpg"])
def test_real_face_masks_are_occluded(client, rel):
    """Photos of people wearing face masks (a white one, close to the camera; a skin-coloured one): FaceOccluded."""
    face = _face(client, rel, attrs=("FACE_OCCLUDED",))
    assert face["FaceOccluded"]["Value"] is True and face["FaceOccluded"]["Confidence"] > 70


@pytest.mark.data
def test_dark_sunglasses_make_a_face_occluded(client):
    """Rekognition counts dark sunglasses as occlusion; an uncovered face of the same set is not occluded."""
    face = _face(client, "images/prnet_2.jpg", attrs=("FACE_OCCLUDED", "SUNGLASSES"))
    assert face["Sunglasses"]["Value"] is True and face["FaceOccluded"]["Value"] is True
    assert _face(client, "images/prnet_4.jpg", attrs=("FACE_OCCLUDED",))["FaceOccluded"]["Value"] is False


@pytest.mark.data
@pytest.mark.parametrize("side", ["left", "right"])
def test_face_cut_by_the_image_border_is_occluded(client, side):
    """The picture's border through the middle of one eye (fr_obama.jpg cut at that eye's centre): the face is only
    partly captured, FaceOccluded (Rekognition). The uncut photo is not."""
    data = image_bytes("images/fr_obama.jpg")
    whole = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"][0]
    assert whole["FaceOccluded"]["Value"] is False
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    eyes = {m["Type"]: m for m in whole["Landmarks"]}
    if side == "left":
        cut = img[:, int(eyes["eyeLeft"]["X"] * img.shape[1]):]
    else:
        cut = img[:, :int(eyes["eyeRight"]["X"] * img.shape[1])]
    faces = client.detect_faces(Image={"Bytes": cv2.imencode(".png", cut)[1].tobytes()}, Attributes=["ALL"])
    assert faces["FaceDetails"][0]["FaceOccluded"]["Value"] is True


# -- the attribute network: Eyeglasses, Sunglasses, Beard, Mustache, FaceOccluded --------------------------------
NET_ATTRIBUTES = ("Eyeglasses", "Sunglasses", "Beard", "Mustache", "FaceOccluded")


def _all_faces(client, data):
    return client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]


def _pixel_box(face, w, h):
    b = face["BoundingBox"]
    return (b["Left"] * w, b["Top"] * h, (b["Left"] + b["Width"]) * w, (b["Top"] + b["Height"]) * h)


@pytest.mark.data
def test_group_photo_eyewear_only_on_the_sunglasses_face(client):
    """pyfeat_multi_face.jpg: five young people, one in dark sunglasses, nobody in clear glasses. Sunglasses are
    eyewear (Rekognition): Eyeglasses and Sunglasses true for that face only."""
    from tools import labelled

    rel = "images/pyfeat_multi_face.jpg"
    data = image_bytes(rel)
    h, w = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
    faces = _all_faces(client, data)
    rows = [r for r in labelled.read_tsv("annotated/attributes_by_eye_faces.tsv") if r["file"] == rel]
    gts = [(float(r["x"]), float(r["y"]), float(r["x"]) + float(r["w"]), float(r["y"]) + float(r["h"]))
           for r in rows]
    matched = labelled.pairs(gts, [_pixel_box(f, w, h) for f in faces], 0.3)
    assert len(matched) == 5
    for i, j in matched:
        dark = rows[i]["sunglasses"] == "1"
        assert faces[j]["Eyeglasses"]["Value"] is dark, rows[i]["notes"]
        assert faces[j]["Sunglasses"]["Value"] is dark, rows[i]["notes"]
    assert sum(f["Eyeglasses"]["Value"] for f in faces) == 1


def _draw_glasses(img, face):
    """Plain dark-rimmed glasses drawn from the response's own eye landmarks: two rounded rims and a bridge."""
    h, w = img.shape[:2]
    lm = {p["Type"]: np.array([p["X"] * w, p["Y"] * h]) for p in face["Landmarks"]}
    le, re = lm["eyeLeft"], lm["eyeRight"]
    d = re - le
    iod = float(np.linalg.norm(d))
    angle = float(np.degrees(np.arctan2(d[1], d[0])))
    t = max(2, int(round(0.06 * iod)))
    for c in (le, re):
        cv2.ellipse(img, (int(c[0]), int(c[1])), (int(0.42 * iod), int(0.30 * iod)), angle, 0, 360, (20, 20, 20), t,
                    cv2.LINE_AA)
    u = d / iod
    a, b = le + u * 0.42 * iod, re - u * 0.42 * iod
    cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (20, 20, 20), t, cv2.LINE_AA)
    return img


@pytest.mark.data
@pytest.mark.parametrize("rel", ["images/fr_obama.jpg", "images/fnp_paul_rudd_1.jpg", "images/fr_biden.jpg"])
def test_glasses_drawn_on_a_face_are_eyeglasses(client, rel):
    """The clean photo: no eyewear; the same photo with glasses drawn over the eyes: Eyeglasses (clear lenses, so
    not Sunglasses and not occluded)."""
    clean = _face(client, rel)
    assert clean["Eyeglasses"]["Value"] is False
    img = _draw_glasses(cv2.imdecode(np.frombuffer(image_bytes(rel), np.uint8), cv2.IMREAD_COLOR), clean)
    faces = _all_faces(client, cv2.imencode(".png", img)[1].tobytes())
    assert faces[0]["Eyeglasses"]["Value"] is True
    assert faces[0]["Sunglasses"]["Value"] is False


@pytest.mark.data
@pytest.mark.parametrize("rel", ["images/pyfeat_multi_face.jpg", "images/fr_test_alex_lacamoire1.jpg",
                                 "images/prnet_2.jpg", "images/inspireface/bulk_mask.png"])
def test_mirrored_photo_gives_the_same_network_attributes(client, rel):
    """The network sees each crop and its mirror image and was trained to answer a view and its mirrored, shifted
    twin alike: a mirrored photo (whose landmarks, so crop, differ by a pixel or so) gets the same answers."""
    from tools import labelled

    data = image_bytes(rel)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    faces = _all_faces(client, data)
    mirrored = _all_faces(client, cv2.imencode(".png", img[:, ::-1])[1].tobytes())
    back = [(w - x2, y1, w - x1, y2) for x1, y1, x2, y2 in (_pixel_box(f, w, h) for f in mirrored)]
    matched = labelled.pairs([_pixel_box(f, w, h) for f in faces], back, 0.5)
    assert len(matched) == len(faces)
    for i, j in matched:
        for name in NET_ATTRIBUTES:
            assert faces[i][name]["Value"] == mirrored[j][name]["Value"], (name, i)
            assert abs(faces[i][name]["Confidence"] - mirrored[j][name]["Confidence"]) < 15, (name, i)


def test_attribute_network_file_matches_its_manifest_entry():
    """The committed network is the one its manifest entry describes (checksum, size) and carries a Platt pair for
    each of its outputs, fitted on a named split."""
    import hashlib

    from facelens.models import registry

    e = registry.entry("face_attributes")
    data = registry.path("face_attributes.onnx").read_bytes()
    assert hashlib.sha256(data).hexdigest() == e["sha256"] and len(data) == e["size_bytes"]
    assert e["labels"] == list(NET_ATTRIBUTES)
    assert all(np.isfinite([e["calibration"][k]["a"], e["calibration"][k]["b"]]).all() and e["calibration"][k]["a"] > 0
               for k in NET_ATTRIBUTES)
    assert "calibration split" in e["calibration"]["split"] and "--seed" in e["trainer"]["command"]
