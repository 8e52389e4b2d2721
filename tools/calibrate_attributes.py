"""Fits the constants of engine/attributes.py and prints them (paste into BINARY_MODELS / CONFUSED_B).

Fit split: the faces of group photos in ../shared/data/annotated/attributes_by_eye_faces.tsv (matched to
detections by IoU >= 0.3). The single-face photos of attributes_by_eye.tsv are never used here: they are the
evaluation split of bench/attributes_accuracy.py.

Eyeglasses, Sunglasses, Beard, Mustache and FaceOccluded come from the attribute network (tools/train_attributes.py)
and are not fitted here. Each other binary attribute is a logistic regression on the few features named in BINARY_MODELS (standardised,
L2-penalised, classes weighted equally), so Confidence = 100 * max(p, 1 - p) is a fitted probability.
CONFUSED: the four blendshape cues are standardised on the fit split, weighted equally, and the bias puts
the fit split's 97th percentile at p = 0.5 (no face there is labelled CONFUSED).

The emotion crop's geometry (HAAR_SIDE, HAAR_CENTRE_DOWN): fer cuts its face from an OpenCV Haar box; the box
is predicted from the landmarks by the median ratios over the fit split's frontal faces. OpenCV 5 has no Haar
cascades, so the boxes come from a throwaway venv with opencv-python-headless==4.10.0.84:
    /tmp/cvenv/bin/python tools/calibrate_attributes.py --haar-dump /tmp/haar.json   (needs only cv2 4.x)
    python tools/calibrate_attributes.py --haar /tmp/haar.json

Run: python tools/calibrate_attributes.py [--cache /tmp/attr_feats.pkl] [--haar /tmp/haar.json]
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import cv2
import numpy as np
from labelled import ATTRIBUTE_LABELS as LABELS
from labelled import DATA, image_bytes, pairs


def read_tsv(name: str):
    """A label table of annotated/ (see labelled.read_tsv)."""
    import labelled

    return labelled.read_tsv(f"annotated/{name}")


def collect(split: str):
    """[(label row, FaceAnalysis)] for the 'faces' (group photos, fit) or 'single' (evaluation) split."""
    import facelens
    from facelens.contract import wanted_attributes

    client = facelens.Client()
    engine = client.engine
    allattrs = wanted_attributes(["ALL"])
    rows = read_tsv("attributes_by_eye_faces.tsv" if split == "faces" else "attributes_by_eye.tsv")
    by_file = {}
    for r in rows:
        by_file.setdefault(r["file"], []).append(r)
    out = []
    for rel, labelled in by_file.items():
        path = DATA / rel
        if not path.exists():
            continue
        image = client.runtime.load_image({"Bytes": image_bytes(path)})
        faces = engine.analyze(image, want_eyes=True, attributes=allattrs)
        if not faces:
            continue
        h, w = image.rgb.shape[:2]
        if split == "single":
            out.append((labelled[0], faces[0]))  # largest face
            continue
        oh, ow = cv2.imread(str(path)).shape[:2]
        gts = [(float(r["x"]) / ow, float(r["y"]) / oh, (float(r["x"]) + float(r["w"])) / ow,
                (float(r["y"]) + float(r["h"])) / oh) for r in labelled]
        dets = [(f.box[0] / w, f.box[1] / h, f.box[2] / w, f.box[3] / h) for f in faces]
        out += [(labelled[i], faces[j]) for i, j in pairs(gts, dets, 0.3)]
    return out


def slim(pairs):
    return [(r, dict(f.attributes.items())) for r, f in pairs]


def load(split: str, cache: str = ""):
    if cache and Path(cache + "." + split).exists():
        with open(cache + "." + split, "rb") as fh:
            return pickle.load(fh)
    pairs = slim(collect(split))
    if cache:
        with open(cache + "." + split, "wb") as fh:
            pickle.dump(pairs, fh)
    return pairs


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, sample_weight=None):
    """Class-balanced L2 logistic regression by Newton's method on standardised x; returns raw (w, b).
    ``sample_weight`` (optional) weighs samples within their class; each class still weighs half."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    a = np.hstack([z, np.ones((len(z), 1))])
    v = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    sw = np.where(y == 1, 0.5 * v / max(1e-12, v[y == 1].sum()), 0.5 * v / max(1e-12, v[y == 0].sum())) * len(y)
    beta = np.zeros(a.shape[1])
    reg = np.full(a.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-a @ beta))
        g = a.T @ (sw * (p - y)) + reg * beta
        hess = (a * (sw * p * (1 - p))[:, None]).T @ a + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, g)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    w = beta[:-1] / sd
    b = beta[-1] - (beta[:-1] * mu / sd).sum()
    return w, b


def haar_dump(out: str) -> None:
    """fer's face boxes (haarcascade_frontalface_default, scale 1.1, 5 neighbours, min 50 px) on the fit split."""
    import json

    casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    boxes = {}
    for rel in sorted({r["file"] for r in read_tsv("attributes_by_eye_faces.tsv")}):
        img = cv2.imread(str(DATA / rel))
        if img is not None:
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            found = casc.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50))
            boxes[rel] = [[int(v) for v in b] for b in found]
    with open(out, "w") as fh:
        json.dump(boxes, fh)


def haar_fit(path: str) -> None:
    """Median Haar box side and centre, in eye-to-mouth distances, over frontal faces of the fit split."""
    import json

    import facelens

    with open(path) as f:
        boxes = json.load(f)
    client = facelens.Client()
    ratios = []
    for rel, found in boxes.items():
        if not found:
            continue
        oh, ow = cv2.imread(str(DATA / rel)).shape[:2]
        image = client.runtime.load_image({"Bytes": image_bytes(DATA / rel)})
        h, w = image.rgb.shape[:2]
        sx, sy = w / ow, h / oh
        for face in client.engine.analyze(image):
            if abs(face.pose[0]) > 20 or abs(face.pose[2]) > 10:
                continue
            m = face.mesh[:, :2]
            eyes = (m[[33, 133]].mean(0) + m[[263, 362]].mean(0)) / 2
            mouth = m[[61, 291]].mean(0)
            d = float(np.linalg.norm(mouth - eyes))
            for x, y, bw, bh in found:
                cx, cy, side = (x + bw / 2) * sx, (y + bh / 2) * sy, bw * sx
                if abs(cx - eyes[0]) < 0.5 * d and abs(cy - (eyes[1] + mouth[1]) / 2) < 0.8 * d and 1.5 * d < side < 5 * d:
                    ratios.append((side / d, (cy - eyes[1]) / d))
    r = np.median(np.asarray(ratios), axis=0)
    print(f"# {len(ratios)} frontal faces with a Haar box")
    print(f"HAAR_SIDE = {r[0]:.4g}")
    print(f"HAAR_CENTRE_DOWN = {r[1]:.4g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="")
    ap.add_argument("--haar-dump", default="")
    ap.add_argument("--haar", default="")
    args = ap.parse_args()
    if args.haar_dump:
        return haar_dump(args.haar_dump)
    if args.haar:
        haar_fit(args.haar)
    from facelens.engine.attributes import BINARY_MODELS
    pairs = load("faces", args.cache)
    print(f"# fit split: {len(pairs)} labelled faces of attributes_by_eye_faces.tsv matched to detections")
    print("BINARY_MODELS: Dict[str, Dict[str, object]] = {")
    for name, col in LABELS.items():
        if name not in BINARY_MODELS:  # answered by the attribute network (tools/train_attributes.py)
            continue
        if name == "EyesOpen":  # fitted on more data by tools/calibrate_eyes_open.py
            m = BINARY_MODELS[name]
            fs = ", ".join(f'"{f}"' for f in m["features"])
            ws = ", ".join(f"{v:.4g}" for v in m["w"])
            print(f'    "EyesOpen": {{"features": ({fs},), "w": ({ws},), "b": {m["b"]:.4g}}},'
                  "  # from tools/calibrate_eyes_open.py")
            continue
        feats = BINARY_MODELS[name]["features"]
        xs, ys = [], []
        for r, a in pairs:
            if r[col] in ("0", "1"):
                xs.append([a["features"][f] for f in feats])
                ys.append(int(r[col]))
        x, y = np.asarray(xs, float), np.asarray(ys, float)
        w, b = fit_logistic(x, y)
        ws = ", ".join(f"{v:.4g}" for v in w)
        fs = ", ".join(f'"{f}"' for f in feats)
        print(f'    "{name}": {{"features": ({fs},), "w": ({ws},), "b": {b:.4g}}},  # n={len(y)}, positives={int(y.sum())}')
    print("}")
    cues = np.asarray([a["confused_cues"] for _, a in pairs if "confused_cues" in a])
    sd = cues.std(0) + 1e-9
    w = 1.0 / sd
    s = cues @ w
    b = -float(np.percentile(s, 97))
    print(f"CONFUSED_W = ({', '.join(f'{v:.4g}' for v in w)})")
    print(f"CONFUSED_B = {b:.4g}")
    return None


if __name__ == "__main__":
    main()
