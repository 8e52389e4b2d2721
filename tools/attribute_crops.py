"""Aligned face crops for training the attribute network (tools/train_attributes.py), with provenance.

Run (facelens' own venv):  python tools/attribute_crops.py [--out /tmp/facelens-attribute-data] [--sheets]

What it takes from ../shared/data:
- every photo under images/ and annotated/ except the evaluation photos: each file named in
  annotated/attributes_by_eye.tsv (single-face evaluation split) or annotated/attributes_by_eye_faces.tsv
  (group-photo faces, also scored), the 25 px LFW crops (too small) and odd/ (re-encoded copies of other photos);
- frames of the face clips in videos/ (every STEP-th frame, at most MAX_FRAMES per clip), linked into tracks by box
  overlap so that a person in a clip is labelled once;
- only files whose terms in MANIFEST.tsv allow use in a product: a file whose terms mention research use or
  non-commercial use (RESTRICTED_TERMS), or that MANIFEST.tsv does not list, is left out before any face is cut and
  listed in excluded.tsv;
- a face whose aligned crop correlates above DUPLICATE_CORR with the crop of any evaluation face (the same photo
  under another name, a resized copy, a frame next to an evaluation still) is left out and listed.

For each face: the aligned crop (CHIP px, the geometry of engine/attributes.py's attribute chip), the 478 FaceMesh
points in crop pixels (x, y, and z scaled alike, for drawing along the face in 3-D), and a key naming its source.
Written to OUT: crops.npz (chips uint8 [N, CHIP, CHIP, 3], mesh float32 [N, 478, 3]), crops.tsv (key, source,
frame, track, box, face size, kept/why not), and with --sheets numbered contact sheets to label by eye
(labels go to tools/attribute_labels.tsv, one row per photo face or per video track).
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import cv2
import numpy as np
from labelled import DATA, iou, read_tsv

CHIP = 240  # crops are stored at 3x the network's input, so that synthetic drawing is done at sub-pixel detail
PHOTO_EXT = {".jpg", ".jpeg", ".png", ".ppm", ".webp", ".bmp"}
VIDEO_EXT = {".mp4", ".mov", ".gif"}
STEP = 6
MAX_FRAMES = 60
MIN_FACE_PX = 24
DUPLICATE_CORR = 0.92
# Terms that rule a file out of training a shipped model: research-only and non-commercial data (incl. CC BY-NC-*).
RESTRICTED_TERMS = re.compile(r"research use|research only|non-?commercial|\bNC\b|BY-NC", re.IGNORECASE)
UNLISTED = "not listed in MANIFEST.tsv"


def source_terms():
    """{file relative to DATA: its licence/terms text in MANIFEST.tsv}."""
    with open(DATA / "MANIFEST.tsv") as f:
        return {r["file"]: r["license"] for r in csv.DictReader(f, delimiter="\t")}


def allowed(rel, terms):
    """(may this file train a shipped model, its terms)."""
    t = terms.get(rel, UNLISTED)
    return t != UNLISTED and not RESTRICTED_TERMS.search(t), t


def evaluation_files():
    files = set()
    for table in ("annotated/attributes_by_eye.tsv", "annotated/attributes_by_eye_faces.tsv"):
        files |= {r["file"] for r in read_tsv(table)}
    return files


# Copies of evaluation photos under other names (aligned or resized), left out by name as well.
COPIES_OF_EVALUATION = ("images/fnp_aligned_", "images/fr_obama-", "images/fr_obama_small")


def photo_sources(held_out):
    """Photo files under images/ and annotated/ that are not evaluation photos (their terms not yet checked)."""
    out = []
    for top in ("images", "annotated"):
        for p in sorted((DATA / top).rglob("*")):
            rel = p.relative_to(DATA).as_posix()
            if p.suffix.lower() in PHOTO_EXT and rel not in held_out and "skimage_lfw_subset" not in rel \
                    and not rel.startswith(COPIES_OF_EVALUATION):
                out.append(rel)
    return out


def chip_of(engine_chip, rgb, mesh):
    """(crop uint8 [CHIP, CHIP, 3], mesh in crop px [478, 3]) of one face."""
    from facelens import _core
    from facelens.engine.align import mesh_points5

    m, _ = engine_chip.matrix(mesh_points5(mesh))
    crop = _core.warp_affine(rgb, m.astype(np.float32), CHIP, CHIP)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    xy = np.hstack([mesh[:, :2], np.ones((len(mesh), 1))]) @ inv[:2].T
    z = mesh[:, 2:3] * np.sqrt(abs(np.linalg.det(inv[:2, :2])))
    return np.clip(crop + 0.5, 0, 255).astype(np.uint8), np.hstack([xy, z]).astype(np.float32)


def signature(crop):
    g = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    g = g[4:28, 6:26].ravel()  # the inner face: background and hair change between copies less than it
    g -= g.mean()
    return g / (np.linalg.norm(g) + 1e-6)


def faces_of(engine, rgb):
    from facelens.images import from_array

    return engine.analyze(from_array(np.ascontiguousarray(rgb)), want_eyes=False, attributes=frozenset())


def video_frames(path):
    cap = cv2.VideoCapture(str(path))
    i = kept = 0
    while kept < MAX_FRAMES:
        ok, bgr = cap.read()
        if not ok:
            break
        if i % STEP == 0:
            kept += 1
            yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        i += 1
    cap.release()


def main():
    from facelens.engine.align import DlibChip
    from facelens.engine.attributes import ATTRIBUTE_CHIP_PADDING
    from facelens.models import registry
    from facelens.pipeline import Engine

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/facelens-attribute-data")
    ap.add_argument("--sheets", action="store_true", help="write numbered contact sheets for labelling by eye")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # fp32 networks and the full 640 px scan, whatever the defaults: the crops (and so the trained network) must not
    # change when a default precision or the detector's first look does
    engine = Engine(threads=2, precision="fp32", first_look=False)
    chip = DlibChip(CHIP, ATTRIBUTE_CHIP_PADDING, registry.load_json("dlib_chip_template.json")["normalized_points"])
    held_out = evaluation_files()
    terms = source_terms()
    excluded = []

    def usable(rel):
        ok, t = allowed(rel, terms)
        if not ok:
            excluded.append((rel, t))
        return ok

    eval_sigs = []
    for rel in sorted(held_out):
        bgr = cv2.imread(str(DATA / rel))
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for f in faces_of(engine, rgb):
            eval_sigs.append(signature(chip_of(chip, rgb, f.mesh)[0]))
    eval_sigs = np.stack(eval_sigs)
    print(f"{len(held_out)} evaluation photos, {len(eval_sigs)} faces held out", flush=True)

    rows, chips, meshes = [], [], []

    def add(key, source, frame, track, box, crop, mesh):
        size = float(max(box[2] - box[0], box[3] - box[1]))
        corr = float((eval_sigs @ signature(crop)).max())
        status = "kept"
        if size < MIN_FACE_PX:
            status = "small"
        elif corr > DUPLICATE_CORR:
            status = f"duplicate_of_evaluation({corr:.3f})"
        rows.append((key, source, frame, track, " ".join(f"{v:.0f}" for v in box[:4]), f"{size:.0f}", status))
        if status == "kept":
            chips.append(crop)
            meshes.append(mesh)

    for rel in filter(usable, photo_sources(held_out)):
        bgr = cv2.imread(str(DATA / rel))
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for i, f in enumerate(faces_of(engine, rgb)):
            crop, mesh = chip_of(chip, rgb, f.mesh)
            add(f"{rel}#{i}", rel, "", "", f.box, crop, mesh)
    for p in sorted((DATA / "videos").iterdir()):
        if p.suffix.lower() not in VIDEO_EXT:
            continue
        rel = p.relative_to(DATA).as_posix()
        if not usable(rel):
            continue
        tracks, next_track = [], 0  # [(track id, last box)]
        for frame, rgb in video_frames(p):
            new_tracks = []
            for f in faces_of(engine, rgb):
                best = max(((iou(f.box, b), t) for t, b in tracks), default=(0.0, -1))
                if best[0] >= 0.3:
                    tid = best[1]
                else:
                    tid, next_track = next_track, next_track + 1
                new_tracks.append((tid, f.box))
                crop, mesh = chip_of(chip, rgb, f.mesh)
                add(f"{rel}:track{tid}@{frame}", rel, str(frame), f"{rel}:track{tid}", f.box, crop, mesh)
            tracks = new_tracks
        print(f"{rel}: {next_track} tracks", flush=True)

    kept = [r for r in rows if r[-1] == "kept"]
    print(f"{len(excluded)} source files left out for their terms")
    print(f"{len(rows)} faces, {len(kept)} kept ({sum(r[-1].startswith('dup') for r in rows)} duplicates of "
          f"evaluation faces, {sum(r[-1] == 'small' for r in rows)} below {MIN_FACE_PX} px)")
    np.savez_compressed(out / "crops.npz", chips=np.stack(chips), mesh=np.stack(meshes))
    with open(out / "crops.tsv", "w") as fh:
        fh.write("key\tsource\tframe\ttrack\tbox_xyxy\tface_px\tstatus\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")
    with open(out / "excluded.tsv", "w") as fh:
        fh.write("source\tterms\n")
        for rel, t in excluded:
            fh.write(f"{rel}\t{t}\n")
    if args.sheets:
        write_sheets(out, kept, np.stack(chips))


def write_sheets(out: Path, kept, chips, per_row=8, rows=6, cell=112):
    """Contact sheets of the kept faces (one per photo face, the middle frame of each video track), numbered by
    their row in crops.tsv's kept faces."""
    picks, seen = [], {}
    for i, r in enumerate(kept):
        if r[3]:
            seen.setdefault(r[3], []).append(i)
        else:
            picks.append(i)
    picks += [v[len(v) // 2] for v in seen.values()]
    sheet_dir = out / "sheets"
    sheet_dir.mkdir(exist_ok=True)
    n = per_row * rows
    for s in range(0, len(picks), n):
        canvas = np.full((rows * cell, per_row * cell, 3), 255, np.uint8)
        for j, i in enumerate(picks[s:s + n]):
            y, x = divmod(j, per_row)
            c = cv2.resize(chips[i], (cell, cell - 14), interpolation=cv2.INTER_AREA)
            canvas[y * cell + 14:(y + 1) * cell, x * cell:(x + 1) * cell] = c
            cv2.putText(canvas, str(i), (x * cell + 2, y * cell + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (200, 0, 0), 1)
        cv2.imwrite(str(sheet_dir / f"sheet_{s // n:02d}.png"), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
