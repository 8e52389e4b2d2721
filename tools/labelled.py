"""The labelled data in ../shared/data (or $FACELENS_TEST_DATA), for the calibration tools, the accuracy scripts
in bench/ and the tests: one reader of its tables, one box matcher. The product itself never reads this data."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


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
