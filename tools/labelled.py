"""The labelled data in ../shared/data (or $FACELENS_TEST_DATA), for the calibration tools, the accuracy scripts
in bench/ and the tests: one reader of its tables, one box matcher, the identity sets and their splits. The product
itself never reads this data.

The tools import it as ``labelled`` (their own folder); the tests and benches as ``tools.labelled``."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# The attributes labelled by eye (annotated/attributes_by_eye*.tsv): response name -> label column.
ATTRIBUTE_LABELS = {
    "Smile": "smile", "EyesOpen": "eyes_open", "MouthOpen": "mouth_open", "Eyeglasses": "eyeglasses",
    "Sunglasses": "sunglasses", "Beard": "beard", "Mustache": "mustache", "FaceOccluded": "face_occluded",
}


def read_tsv(rel: str) -> List[Dict[str, str]]:
    """Rows of a tab-separated table under DATA as dicts, its '#' comment lines skipped."""
    with open(DATA / rel) as f:
        return list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))


def image_bytes(path: Path) -> bytes:
    """A photo as JPEG/PNG bytes: the few labelled files in other formats (WebP, PPM) are re-encoded as PNG."""
    data = Path(path).read_bytes()
    if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
        return data
    import cv2

    return cv2.imencode(".png", cv2.imread(str(path)))[1].tobytes()


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x1, y1, x2, y2] boxes."""
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pairs(gts, dets, thr: float = 0.4) -> List[Tuple[int, int]]:
    """Greedy one-to-one matching by IoU, ground-truth boxes in order: (gt index, detection index) of every
    ground-truth box whose best free detection overlaps it with IoU >= thr."""
    used, out = set(), []
    for i, g in enumerate(gts):
        best = max(((iou(g, d), j) for j, d in enumerate(dets) if j not in used), default=(0.0, -1))
        if best[0] >= thr:
            used.add(best[1])
            out.append((i, best[1]))
    return out


def match(gts, dets, thr: float = 0.4) -> int:
    """How many ground-truth boxes find a detection with IoU >= thr (greedy one-to-one, see ``pairs``)."""
    return len(pairs(gts, dets, thr))


# (identity, [photo or (photo, "left"|"right")]) under images/
_IMAGES = (
    ("Barack Obama", ["fr_obama.jpg", "fr_obama2.jpg", "fr_obama3.jpg", "fr_test_obama1.jpg",
                      "fr_obama_partial_face.jpg", "fr_obama_partial_face2.jpg", ("fr_two_people.jpg", "left"),
                      ("fr_test_obama_and_biden.jpg", "right")]),
    ("Joe Biden", ["fr_biden.jpg", "fr_train_biden_biden2.jpg", ("fr_two_people.jpg", "right"),
                   ("fr_test_obama_and_biden.jpg", "left")]),
    ("Kit Harington", ["fr_train_kit_harington_john1.jpeg", "fr_train_kit_harington_john2.jpeg",
                       "fr_test_johnsnow_test1.jpg", ("fr_test_kit_with_rose.jpg", "right")]),
    ("Rose Leslie", ["fr_train_rose_leslie_img1.jpg", "fr_train_rose_leslie_img2.jpg",
                     ("fr_test_kit_with_rose.jpg", "left")]),
    ("Alex Lacamoire", ["fr_train_alex_lacamoire_img1.jpg", "fr_test_alex_lacamoire1.jpg", "fr_alex-lacamoire.png"]),
    ("Robert Downey Jr", ["inspireface/RD_d1.jpeg", "inspireface/RD_d2.jpeg", "inspireface/RD_d3.jpeg",
                          "inspireface/RD_d4.jpeg", "inspireface/RD_d5.jpeg"]),
    ("Rob Lowe", ["inspireface/bulk_Rob_Lowe_0001.jpg", "inspireface/bulk_Rob_Lowe_0002.jpg"]),
    ("Cai Xukun", ["inspireface/bulk_kun.jpg", "inspireface/bulk_r0.jpg", "inspireface/bulk_jntm.jpg"]),
    ("Kate Siegel", ["fnp_kate_siegel_1.jpg", "fnp_aligned_kate_siegel_1.png"]),
    ("Paul Rudd", ["fnp_paul_rudd_1.jpg", "fnp_aligned_paul_rudd_1.png"]),
    ("Shea Whigham", ["fnp_shea_whigham_1.jpg", "fnp_aligned_shea_whigham_1.png"]),
    ("Angelina Jolie", ["fnp_angelina_jolie_1.jpg"]),  # also deepface group 0 (FIT): one photo here, no pairs
)


def identity_photos(data: Path = DATA) -> List[Tuple[str, str, str, str]]:
    """(split, identity, photo path relative to data, pick) for every labelled photo; pick is "largest",
    "left" or "right" (of the two largest faces). Photos that are missing are left out."""
    out = []
    johns = data / "annotated" / "dlib_johns_identities"
    if johns.is_dir():
        for person in sorted(p for p in johns.iterdir() if p.is_dir()):
            for f in sorted(person.glob("*.jpg")):
                out.append(("fit", "John " + person.name, str(f.relative_to(data)), "largest"))
    groups = data / "annotated" / "deepface_dataset" / "identity_groups_derived.tsv"
    if groups.is_file():
        for line in groups.read_text().splitlines()[1:]:
            gid, files, name = line.split("\t")
            split = "fit" if int(gid) % 2 == 0 else "eval"
            for f in files.split():
                out.append((split, name, f"annotated/deepface_dataset/{f}", "largest"))
    for name, photos in _IMAGES:
        for item in photos:
            rel, pick = (item if isinstance(item, tuple) else (item, "largest"))
            out.append(("eval", name, f"images/{rel}", pick))
    return [row for row in out if (data / row[2]).is_file()]
