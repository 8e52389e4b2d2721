"""Fits Confidence: the probability (in %) that a detection is a face, from CenterFace's raw heat-map score.

Rekognition's Confidence reads as "how sure we are that this box holds a face", near 100 for clear faces; the raw
CenterFace peak (0.5-0.95) is not a probability. This tool runs the detector with a low threshold (0.2) on the
fit split, labels each detection a face when it matches a ground-truth box (IoU >= 0.4, one to one), and fits
p = sigmoid(a * logit(score) + b) by logistic regression (Newton's method).

Fit split: annotated/widerface_val (4 photos, 328 boxes) and annotated/dlib_faces (11 photos, 43 boxes) of
../shared/data, plus nofaces/ (every detection there is not a face).

    python tools/calibrate_confidence.py    # prints CONFIDENCE_CALIBRATION for python/facelens/engine/detector.py
"""

import xml.etree.ElementTree as ET

import cv2
import numpy as np
from labelled import DATA, iou, read_tsv

import facelens
from facelens import images

LOW_THRESHOLD = 0.2


def ground_truth():
    out = {}
    root = DATA / "annotated/widerface_val"
    for row in read_tsv("annotated/widerface_val/gt_boxes_xywh.tsv"):
        x, y, w, h = (float(row[k]) for k in ("x", "y", "w", "h"))
        out.setdefault(root / row["image"], []).append((x, y, x + w, y + h))
    root = DATA / "annotated/dlib_faces"
    for xml_name in ("training.xml", "testing.xml"):
        for image in ET.parse(root / xml_name).getroot().iter("image"):
            boxes = out.setdefault(root / image.get("file"), [])
            for b in image.iter("box"):
                x, y, w, h = (int(b.get(k)) for k in ("left", "top", "width", "height"))
                boxes.append((x, y, x + w, y + h))
    for path in sorted((DATA / "nofaces").iterdir()):
        out[path] = []
    return out


def main():
    detector = facelens.Client().engine.detector
    detector.score_threshold = LOW_THRESHOLD
    scores, labels = [], []
    for path, gts in ground_truth().items():
        bgr = cv2.imread(str(path))
        if bgr is None:
            continue
        det = detector.detect(images.from_array(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).rgb)
        used = set()
        for box, score in zip(det.boxes, det.scores):
            best = max(((iou(box, g), j) for j, g in enumerate(gts) if j not in used), default=(0.0, -1))
            hit = best[0] >= 0.4
            if hit:
                used.add(best[1])
            scores.append(float(score))
            labels.append(1.0 if hit else 0.0)
    s = np.clip(np.array(scores), 1e-6, 1 - 1e-6)
    y = np.array(labels)
    x = np.c_[np.log(s / (1 - s)), np.ones_like(s)]
    w = np.zeros(2)
    for _ in range(50):  # Newton's method for the logistic log-likelihood (tiny ridge for stability)
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (y - p) - 1e-3 * w
        hess = -(x.T * (p * (1 - p))) @ x - 1e-3 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    print(f"{len(y)} detections at score >= {LOW_THRESHOLD}: {int(y.sum())} faces, {int(len(y) - y.sum())} not")
    for raw in (0.5, 0.6, 0.7, 0.8, 0.9):
        z = w[0] * np.log(raw / (1 - raw)) + w[1]
        print(f"  raw {raw:.1f} -> Confidence {100 / (1 + np.exp(-z)):.2f}")
    print(f"CONFIDENCE_CALIBRATION = ({w[0]:.4f}, {w[1]:.4f})")


if __name__ == "__main__":
    main()
