"""Face attributes: age, gender, emotions, and the Value/Confidence attributes, from the face's landmarks.

- Age and gender: the CC0 dlib-trained networks (Cydral) on chips cut exactly as dlib's ``get_face_chip`` does
  (least-squares similarity of the chip template to the 5 dlib points, which are FaceMesh points 263, 362, 33,
  133, 2; see ``models/dlib_chip_template.json``). dlib samples large faces from a ``pyramid_down<2>`` level;
  here the face's neighbourhood is shrunk by the same power of two with area averaging first.
- Emotions: FER mini-Xception (7 classes) on a grey 64x64 square aligned with the eyes; CONFUSED from the
  blendshapes (see ``confused_score``).
- Smile, EyesOpen, MouthOpen: a logistic model over a few measured features (blendshapes, landmark geometry).
  The coefficients are fitted by ``tools/calibrate_attributes.py`` on the group-photo faces of
  ``annotated/attributes_by_eye_faces.tsv`` and printed there (EyesOpen's by ``tools/calibrate_eyes_open.py``, on
  those faces plus labelled video frames and synthetic winks: it is false when either eye is shut); the single-face
  photos of ``attributes_by_eye.tsv`` are the evaluation split (``bench/attributes_accuracy.py``).
- Eyeglasses, Sunglasses, Beard, Mustache and FaceOccluded's own part: one small multi-label CNN
  (``models/face_attributes.onnx``, trained by ``tools/train_attributes.py`` on crops of non-evaluation photos and
  clips plus synthetic eyewear, occluders and facial hair) on an aligned crop of the face, run on the crop and its
  mirror image (the mean logit, so a mirrored photo gives the same answer), each logit Platt-scaled on the
  training tool's calibration split. Sunglasses are eyewear: Eyeglasses' probability is at least Sunglasses'.
- FaceOccluded follows Rekognition's definition (eyes, nose or mouth covered by a mask, dark sunglasses, a hand or
  an object, or cut by the frame; clear glasses and strands of hair are not):
  p = 1 - (1 - p_net)(1 - p_edge), p_edge from the share of the eyes', nose's or mouth's landmarks outside the
  picture (``edge_probability``), p_net the network's (trained with dark sunglasses, masks, scarves, hands, phones,
  hair over the eyes, objects and the picture's border as positives).

Everything here works in image pixels; ``response.py`` builds the dicts.
"""

from __future__ import annotations

from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .. import _core
from ..models import registry
from .align import DlibChip, mesh_points5

# one face's landmarks per row: an [N, 478, 3] array or a sequence of [478, 3] arrays
Meshes = Union[Sequence[np.ndarray], np.ndarray]

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
BINARY_MODELS: Dict[str, Dict[str, Any]] = {
    "Smile": {"features": ("smile",), "w": (8.263,), "b": -2.215},  # n=110, positives=73
    # fitted by tools/calibrate_eyes_open.py: the fit split + labelled video frames + synthetic winks
    "EyesOpen": {"features": ("eye_open", "eye_open_min",), "w": (-15.08, 37.96,), "b": -3.013},  # n=1620, open=879
    "MouthOpen": {"features": ("mouth_gap",), "w": (26.86,), "b": -2.558},  # n=118, positives=66
}
# Response name → request attribute; those that need the image patches (the rest need only landmarks/blendshapes).
BINARY_KEYS = (("Smile", "SMILE"), ("Eyeglasses", "EYEGLASSES"), ("Sunglasses", "SUNGLASSES"), ("Beard", "BEARD"),
               ("Mustache", "MUSTACHE"), ("EyesOpen", "EYES_OPEN"), ("MouthOpen", "MOUTH_OPEN"),
               ("FaceOccluded", "FACE_OCCLUDED"))
BINARY_KEYS_DICT = dict(BINARY_KEYS)
# Those the attribute network answers (engine/attributes.py ATTRIBUTE_NET order in the network's output).
NET_KEYS = frozenset({"EYEGLASSES", "SUNGLASSES", "BEARD", "MUSTACHE", "FACE_OCCLUDED"})
NET_OUTPUTS = ("Eyeglasses", "Sunglasses", "Beard", "Mustache", "FaceOccluded")
BLEND_KEYS = frozenset({"SMILE", "EYES_OPEN", "EMOTIONS"})
# CONFUSED from blendshapes: s = sigmoid(CONFUSED_W . cues + CONFUSED_B), cues in ``confused_cues``.
CONFUSED_W = (3.337, 7.655, 5.491, 8.452)
CONFUSED_B = -7.644


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def binary(name: str, feats: Dict[str, float]) -> Tuple[bool, float, float]:
    """(value, confidence 50..100, probability of True) of a binary attribute from its features."""
    m = BINARY_MODELS[name]
    z = float(m["b"]) + sum(float(w) * float(feats[f]) for f, w in zip(m["features"], m["w"]))
    return decision(float(_sigmoid(z)))


def decision(p: float) -> Tuple[bool, float, float]:
    """(value, confidence 50..100, p) of a probability."""
    return p >= 0.5, 100.0 * max(p, 1.0 - p), p


# The attribute network's crop: dlib's 5-point chip template with this padding, cut at ATTRIBUTE_CUT px and
# area-averaged to ATTRIBUTE_INPUT px (the training crops of tools/attribute_crops.py are cut the same way).
ATTRIBUTE_CHIP_PADDING = 0.4
ATTRIBUTE_CUT = 240
ATTRIBUTE_INPUT = 80
# FaceOccluded's "partially captured" (Rekognition: eyes, nose or mouth only partly in the picture): the largest
# share of an eye's, the nose's or the mouth's FaceMesh points outside the picture; p_edge = min(1, share /
# (2 * EDGE_SHARE)), so a tenth of one part cut off reads 0.5 (a margin over the points' pixel-level jitter).
EDGE_SHARE = 0.1
EDGE_PARTS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    (1, 4, 5, 195, 2, 98, 327, 48, 278),
    (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185),
)
# The per-eye EyesOpen feature needs both eyes seen nearly face-on (the narrower at least cos 41 deg of the wider)
# and resolved: a wink changes the gap by about 0.2 of the eye's width, 4 px at 20 px, a few times the mesh's
# eyelid noise.
EYE_VISIBLE_RATIO = 0.75
EYE_RESOLVED_PX = 20.0


class AttributeModels:
    """Sessions for the age, gender and emotion networks (loaded on first use) and the feature extractors."""

    def __init__(self, threads: Optional[int] = None, blendshape_names: Optional[Sequence[str]] = None,
                 precision: Optional[str] = None, providers: Optional[Sequence[str]] = None) -> None:
        self.threads = threads
        self.precision, self.providers = precision, providers
        self._age = self._gender = self._emotion = None
        tmpl = registry.load_json("dlib_chip_template.json")
        norm = tmpl["normalized_points"]
        chips = tmpl["chips"]
        self.age_chip = DlibChip(chips["age"]["size"], chips["age"]["padding"], norm)
        self.gender_chip = DlibChip(chips["gender"]["size"], chips["gender"]["padding"], norm)
        self.attribute_chip = DlibChip(ATTRIBUTE_CUT, ATTRIBUTE_CHIP_PADDING, norm)
        self._attribute_net = None
        # Platt coefficients {name: {"a", "b"}}; None: the model's manifest entry (a bench may set another network)
        self.attribute_calibration: Optional[Dict[str, Dict[str, float]]] = None
        self.age_weights = np.asarray(registry.entry("age").get("age_class_weights", [0.25, *list(range(1, 81))]),
                                      np.float64)
        self.blend_index = {n: i for i, n in enumerate(blendshape_names or [])}

    # -- networks ---------------------------------------------------------------------------------------------
    def _session(self, attr: str, name: str) -> Any:
        s = getattr(self, attr)
        if s is None:
            s = registry.session(name, self.threads, self.precision, self.providers)
            setattr(self, attr, s)
        return s

    def age_gender(self, rgb: np.ndarray, meshes: Meshes, want_age: bool = True,
                   want_gender: bool = True) -> Tuple[List[Any], List[Any]]:
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

    def emotion_probs(self, rgb: np.ndarray, meshes: Meshes) -> np.ndarray:
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

    def attribute_probabilities(self, rgb: np.ndarray, meshes: Meshes) -> np.ndarray:
        """[N, 5] calibrated probabilities of NET_OUTPUTS from the attribute network: the mean of its logits on the
        aligned crop and on the crop's mirror image, Platt-scaled (coefficients in the model's manifest entry)."""
        n = len(meshes)
        batch = np.empty((2 * n, 3, ATTRIBUTE_INPUT, ATTRIBUTE_INPUT), np.float32)
        for i, mesh in enumerate(meshes):
            m, _ = self.attribute_chip.matrix(mesh_points5(mesh))
            crop = _core.warp_affine(rgb, m.astype(np.float32), ATTRIBUTE_CUT, ATTRIBUTE_CUT)
            crop = np.clip(crop + 0.5, 0, 255).astype(np.uint8)
            small = cv2.resize(crop, (ATTRIBUTE_INPUT, ATTRIBUTE_INPUT), interpolation=cv2.INTER_AREA)
            batch[i] = small.transpose(2, 0, 1)
            batch[n + i] = batch[i, :, :, ::-1]
        sess = self._session("_attribute_net", "face_attributes.onnx")
        logits = sess.run(None, {sess.get_inputs()[0].name: batch})[0].astype(np.float64)
        z = (logits[:n] + logits[n:]) / 2
        cal = self.attribute_calibration or registry.entry("face_attributes")["calibration"]
        a = np.array([cal[k]["a"] for k in NET_OUTPUTS])
        b = np.array([cal[k]["b"] for k in NET_OUTPUTS])
        return _sigmoid(a * z + b)

    # -- measured features ------------------------------------------------------------------------------------
    def analyze(self, rgb: np.ndarray, meshes: Meshes, blends: Optional[np.ndarray],
                presences: np.ndarray, wanted: Collection[str]) -> List[dict]:
        """Per face, the attributes named in ``wanted`` (Rekognition names: AGE_RANGE, SMILE, ...) and nothing else.

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
            net = None
            if any(BINARY_KEYS_DICT[b] in NET_KEYS for b in binaries):
                net = self.attribute_probabilities(rgb, meshes)
                net[:, 0] = np.maximum(net[:, 0], net[:, 1])  # sunglasses are eyewear
            if "FACE_OCCLUDED" in wanted:
                p_edge = np.array([edge_probability(m, rgb.shape) for m in meshes])
                assert net is not None  # FaceOccluded is one of the network's outputs
                net[:, 4] = 1.0 - (1.0 - net[:, 4]) * (1.0 - p_edge)
            for i in range(n):
                feats = self.features(rgb, meshes[i], None if blends is None else blends[i], float(presences[i]))
                for name in binaries:
                    if BINARY_KEYS_DICT[name] in NET_KEYS:
                        assert net is not None
                        v, c, _ = decision(float(net[i, NET_OUTPUTS.index(name)]))
                    else:
                        v, c, _ = binary(name, feats)
                    out[i][name] = (v, c)
                out[i]["features"] = feats  # for tools/calibrate_attributes.py; response.py ignores it
                if net is not None:
                    out[i]["net"] = net[i]
        return out

    def features(self, rgb: np.ndarray, mesh: np.ndarray, blend: Optional[np.ndarray], presence: float
                 ) -> Dict[str, float]:
        """The measured features of one face (names used by BINARY_MODELS; ``presence`` and ``mouth_gap`` too).
        The region measurements that Eyeglasses, Sunglasses, Beard, Mustache and FaceOccluded used before the
        attribute network live on in bench/region_attributes_baseline.py, for comparison."""
        f: Dict[str, float] = {"presence": float(presence)}
        # FaceMesh's face probability saturates near 1: its logit (clipped) separates "mostly visible" from "clear"
        pc = float(np.clip(presence, 1e-6, 1 - 1e-6))
        f["presence_logit"] = float(np.clip(np.log(pc / (1 - pc)), -5.0, 14.0))
        pts = mesh[:, :2].astype(np.float64)
        eye_w = [float(np.linalg.norm(pts[33] - pts[133])), float(np.linalg.norm(pts[263] - pts[362]))]
        gaps = [np.linalg.norm(pts[159] - pts[145]) / max(eye_w[0], 1e-6),
                np.linalg.norm(pts[386] - pts[374]) / max(eye_w[1], 1e-6)]
        mouth_w = float(np.linalg.norm(pts[61] - pts[291]))
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
        return f


def edge_probability(mesh: np.ndarray, shape: Tuple[int, ...]) -> float:
    """FaceOccluded's share for a face the picture cuts through its eyes, nose or mouth (see EDGE_SHARE)."""
    h, w = shape[:2]
    share = 0.0
    for part in EDGE_PARTS:
        p = mesh[list(part), :2]
        share = max(share, float(((p[:, 0] < 0) | (p[:, 0] >= w) | (p[:, 1] < 0) | (p[:, 1] >= h)).mean()))
    return min(1.0, share / (2 * EDGE_SHARE))


def age_range(probs: np.ndarray, weights: np.ndarray) -> Tuple[int, int, float]:
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


def emotions(fer: np.ndarray, blend: Optional[np.ndarray], index: Dict[str, int]) -> List[Tuple[str, float]]:
    """[(TYPE, confidence 0..100)] for all 8 types, highest first."""
    conf = 0.0
    if blend is not None and index:
        conf = float(_sigmoid(float(np.dot(CONFUSED_W, confused_cues(blend, index))) + CONFUSED_B))
    scores = {t: 100.0 * float(p) * (1.0 - conf) for t, p in zip(EMOTIONS_FER, fer)}
    scores["CONFUSED"] = 100.0 * conf
    return sorted(scores.items(), key=lambda kv: -kv[1])
