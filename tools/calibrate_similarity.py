"""Fits the map from face-descriptor distance to Rekognition's Similarity (0-100) and measures it.

Similarity = 100 / (1 + exp((d - D50) / SCALE)), d = Euclidean distance of two dlib descriptors. Two numbers
are fitted, on the FIT split only:

- D80, the distance that maps to Similarity 80 (the default FaceMatchThreshold): half-way between the 99th
  percentile of same-person distances and the 1st percentile of different-person distances;
- the slope, such that the median same-person distance maps to Similarity 99 (Rekognition reports ~99 for
  ordinary same-person pairs).

Then D50 = D80 + SCALE * ln 4 and SCALE = (D80 - median_same) / ln(99/4).

Splits (``labelled.identity_photos``: photos from ../shared/data; one face per photo, the largest, or the left/right
one of two):
- FIT: annotated/dlib_johns_identities (5 people x 11) and the even-numbered groups of
  annotated/deepface_dataset/identity_groups_derived.tsv (7 people);
- EVAL: the odd-numbered deepface groups (6 people), the Obama / Biden / Kit Harington / Rose Leslie /
  Alex Lacamoire photos of images/, and the other named people of images/ (fnp_*, inspireface RD_*, Rob Lowe,
  Cai Xukun).

The identification protocol (also tests/test_collections_identity.py): per split, the first photo of each
person is indexed, every other photo searches the gallery; top-1 is right when the best match is the same
person; a false match is a different person's face at Similarity >= 80.

    python tools/calibrate_similarity.py      # prints D50 and SCALE for python/facelens/collections/similarity.py
"""

from __future__ import annotations

import math
import sys
from typing import Optional, Tuple

import numpy as np
from labelled import DATA, identity_photos, image_bytes


def pick_face(faces, pick: str) -> Optional[int]:
    """Index into faces (largest first) of the face a photo's label refers to."""
    if not faces:
        return None
    if pick == "largest" or len(faces) < 2:
        return 0
    two = sorted(range(2), key=lambda i: float(faces[i].box[0]))
    return two[0] if pick == "left" else two[1]


def descriptors(client, rows) -> Tuple[list, np.ndarray]:
    """Descriptor of the labelled face of each photo; rows without a face are dropped (and reported)."""
    from facelens import images

    kept, vecs = [], []
    for row in rows:
        image = images.decode(image_bytes(DATA / row[2]))
        faces = client.engine.analyze(image)
        i = pick_face(faces, row[3])
        if i is None:
            print(f"no face: {row[2]}", file=sys.stderr)
            continue
        kept.append(row)
        vecs.append(client.engine.descriptors(image, [faces[i]])[0])
    return kept, np.asarray(vecs, np.float32)


def pair_distances(rows, vecs):
    ids = np.array([r[1] for r in rows])
    d = np.linalg.norm(vecs[:, None] - vecs[None], axis=2)
    iu = np.triu_indices(len(rows), 1)
    same = (ids[:, None] == ids[None])[iu]
    return d[iu][same], d[iu][~same]


def fit(same: np.ndarray, different: np.ndarray) -> Tuple[float, float]:
    d80 = (np.percentile(same, 99) + np.percentile(different, 1)) / 2
    scale = (d80 - np.median(same)) / math.log(99 / 4)
    return float(d80 + scale * math.log(4)), float(scale)


def identification(rows, vecs, similarity):
    """Gallery = first photo of each person; probes = the rest. Returns (top1 hits, probes, false matches at
    Similarity >= 80, probe x different-person gallery pairs, probes with any false match)."""
    gallery = {}
    probes = []
    for i, row in enumerate(rows):
        if row[1] in gallery:
            probes.append(i)
        else:
            gallery[row[1]] = i
    gi = np.array(list(gallery.values()))
    gid = np.array([rows[i][1] for i in gi])
    hits = false = pairs = searches_with_false = 0
    for p in probes:
        sim = similarity(np.linalg.norm(vecs[gi] - vecs[p], axis=1))
        hits += gid[int(np.argmax(sim))] == rows[p][1]
        other = gid != rows[p][1]
        f = int((sim[other] >= 80).sum())
        false += f
        pairs += int(other.sum())
        searches_with_false += f > 0
    return hits, len(probes), false, pairs, searches_with_false


def main() -> None:
    import facelens
    from facelens.collections.similarity import similarity as current

    client = facelens.Client()
    rows = identity_photos()
    rows, vecs = descriptors(client, rows)
    split = np.array([r[0] for r in rows])
    fit_rows = [r for r in rows if r[0] == "fit"]
    same, diff = pair_distances(fit_rows, vecs[split == "fit"])
    d50, scale = fit(same, diff)
    print(f"FIT split: {len(fit_rows)} photos, {len({r[1] for r in fit_rows})} people, {len(same)} same-person "
          f"and {len(diff)} different-person pairs")
    print(f"  same-person distance median {np.median(same):.3f}, p99 {np.percentile(same, 99):.3f}, max "
          f"{same.max():.3f}; different-person p1 {np.percentile(diff, 1):.3f}, min {diff.min():.3f}")
    print(f"SIMILARITY_D50 = {d50:.4f}")
    print(f"SIMILARITY_SCALE = {scale:.4f}")
    print(f"  (Similarity 80 at distance {d50 - scale * math.log(4):.4f})")

    def sim(d):
        return 100.0 / (1.0 + np.exp((np.asarray(d, np.float64) - d50) / scale))

    for name, mask in (("fit", split == "fit"), ("eval", split == "eval"), ("all", np.ones(len(rows), bool))):
        sub = [r for r, m in zip(rows, mask) if m]
        s, o = pair_distances(sub, vecs[mask])
        hits, n, false, pairs, bad = identification(sub, vecs[mask], sim)
        print(f"{name:5s}: {len(sub)} photos, {len({r[1] for r in sub})} people | pairs: same at >= 80 "
              f"{np.mean(sim(s) >= 80):.3f} ({len(s)}), different at >= 80 {np.mean(sim(o) >= 80):.4f} ({len(o)}) | "
              f"search: top-1 {hits}/{n} = {hits / max(n, 1):.3f}, false matches {false}/{pairs} = "
              f"{false / max(pairs, 1):.4f}, searches with a false match {bad}/{n}")
        print(f"       dlib's rule: same-person distance < 0.6 {np.mean(s < 0.6):.3f}, different-person > 0.6 "
              f"{np.mean(o > 0.6):.4f}")
    probe = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    print("in use now:", ", ".join(f"d={d:.1f}: {v:.1f}" for d, v in zip(probe, current(probe))))


if __name__ == "__main__":
    main()
