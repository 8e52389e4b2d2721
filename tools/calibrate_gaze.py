"""Fits the blendshape half of EyeDirection on video frames (no labels needed), and prints the constants.

EyeDirection has two estimates of where the eyes point inside the head:
  1. geometric: the iris seen on a model eyeball placed by the head pose (anatomical constants, no fitting);
  2. the eye-look blendshapes (eyeLook{In,Out,Up,Down}{Left,Right}, 0..1), which have no unit.
This tool
  a. puts (2) into degrees by least squares against (1) over every face in the frames of the face clips in
     ../shared/data/videos (the split named FIT_CLIPS below; no labels involved);
  b. finds where the iris rests when the eyes look straight ahead (the pitch offsets of (1) and (2)): zero
     median pitch on the faces of group photos labelled gaze=camera in annotated/attributes_by_eye_faces.tsv.
The single-face photos of annotated/attributes_by_eye.tsv, on which the tests and bench/accuracy.py score
EyeDirection, are not used here.

    python tools/calibrate_gaze.py        # prints the GAZE_* constants for python/facelens/pipeline.py
"""

import sys

import cv2
import numpy as np
from labelled import DATA, read_tsv

import facelens
from facelens import images

FIT_CLIPS = ["pyfeat_WolfgangLanger_Pexels.mp4", "pyfeat_single_face.mp4", "fr_short_hamilton_clip.mp4",
             "pyfeat_face_noface.mov", "pyfeat_noface_face.mov"]
EVERY = 3  # frames


def samples(engine):
    from facelens.pipeline import blendshape_gaze_signals

    rows = []
    for clip in FIT_CLIPS:
        cap = cv2.VideoCapture(str(DATA / "videos" / clip))
        k = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            k += 1
            if k % EVERY:
                continue
            img = images.from_array(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            for face in engine.analyze(img, want_eyes=True):
                geo = face.extras.get("eye_in_head")
                if geo is None or face.extras.get("eye_openness", 0) < 0.5 or abs(face.pose[0]) > 40:
                    continue
                by, bp = blendshape_gaze_signals(face.blendshapes, engine.blendshape_names)
                rows.append((by, bp, geo[0], geo[1]))
    return np.array(rows, dtype=np.float64)


def camera_faces(engine):
    """Boxes of the group-photo faces labelled gaze=camera with open eyes, by file."""
    rows = read_tsv("annotated/attributes_by_eye_faces.tsv")
    by_file = {}
    for r in rows:
        if r["gaze"] == "camera" and r["eyes_open"] == "1":
            by_file.setdefault(r["file"], []).append([float(r[k]) for k in ("x", "y", "w", "h")])
    return by_file


def median_camera_pitch(engine, by_file):
    pitches = []
    for rel, boxes in by_file.items():
        bgr = cv2.imread(str(DATA / rel))
        faces = engine.analyze(images.from_array(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), want_eyes=True)
        for x, y, w, h in boxes:
            for face in faces:
                x1, y1, x2, y2 = face.box
                ix = max(0.0, min(x2, x + w) - max(x1, x)) * max(0.0, min(y2, y + h) - max(y1, y))
                if ix / ((x2 - x1) * (y2 - y1) + w * h - ix) >= 0.3:
                    pitches.append(face.eye_direction[1])
                    break
    return float(np.median(pitches)), len(pitches)


def fit(x, y):
    a = np.c_[x, np.ones_like(x)]
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    r = np.corrcoef(x, y)[0, 1]
    return coef, float(np.sqrt(np.mean(resid ** 2))), float(r)


def main():
    if not (DATA / "videos").exists():
        sys.exit(f"no videos under {DATA}")
    engine = facelens.Client().engine
    rows = samples(engine)
    ky = float(np.sum(rows[:, 0] * rows[:, 2]) / np.sum(rows[:, 0] ** 2))  # through the origin (mirror symmetry)
    (kp, _), rms_p, r_p = fit(rows[:, 1], rows[:, 3])
    print(f"a. {len(rows)} faces from {len(FIT_CLIPS)} clips (every {EVERY}th frame)")
    print(f"   yaw:   geometric = {ky:.2f} * blend_yaw   (r = {np.corrcoef(rows[:, 0], rows[:, 2])[0, 1]:.2f})")
    print(f"   pitch: geometric = {kp:.2f} * blend_pitch + c   (r = {r_p:.2f}, rms residual {rms_p:.1f} deg)")

    by_file = camera_faces(engine)
    engine.gaze_blend_yaw_slope = ky
    engine.gaze_blend_weight, engine.gaze_geo_pitch_offset = 0.0, 0.0
    geo_bias, n = median_camera_pitch(engine, by_file)
    engine.gaze_blend_pitch = (kp, 0.0)
    engine.gaze_blend_weight = 1.0
    blend_bias, _ = median_camera_pitch(engine, by_file)
    print(f"b. {n} camera-gaze faces: median pitch {geo_bias:.1f} (geometric), {blend_bias:.1f} (blendshapes)")
    print(f"\nGAZE_BLEND_YAW_SLOPE = {ky:.2f}")
    print(f"GAZE_BLEND_PITCH = ({kp:.2f}, {-blend_bias:.2f})")
    print(f"GAZE_GEO_PITCH_OFFSET = {geo_bias:.2f}")


if __name__ == "__main__":
    main()
