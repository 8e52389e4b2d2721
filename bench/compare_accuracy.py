"""CompareFaces on the labelled identity sets of ../shared/data, printed as a Markdown table.

    python -m bench.compare_accuracy        # 126 CompareFaces calls, a few minutes on 2 cores

The people, photos and splits are tools/labelled.py's identity sets, as tools/calibrate_similarity.py and
tests/test_collections_identity.py use them (FIT: dlib_johns_identities and the even deepface groups, which fixed
the Similarity constants; EVAL: everything else). As there, the first photo of each person is its reference (29
people) and every other photo is a probe (126); photos whose label names the left or right one of two people are
cut to that side first.

The references make one TargetImage: each reference's labelled face, cut out square with a margin of 40 % of its
side and scaled to a 224 px tile, in a 6 x 5 grid (1344 x 1120 px, 29 faces). Each probe photo is the SourceImage
of one CompareFaces against it (QualityFilter NONE, SimilarityThreshold 0 so that every face comes back with its
Similarity); a returned face is the person of the tile its box centre falls in. At the default threshold of 80:

- same person matched: probes whose own person's face has Similarity >= 80 (would be in FaceMatches);
- different people matched: (probe, other person) pairs with Similarity >= 80 (a false match);
- top-1: probes whose highest-Similarity face (FaceMatches[0]) is their own person's.
"""

from __future__ import annotations

import time
from collections import defaultdict

import cv2
import numpy as np
from tests.support.identity import probe_bytes
from tools.labelled import DATA, identity_photos, image_bytes

import facelens

TILE, COLUMNS, MARGIN = 224, 6, 0.4
THRESHOLD = 80.0


def face_tile(client, data: bytes) -> np.ndarray:
    """The largest face of the photo, cut out square with a margin and scaled to TILE x TILE (BGR)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    box = client.detect_faces(Image={"Bytes": data})["FaceDetails"][0]["BoundingBox"]
    cx, cy = (box["Left"] + box["Width"] / 2) * w, (box["Top"] + box["Height"] / 2) * h
    half = (1 + 2 * MARGIN) * max(box["Width"] * w, box["Height"] * h) / 2
    x0, y0, x1, y1 = (int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
    padded = cv2.copyMakeBorder(img, max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w),
                                cv2.BORDER_CONSTANT, value=(128, 128, 128))
    crop = padded[y0 + max(0, -y0): y1 + max(0, -y0), x0 + max(0, -x0): x1 + max(0, -x0)]
    return cv2.resize(crop, (TILE, TILE), interpolation=cv2.INTER_AREA if crop.shape[0] > TILE else cv2.INTER_CUBIC)


def montage(tiles):
    rows = (len(tiles) + COLUMNS - 1) // COLUMNS
    canvas = np.full((rows * TILE, COLUMNS * TILE, 3), 128, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, COLUMNS)
        canvas[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = tile
    return canvas


def run(client) -> dict:
    rows = identity_photos(DATA)
    if len(rows) < 50:
        raise SystemExit(f"identity photos not found under {DATA}")
    people, tiles, probes = [], [], []
    for split, name, rel, pick in rows:
        data = probe_bytes(client, image_bytes(DATA / rel), pick)
        if name not in people:
            people.append(name)
            tiles.append(face_tile(client, data))
        else:
            probes.append((split, name, rel, data))
    grid = montage(tiles)
    target = cv2.imencode(".png", grid)[1].tobytes()
    height, width = grid.shape[:2]

    def person(box) -> str:
        col = int((box["Left"] + box["Width"] / 2) * width // TILE)
        row = int((box["Top"] + box["Height"] / 2) * height // TILE)
        return people[row * COLUMNS + col]

    out = defaultdict(lambda: defaultdict(int))
    misses = []
    for split, name, rel, data in probes:
        resp = client.compare_faces(SourceImage={"Bytes": data}, TargetImage={"Bytes": target},
                                    SimilarityThreshold=0)
        scored = [(person(m["Face"]["BoundingBox"]), m["Similarity"]) for m in resp["FaceMatches"]]
        assert sorted(p for p, _ in scored) == sorted(people), (rel, len(scored))  # every tile's face, once
        for key in (split, "all"):
            s = out[key]
            s["probes"] += 1
            s["top1"] += scored[0][0] == name
            s["same_matched"] += any(p == name and v >= THRESHOLD for p, v in scored)
            s["different_pairs"] += len(scored) - 1
            s["different_matched"] += sum(1 for p, v in scored if p != name and v >= THRESHOLD)
            s["probes_with_false"] += any(p != name and v >= THRESHOLD for p, v in scored)
        if scored[0][0] != name:
            misses.append((rel, scored[0]))
    return {"splits": out, "misses": misses, "people": len(people), "target": (width, height)}


def main() -> None:
    client = facelens.Client()
    start = time.perf_counter()
    result = run(client)
    elapsed = time.perf_counter() - start
    print(f"{result['people']} people in a {result['target'][0]}x{result['target'][1]} target; {elapsed:.0f} s")
    print("| split | probes | top-1 | same person matched (≥ 80) | different people matched (≥ 80) |")
    print("|---|---|---|---|---|")
    for split in ("fit", "eval", "all"):
        s = result["splits"][split]
        print(f"| {split} | {s['probes']} | {s['top1'] / s['probes']:.3f} | "
              f"{s['same_matched']} / {s['probes']} = {s['same_matched'] / s['probes']:.3f} | "
              f"{s['different_matched']} / {s['different_pairs']} = "
              f"{100 * s['different_matched'] / s['different_pairs']:.2f} % "
              f"(in {s['probes_with_false']} of the probes) |")
    if result["misses"]:
        print("top-1 misses:", result["misses"])


if __name__ == "__main__":
    main()
