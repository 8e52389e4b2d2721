"""Fits the EyesOpen model of engine/attributes.py and prints its BINARY_MODELS line.

EyesOpen is false when either eye is closed (a wink too, as the labels of ../shared/data have it). The fit split
of tools/calibrate_attributes.py has 5 closed-eye faces and no frontal wink, so this tool makes its own data:

1. the fit split's group-photo faces (attributes_by_eye_faces.tsv), as calibrate_attributes.py uses them;
2. video frames labelled here by eye (VIDEO_LABELS: a woman crying and laughing with her eyes shut, blinks of a
   man talking; the open frames between them), every frame of the closed spans and every 2nd of the open ones;
3. synthetic winks: one eye region (lids, brow, the skin below) of a closed-eye frame, aligned on the landmarks
   with a similarity transform and feathered, pasted over an open-eye frame of the same video with the head
   turned the same way (within 12 deg yaw and 15 deg pitch), both eyes in turn, each also mirrored. Control
   composites, an open eye pasted from another open frame, are added as open faces, so that the model learns
   the closed eye and not the seam.

The single-face photos of attributes_by_eye.tsv are never used: they are the evaluation split
(bench/attributes_accuracy.py). The model is a class-balanced logistic regression (calibrate_attributes.
fit_logistic) on eye_open and eye_open_min (see AttributeModels.features), each of the three sources weighing the
same in total (the fit split's 114 natural faces as much as the 1184 composites).

Run: python tools/calibrate_eyes_open.py [--cache /tmp/attr_feats.pkl] [--cross-check]   (a minute or two)
"""

from __future__ import annotations

import argparse
from typing import Dict, List, Tuple

import cv2
import numpy as np
from calibrate_attributes import fit_logistic, load
from labelled import DATA

FEATURES = ("eye_open", "eye_open_min")

# Frame ranges (inclusive, 0-based decode order) labelled by eye from the frames; frames in neither are
# ambiguous (lids lowered while looking down, half-closed mid-blink) and left out.
VIDEO_LABELS: Dict[str, Dict[str, str]] = {
    "videos/pyfeat_WolfgangLanger_Pexels.mp4": {
        "closed": "16-139,386-387,427-429,441-453",  # crying with eyes squeezed shut (a hand at her face from
        # frame 90), a blink, laughing with eyes shut
        "open": "140-287,289-385,388-425,431-439",
    },
    "videos/pyfeat_single_face.mp4": {"closed": "26-27", "open": "0-23,30-71"},  # one blink
}

# The eye region pasted by the synthetic winks, by FaceMesh index: eye contour, brow, the ring below the eye.
EYE_REGION = {
    "image_left": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
                   46, 53, 52, 65, 55, 70, 63, 105, 66, 107,
                   111, 117, 118, 119, 120, 121, 128, 245, 226, 31, 228, 229, 230, 231, 232, 233),
    "image_right": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
                    276, 283, 282, 295, 285, 300, 293, 334, 296, 336,
                    340, 346, 347, 348, 349, 350, 357, 465, 446, 261, 448, 449, 450, 451, 452, 453),
}
CLOSED_STRIDE = 4  # synthetic winks from every 4th closed frame
PARTNERS = 4  # open frames per closed frame: the nearest in time with the same head pose
MAX_DYAW, MAX_DPITCH = 12.0, 15.0


def frame_set(spec: str) -> set:
    out = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def read_frames(rel: str) -> List[np.ndarray]:
    cap = cv2.VideoCapture(str(DATA / rel))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


class Analyzer:
    def __init__(self) -> None:
        import facelens
        from facelens.images import DecodedImage

        self.engine = facelens.Client().engine
        self.decoded = DecodedImage

    def face(self, rgb: np.ndarray):
        """The largest face's FaceAnalysis (EyesOpen features computed as DetectFaces with ALL does), or None."""
        rgb = np.ascontiguousarray(rgb)
        image = self.decoded(rgb, rgb.shape[1], rgb.shape[0], "png")
        faces = self.engine.analyze(image, want_eyes=True,
                                    attributes=frozenset({"EYES_OPEN"}))
        return max(faces, key=lambda f: f.box[2] - f.box[0]) if faces else None


def paste_eye(target: np.ndarray, target_mesh: np.ndarray, source: np.ndarray, source_mesh: np.ndarray,
              region: Tuple[int, ...]) -> np.ndarray:
    idx = list(region)
    src = source_mesh[idx, :2].astype(np.float32)
    dst = target_mesh[idx, :2].astype(np.float32)
    m, _ = cv2.estimateAffinePartial2D(src, dst)
    warped = cv2.warpAffine(source, m, (target.shape[1], target.shape[0]), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros(target.shape[:2], np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(dst.astype(np.int32)), 1.0)
    eye_width = float(np.linalg.norm(target_mesh[idx[0], :2] - target_mesh[idx[8], :2]))
    k = int(eye_width * 0.3) | 1
    mask = cv2.GaussianBlur(mask, (k, k), 0)[..., None]
    return (target * (1 - mask) + warped * mask).astype(np.uint8)


def video_data(an: Analyzer):
    """[(features, label, source)] of the labelled frames and of the synthetic winks and their controls."""
    natural, synthetic = [], []
    for rel, spec in VIDEO_LABELS.items():
        closed, opened = frame_set(spec["closed"]), frame_set(spec["open"])
        frames = read_frames(rel)
        faces = {k: an.face(frames[k]) for k in sorted(closed | opened) if k < len(frames)}
        for k, f in faces.items():
            if f is not None and (k in closed or k % 2 == 0):
                natural.append((f.attributes["features"], 0 if k in closed else 1, f"{rel}#{k}"))
        open_ok = [k for k in sorted(opened) if faces.get(k) is not None]
        for c in sorted(closed)[::CLOSED_STRIDE]:
            fc = faces.get(c)
            if fc is None:
                continue
            same_pose = [k for k in open_ok if abs(faces[k].pose[0] - fc.pose[0]) <= MAX_DYAW
                         and abs(faces[k].pose[1] - fc.pose[1]) <= MAX_DPITCH]
            partners = sorted(same_pose, key=lambda k: abs(k - c))[:PARTNERS]
            for j, o in enumerate(partners):
                other = partners[(j + 1) % len(partners)]
                for side, region in EYE_REGION.items():
                    wink = paste_eye(frames[o], faces[o].mesh, frames[c], fc.mesh, region)
                    control = paste_eye(frames[o], faces[o].mesh, frames[other], faces[other].mesh, region)
                    for label, img, donor in ((0, wink, c), (1, control, other)):
                        for mirrored in (False, True):
                            f = an.face(img[:, ::-1] if mirrored else img)
                            if f is not None:
                                source = f"{rel}#{o}<-{donor}:{side}{'~' if mirrored else ''}"
                                synthetic.append((f.attributes["features"], label, source))
    return natural, synthetic


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([(pred[y == c] == c).mean() for c in (0, 1) if (y == c).any()]))


def xy(data):
    return (np.asarray([[f[n] for n in FEATURES] for f, _, _ in data], float),
            np.asarray([lab for _, lab, _ in data]))


def fit(sets) -> Tuple[np.ndarray, float]:
    """The logistic model on the union of ``sets``, each set weighing the same in total."""
    x = np.concatenate([xy(d)[0] for d in sets])
    y = np.concatenate([xy(d)[1] for d in sets]).astype(float)
    weight = np.concatenate([np.full(len(d), 1.0 / len(d)) for d in sets])
    return fit_logistic(x, y, sample_weight=weight)


def cross_check(fit_split, natural, synthetic) -> None:
    """Each clip in turn left out of the fit (its frames and its composites), then scored."""
    for clip in VIDEO_LABELS:
        w, b = fit([fit_split, [d for d in natural if not d[2].startswith(clip)],
                    [d for d in synthetic if not d[2].startswith(clip)]])
        for name, data in (("frames", natural), ("composites", synthetic)):
            x, y = xy([d for d in data if d[2].startswith(clip)])
            pred = (x @ w + b >= 0).astype(int)
            recall = {c: float((pred[y == c] == c).mean()) for c in (0, 1) if (y == c).any()}
            print(f"# without {clip}: its {name} (n={len(y)}): shut recall {recall.get(0, float('nan')):.3f}, "
                  f"open recall {recall.get(1, float('nan')):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="", help="calibrate_attributes.py's cache of the fit split's features")
    ap.add_argument("--cross-check", action="store_true", help="also fit without each clip and score that clip")
    args = ap.parse_args()
    fit_split = [(a["features"], int(r["eyes_open"]), r["file"]) for r, a in load("faces", args.cache)
                 if r["eyes_open"] in ("0", "1") and "features" in a]
    natural, synthetic = video_data(Analyzer())
    sets = {"fit split": fit_split, "video frames": natural, "synthetic": synthetic}
    w, b = fit(list(sets.values()))
    for name, data in sets.items():
        xs, ys = xy(data)
        pred = (xs @ w + b >= 0).astype(int)
        print(f"# {name}: n={len(ys)}, closed={int((ys == 0).sum())}, "
              f"balanced accuracy {balanced_accuracy(ys, pred):.3f}, errors {int((pred != ys).sum())}")
    if args.cross_check:
        cross_check(fit_split, natural, synthetic)
    ws = ", ".join(f"{v:.4g}" for v in w)
    fs = ", ".join(f'"{n}"' for n in FEATURES)
    n = sum(len(d) for d in sets.values())
    n_open = sum(lab for d in sets.values() for _, lab, _ in d)
    print(f'    "EyesOpen": {{"features": ({fs},), "w": ({ws},), "b": {b:.4g}}},  # n={n}, open={n_open}')


if __name__ == "__main__":
    main()
