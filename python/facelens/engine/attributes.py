"""Face attributes: age, gender, emotions, and the Value/Confidence attributes, from the face's landmarks.

- Age and gender: the CC0 dlib-trained networks (Cydral) on chips cut exactly as dlib's ``get_face_chip`` does
  (least-squares similarity of the chip template to the 5 dlib points, which are FaceMesh points 263, 362, 33,
  133, 2; see ``models/dlib_chip_template.json``). dlib samples large faces from a ``pyramid_down<2>`` level;
  here the face's neighbourhood is shrunk by the same power of two with area averaging first.
- Emotions: FER mini-Xception (7 classes) on a grey 64x64 square aligned with the eyes; CONFUSED from the
  blendshapes (see ``confused_score``).
- Smile, EyesOpen, MouthOpen, Eyeglasses, Sunglasses, Beard, Mustache, FaceOccluded: a logistic model over a
  few measured features (blendshapes, landmark geometry, luma/chroma/edge statistics of landmark-defined
  patches of an aligned face chip). The coefficients are fitted by ``tools/calibrate_attributes.py`` on the
  group-photo faces of ``annotated/attributes_by_eye_faces.tsv`` and printed there (EyesOpen's by
  ``tools/calibrate_eyes_open.py``, on those faces plus labelled video frames and synthetic winks: it is false
  when either eye is shut); the single-face photos of ``attributes_by_eye.tsv`` are the evaluation split
  (``bench/attributes_accuracy.py``).
- FaceOccluded follows Rekognition's definition (eyes, nose or mouth hidden by a mask, dark sunglasses, a hand or
  an object, or cut by the frame): p = 1 - (1 - p_other)(1 - p_mask)(1 - p_sunglasses), the face being occluded
  when any of the three causes is. p_mask is the MIT face-mask network (``engine/mask.py``) on the face's box,
  p_sunglasses the Sunglasses model above, p_other the fitted logistic model (hands, objects, the image border).

Everything here works in image pixels; ``response.py`` builds the dicts.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from .. import _core
from ..models import registry
from .align import DlibChip, mesh_points5

DLIB_MEAN = np.array([122.782, 117.001, 104.298], np.float32)

EMOTIONS_FER = ("ANGRY", "DISGUSTED", "FEAR", "HAPPY", "SAD", "SURPRISED", "CALM")  # fer's order, neutral→CALM

# The Haar box fer's crop starts from, in eye-to-mouth distances d (eye midpoint to mouth-corner midpoint):
# side 2.657 d, centre 0.264 d below the eye midpoint; medians over the 62 frontal faces (|yaw| < 20, |roll| < 10)
# of the fit split's group photos where OpenCV 4.10's haarcascade_frontalface_default (fer's settings: scale
# 1.1, 5 neighbours, 50 px minimum) found a face. fer then grows the box by 10 px on every side.
HAAR_SIDE = 2.657
HAAR_CENTRE_DOWN = 0.264
FER_MARGIN_PX = 10

# AgeRange: the shortest interval of whole years around the expected age that holds AGE_MASS of the network's
# probability; then at least AGE_MIN_WIDTH years wide (Rekognition's ranges are about 6-17 years wide).
AGE_MASS = 0.6
AGE_MIN_WIDTH = 4
AGE_MAX_WIDTH = 16  # a flat distribution (a child's face, a blurred one) is cut to this, centred on the expectation

# Binary attributes: p = sigmoid(bias + sum(w_i * feature_i)), Value = p >= 0.5, Confidence = 100 * max(p, 1-p).
# Fitted by tools/calibrate_attributes.py on annotated/attributes_by_eye_faces.tsv (group photos); it prints
# this table. Features are defined in ``features``.
BINARY_MODELS: Dict[str, Dict[str, object]] = {
    "Smile": {"features": ("smile",), "w": (8.263,), "b": -2.215},  # n=110, positives=73
    # fitted by tools/calibrate_eyes_open.py: the fit split + labelled video frames + synthetic winks
    "EyesOpen": {"features": ("eye_open", "eye_open_min",), "w": (-15.08, 37.96,), "b": -3.013},  # n=1620, open=879
    "MouthOpen": {"features": ("mouth_gap",), "w": (26.86,), "b": -2.558},  # n=118, positives=66
    "Eyeglasses": {"features": ("bridge_gy", "rim_low",), "w": (1.629, 0.4122,), "b": -1.248},  # n=132, positives=16
    "Sunglasses": {"features": ("eye_dark", "iris_contrast",), "w": (-14.54, -2.505,), "b": 10.15},  # n=138, positives=2
    "Beard": {"features": ("chin_dark", "chin_b", "jaw_dark",), "w": (-5.5, -0.2091, -3.337,), "b": 4.617},  # n=129, positives=13
    "Mustache": {"features": ("lip_dark", "chin_dark", "chin_b", "lip_a",), "w": (-0.658, -1.388, -0.1561, -0.06079,), "b": 0.8801},  # n=127, positives=18
    # + synthetic occlusions (masks, rectangles) of the fit split's own faces as positives
    "FaceOccluded": {"features": ("presence_logit", "lower_mismatch", "outside", "lip_red", "lip_edges",), "w": (-0.1316, 1.62, 9.358, -0.009666, -0.2067,), "b": -0.07925},  # n=221, positives=99
}
# Response name → request attribute; those that need the image patches (the rest need only landmarks/blendshapes).
BINARY_KEYS = (("Smile", "SMILE"), ("Eyeglasses", "EYEGLASSES"), ("Sunglasses", "SUNGLASSES"), ("Beard", "BEARD"),
               ("Mustache", "MUSTACHE"), ("EyesOpen", "EYES_OPEN"), ("MouthOpen", "MOUTH_OPEN"),
               ("FaceOccluded", "FACE_OCCLUDED"))
BINARY_KEYS_DICT = dict(BINARY_KEYS)
REGION_KEYS = frozenset({"EYEGLASSES", "SUNGLASSES", "BEARD", "MUSTACHE", "FACE_OCCLUDED"})
BLEND_KEYS = frozenset({"SMILE", "EYES_OPEN", "EMOTIONS"})
# CONFUSED from blendshapes: s = sigmoid(CONFUSED_W . cues + CONFUSED_B), cues in ``confused_cues``.
CONFUSED_W = (3.337, 7.655, 5.491, 8.452)
CONFUSED_B = -7.644


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def binary(name: str, feats: Dict[str, float]):
    """(value, confidence 50..100, probability of True) of a binary attribute from its features."""
    m = BINARY_MODELS[name]
    z = float(m["b"]) + sum(float(w) * float(feats[f]) for f, w in zip(m["features"], m["w"]))
    p = float(_sigmoid(z))
    if name == "FaceOccluded" and "mask" in feats:
        p = 1.0 - (1.0 - p) * (1.0 - float(feats["mask"])) * (1.0 - binary("Sunglasses", feats)[2])
    return p >= 0.5, 100.0 * max(p, 1.0 - p), p


# Patches of the aligned analysis chip, by FaceMesh index (chip coordinates; radius in units of chip size).
_CHEEKS = (50, 280)
_FOREHEAD = (151, 108, 337)
_BRIDGE = (168, 6)
_UPPER_LIP = (164, 167, 393)  # between the nose base and the upper lip
_CHIN = (152, 175, 199, 148, 377, 136, 365)
ANALYSIS_SIZE = 96
# The attribute network's crop: dlib's 5-point chip template with this padding, cut at ATTRIBUTE_CUT px and
# area-averaged to ATTRIBUTE_INPUT px (the training crops of tools/attribute_crops.py are cut the same way).
ATTRIBUTE_CHIP_PADDING = 0.4
ATTRIBUTE_CUT = 240
ATTRIBUTE_INPUT = 80
# The per-eye EyesOpen feature needs both eyes seen nearly face-on (the narrower at least cos 41 deg of the wider)
# and resolved: a wink changes the gap by about 0.2 of the eye's width, 4 px at 20 px, a few times the mesh's
# eyelid noise.
EYE_VISIBLE_RATIO = 0.75
EYE_RESOLVED_PX = 20.0


class AttributeModels:
    """Sessions for the age, gender and emotion networks (loaded on first use) and the feature extractors."""

    def __init__(self, threads: Optional[int] = None, blendshape_names: Optional[Sequence[str]] = None) -> None:
        self.threads = threads
        self._age = self._gender = self._emotion = None
        self._mask = None
        tmpl = registry.load_json("dlib_chip_template.json")
        norm = tmpl["normalized_points"]
        chips = tmpl["chips"]
        self.age_chip = DlibChip(chips["age"]["size"], chips["age"]["padding"], norm)
        self.gender_chip = DlibChip(chips["gender"]["size"], chips["gender"]["padding"], norm)
        self.analysis_chip = DlibChip(ANALYSIS_SIZE, 0.35, norm)
        self.age_weights = np.asarray(registry.entry("age").get("age_class_weights", [0.25] + list(range(1, 81))),
                                      np.float64)
        self.blend_index = {n: i for i, n in enumerate(blendshape_names or [])}

    # -- networks ---------------------------------------------------------------------------------------------
    def _session(self, attr: str, name: str):
        s = getattr(self, attr)
        if s is None:
            s = registry.session(name, self.threads)
            setattr(self, attr, s)
        return s

    def age_gender(self, rgb: np.ndarray, meshes: Sequence[np.ndarray], want_age=True, want_gender=True):
        n = len(meshes)
        ages: List[Optional[tuple]] = [None] * n
        genders: List[Optional[tuple]] = [None] * n
        if n == 0:
            return ages, genders
        # The attribute constants were fitted with chips cut at the mesh's own pixel convention (half a pixel off
        # dlib's); keep it so that they stay valid.
        pts5 = [mesh_points5(m) for m in meshes]
        if want_age:
            batch = np.stack([self.age_chip.cut(rgb, p) for p in pts5])
            batch = ((batch - DLIB_MEAN) / 256.0).transpose(0, 3, 1, 2).astype(np.float32)
            sess = self._session("_age", "age_v1.onnx")
            probs = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(batch)})[0]
            ages = [age_range(p, self.age_weights) for p in probs.astype(np.float64)]
        if want_gender:
            batch = np.stack([self.gender_chip.cut(rgb, p) for p in pts5])
            batch = ((batch - DLIB_MEAN) / 256.0).transpose(0, 3, 1, 2).astype(np.float32)
            sess = self._session("_gender", "gender_v1.onnx")
            probs = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(batch)})[0]
            genders = [("Male" if p[1] >= p[0] else "Female", 100.0 * float(max(p[0], p[1]))) for p in probs]
        return ages, genders

    def emotion_probs(self, rgb: np.ndarray, meshes: Sequence[np.ndarray]) -> np.ndarray:
        """[N, 7] fer probabilities on grey 64x64 squares aligned with the eyes (the Haar box's extent)."""
        batch = np.empty((len(meshes), 64, 64, 1), np.float32)
        for i, mesh in enumerate(meshes):
            le = mesh[[33, 133], :2].mean(0).astype(np.float64)
            re = mesh[[263, 362], :2].mean(0).astype(np.float64)
            mouth = mesh[[61, 291], :2].mean(0).astype(np.float64)
            theta = np.arctan2(re[1] - le[1], re[0] - le[0])
            c, s = np.cos(theta), np.sin(theta)
            rot = np.array([[c, -s], [s, c]])  # upright → image
            eyes = (le + re) / 2
            d = float(np.linalg.norm(mouth - eyes))
            # fer's Haar box predicted from the landmarks (tools/calibrate_attributes.py --haar fits it), then fer's
            # 10 px on every side.
            cen = eyes + rot @ np.array([0.0, HAAR_CENTRE_DOWN * d])
            side = HAAR_SIDE * d + 2 * FER_MARGIN_PX
            k = side / 64
            a = rot * k
            b = cen - a @ np.array([31.5, 31.5])
            m = np.hstack([a, b[:, None]]).astype(np.float32)
            chip = _core.warp_affine(rgb, m, 64, 64)
            grey = np.floor(chip @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5)
            batch[i, :, :, 0] = (grey / 255.0 - 0.5) * 2.0
        sess = self._session("_emotion", "emotion_mini_xception.onnx")
        return sess.run(None, {sess.get_inputs()[0].name: batch})[0].astype(np.float64)

    # -- measured features ------------------------------------------------------------------------------------
    def mask_probabilities(self, rgb: np.ndarray, boxes) -> np.ndarray:
        if self._mask is None:
            from .mask import MaskClassifier

            self._mask = MaskClassifier(threads=self.threads)
        return self._mask.probabilities(rgb, boxes)

    def analyze(self, rgb: np.ndarray, meshes: Sequence[np.ndarray], blends, presences, wanted,
                boxes: Optional[np.ndarray] = None) -> List[dict]:
        """Per face, the attributes named in ``wanted`` (Rekognition names: AGE_RANGE, SMILE, ...) and nothing else.
        ``boxes``: the faces' detector boxes (x1, y1, x2, y2 pixels), needed for FACE_OCCLUDED.

        Values: AgeRange (low, high); Gender (value, confidence); Emotions [(type, confidence)] highest first;
        the others (bool, confidence 50..100)."""
        n = len(meshes)
        out: List[dict] = [{} for _ in range(n)]
        if n == 0:
            return out
        want_age, want_gender = "AGE_RANGE" in wanted, "GENDER" in wanted
        if want_age or want_gender:
            ages, genders = self.age_gender(rgb, meshes, want_age, want_gender)
            for i in range(n):
                if want_age:
                    out[i]["AgeRange"] = ages[i][:2]
                    out[i]["age"] = ages[i][2]
                if want_gender:
                    out[i]["Gender"] = genders[i]
        if "EMOTIONS" in wanted:
            fer = self.emotion_probs(rgb, meshes)
            for i in range(n):
                out[i]["Emotions"] = emotions(fer[i], None if blends is None else blends[i], self.blend_index)
                out[i]["fer"] = fer[i]
                if blends is not None:
                    out[i]["confused_cues"] = confused_cues(blends[i], self.blend_index)
        binaries = [name for name, key in BINARY_KEYS if key in wanted]
        if binaries:
            regions = any(BINARY_KEYS_DICT[b] in REGION_KEYS for b in binaries)
            p_mask = None
            if "FACE_OCCLUDED" in wanted:
                if boxes is None:
                    raise ValueError("FACE_OCCLUDED needs the faces' boxes")
                p_mask = self.mask_probabilities(rgb, np.asarray(boxes)[:n, :4])
            for i in range(n):
                feats = self.features(rgb, meshes[i], None if blends is None else blends[i], float(presences[i]),
                                      regions=regions)
                if p_mask is not None:
                    feats["mask"] = float(p_mask[i])
                for name in binaries:
                    v, c, _ = binary(name, feats)
                    out[i][name] = (v, c)
                out[i]["features"] = feats  # for tools/calibrate_attributes.py; response.py ignores it
        return out

    def features(self, rgb: np.ndarray, mesh: np.ndarray, blend: Optional[np.ndarray], presence: float,
                 regions: bool = True) -> Dict[str, float]:
        """The measured features of one face (names used by BINARY_MODELS; ``presence`` and ``mouth_gap`` too).
        Candidates that no model used (edge energy at the temples and across the bridge, lip and jaw texture,
        the mouth region's colour against the cheeks) were dropped (git history has them)."""
        f: Dict[str, float] = {"presence": float(presence)}
        # FaceMesh's face probability saturates near 1: its logit (clipped) separates "mostly visible" from "clear"
        pc = float(np.clip(presence, 1e-6, 1 - 1e-6))
        f["presence_logit"] = float(np.clip(np.log(pc / (1 - pc)), -5.0, 14.0))
        pts = mesh[:, :2].astype(np.float64)
        eye_w = [np.linalg.norm(pts[33] - pts[133]), np.linalg.norm(pts[263] - pts[362])]
        gaps = [np.linalg.norm(pts[159] - pts[145]) / max(eye_w[0], 1e-6),
                np.linalg.norm(pts[386] - pts[374]) / max(eye_w[1], 1e-6)]
        mouth_w = np.linalg.norm(pts[61] - pts[291])
        f["mouth_gap"] = float(np.linalg.norm(pts[13] - pts[14]) / max(mouth_w, 1e-6))
        if blend is not None and self.blend_index:
            b = lambda n: float(blend[self.blend_index[n]])  # noqa: E731
            f["smile"] = (b("mouthSmileLeft") + b("mouthSmileRight")) / 2
            blink = (b("eyeBlinkLeft") + b("eyeBlinkRight")) / 2
            # the wider of the two eyes counts more: a wink or a turned head hides one eye
            # clipped: a failed mesh on a profile can report absurd eyelid gaps
            f["eye_open"] = float(np.clip(0.5 * (max(gaps) + np.mean(gaps)) - 0.1 * blink, -0.05, 0.4))
        else:
            f["smile"] = 0.0
            f["eye_open"] = float(np.clip(np.mean(gaps), -0.05, 0.4))
            blink = 0.0
        # One eye at a time (a wink), only where both eyes can be measured: neither foreshortened by a turned head
        # nor so small that a pixel of eyelid is a large share of the gap; elsewhere they repeat eye_open.
        if min(eye_w) >= EYE_VISIBLE_RATIO * max(eye_w) and max(eye_w) >= EYE_RESOLVED_PX:
            f["eye_open_min"] = float(np.clip(min(gaps) - 0.1 * blink, -0.05, 0.4))
        else:
            f["eye_open_min"] = f["eye_open"]
        # share of the face outside the picture (a face cut by the image border is occluded)
        h, w = rgb.shape[:2]
        p468 = pts[:468]
        f["outside"] = float(((p468[:, 0] < 0) | (p468[:, 0] >= w) | (p468[:, 1] < 0) | (p468[:, 1] >= h)).mean())
        if regions:
            f.update(self._region_features(rgb, mesh))
        return f

    def _region_features(self, rgb: np.ndarray, mesh: np.ndarray) -> Dict[str, float]:
        m, _ = self.analysis_chip.matrix(mesh_points5(mesh))
        size = self.analysis_chip.size
        chip = _core.warp_affine(rgb, m.astype(np.float32), size, size).astype(np.float32)
        lab = cv2.cvtColor(np.clip(chip, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
        L = lab[..., 0]
        gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3)
        inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        cp = np.hstack([mesh[:, :2], np.ones((len(mesh), 1))]) @ inv.T  # chip coordinates
        r = max(2, int(round(0.05 * size)))

        def patch(arr, idx, rad=r):
            vals = []
            for i in idx:
                x, y = int(round(cp[i, 0])), int(round(cp[i, 1]))
                x0, x1 = max(0, x - rad), min(size, x + rad + 1)
                y0, y1 = max(0, y - rad), min(size, y + rad + 1)
                if x1 > x0 and y1 > y0:
                    vals.append(arr[y0:y1, x0:x1].reshape(-1, *arr.shape[2:]))
            if not vals:
                return np.zeros((1,) + arr.shape[2:], np.float32)
            return np.concatenate(vals)

        cheek_L = float(patch(L, _CHEEKS).mean()) + 1.0
        cheek_ab = patch(lab[..., 1:], _CHEEKS).mean(0)
        fore_ab = patch(lab[..., 1:], _FOREHEAD).mean(0)
        cheek_g = float(np.abs(patch(gx, _CHEEKS)).mean() + np.abs(patch(gy, _CHEEKS)).mean()) + 4.0
        f: Dict[str, float] = {}
        # eyes: darkness of the whole eye opening and the contrast of sclera vs iris
        eyes = patch(L, (468, 473, 33, 133, 263, 362), rad=r)
        f["eye_dark"] = float(eyes.mean()) / cheek_L
        f["iris_contrast"] = float(eyes.std()) / (float(patch(L, _CHEEKS).std()) + 8.0)
        # frames: horizontal edges across the nose bridge and just below the eyes
        f["bridge_gy"] = float(np.abs(patch(gy, _BRIDGE, rad=max(1, r // 2))).mean()) / cheek_g
        f["rim_low"] = float(np.abs(patch(gy, (118, 347, 119, 348), rad=r)).mean()) / cheek_g
        # moustache and beard: darkness and colour of the upper lip and the jaw/chin against the cheeks
        f["lip_dark"] = float(patch(L, _UPPER_LIP).mean()) / cheek_L
        f["chin_dark"] = float(patch(L, _CHIN).mean()) / cheek_L
        f["jaw_dark"] = float(patch(L, (136, 365, 172, 397, 150, 379)).mean()) / cheek_L
        f["lip_a"] = float(patch(lab[..., 1], _UPPER_LIP).mean()) - float(cheek_ab[0])
        f["chin_b"] = float(patch(lab[..., 2], _CHIN).mean()) - float(cheek_ab[1])
        # occlusion: lips are redder than the forehead; a mask (or a hand) over the mouth is not, and has no lip
        # edges
        f["lip_red"] = float(patch(lab[..., 1], (0, 17, 13, 14, 37, 267, 84, 314), rad=max(1, r // 2)).mean()) \
            - float(fore_ab[0])
        g_m = float(np.abs(patch(gy, (13, 14, 0, 17), rad=max(1, r // 2))).mean())
        f["lip_edges"] = (g_m + 4.0) / (float(np.abs(patch(gy, _FOREHEAD)).mean()) + 4.0)
        # a mask or a hand covers the cheeks too: the whole lower face against the forehead alone
        low = patch(lab, (0, 17, 61, 291, 152, 50, 280, 4))
        fore = patch(lab, _FOREHEAD)
        f["lower_mismatch"] = float(np.linalg.norm(low[:, 1:].mean(0) - fore[:, 1:].mean(0))
                                    + 0.25 * abs(low[:, 0].mean() - fore[:, 0].mean())) / 20.0
        return f


def age_range(probs: np.ndarray, weights: np.ndarray):
    """(low, high, expected age) from the 81-class distribution."""
    p = probs / max(probs.sum(), 1e-12)
    mu = float((p * weights).sum())
    years = np.arange(len(p))
    lo = hi = int(np.clip(round(mu), 0, len(p) - 1))
    mass = p[lo]
    while mass < AGE_MASS and (lo > 0 or hi < len(p) - 1):
        left = p[lo - 1] if lo > 0 else -1.0
        right = p[hi + 1] if hi < len(p) - 1 else -1.0
        if left >= right:
            lo -= 1
            mass += p[lo]
        else:
            hi += 1
            mass += p[hi]
    while hi - lo < AGE_MIN_WIDTH:
        if lo > 0 and (mu - lo <= hi - mu or hi >= years[-1] + 20):
            lo -= 1
        else:
            hi += 1
    if hi - lo > AGE_MAX_WIDTH:
        lo = int(max(0, round(mu - AGE_MAX_WIDTH / 2)))
        hi = lo + AGE_MAX_WIDTH
    return int(lo), int(hi), mu


def confused_cues(blend: np.ndarray, index: Dict[str, int]) -> np.ndarray:
    """Facial action cues of puzzlement: brow lowering, inner-brow raise, mouth asymmetry, lip press."""
    b = lambda n: float(blend[index[n]])  # noqa: E731
    brow_down = (b("browDownLeft") + b("browDownRight")) / 2
    inner_up = b("browInnerUp")
    asym = abs(b("mouthSmileLeft") - b("mouthSmileRight")) + abs(b("mouthLeft") - b("mouthRight")) \
        + abs(b("browOuterUpLeft") - b("browOuterUpRight"))
    press = (b("mouthPressLeft") + b("mouthPressRight")) / 2 + 0.5 * b("mouthPucker")
    return np.array([brow_down, inner_up, asym, press])


def emotions(fer: np.ndarray, blend: Optional[np.ndarray], index: Dict[str, int]):
    """[(TYPE, confidence 0..100)] for all 8 types, highest first."""
    conf = 0.0
    if blend is not None and index:
        conf = float(_sigmoid(float(np.dot(CONFUSED_W, confused_cues(blend, index))) + CONFUSED_B))
    scores = {t: 100.0 * float(p) * (1.0 - conf) for t, p in zip(EMOTIONS_FER, fer)}
    scores["CONFUSED"] = 100.0 * conf
    return sorted(scores.items(), key=lambda kv: -kv[1])
