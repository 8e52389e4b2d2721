"""The region measurements that answered Eyeglasses, Sunglasses, Beard, Mustache and FaceOccluded before the
attribute network (a logistic model over luma/chroma/edge statistics of landmark-defined patches of an aligned
face chip, fitted on the group-photo faces), kept here only so that bench/attributes_accuracy.py can score them
beside the network in the same run. facelens itself does not use them.
"""

from __future__ import annotations

from typing import Dict

import cv2
import numpy as np

from facelens import _core
from facelens.engine.align import DlibChip, mesh_points5
from facelens.engine.attributes import _sigmoid
from facelens.models import registry

MODELS = {  # fitted on the group-photo faces (n, positives): Eyeglasses 132, 16; Sunglasses 138, 2; Beard 129, 13;
    # Mustache 127, 18; FaceOccluded 221 (with synthetic occlusions), 99
    "Eyeglasses": {"features": ("bridge_gy", "rim_low"), "w": (1.629, 0.4122), "b": -1.248},
    "Sunglasses": {"features": ("eye_dark", "iris_contrast"), "w": (-14.54, -2.505), "b": 10.15},
    "Beard": {"features": ("chin_dark", "chin_b", "jaw_dark"), "w": (-5.5, -0.2091, -3.337), "b": 4.617},
    "Mustache": {"features": ("lip_dark", "chin_dark", "chin_b", "lip_a"),
                 "w": (-0.658, -1.388, -0.1561, -0.06079), "b": 0.8801},
    "FaceOccluded": {"features": ("presence_logit", "lower_mismatch", "outside", "lip_red", "lip_edges"),
                     "w": (-0.1316, 1.62, 9.358, -0.009666, -0.2067), "b": -0.07925},
}
_CHEEKS = (50, 280)
_FOREHEAD = (151, 108, 337)
_BRIDGE = (168, 6)
_UPPER_LIP = (164, 167, 393)
_CHIN = (152, 175, 199, 148, 377, 136, 365)
ANALYSIS_SIZE = 96
_CHIP = DlibChip(ANALYSIS_SIZE, 0.35, registry.load_json("dlib_chip_template.json")["normalized_points"])


def probabilities(rgb: np.ndarray, mesh: np.ndarray, feats: Dict[str, float]) -> Dict[str, float]:
    """The old models' probabilities for one face: ``feats`` are AttributeModels.features (presence_logit,
    outside). Their FaceOccluded also took the face-mask network's probability, which is no longer shipped."""
    f = dict(feats)
    f.update(region_features(rgb, mesh))
    p = {name: float(_sigmoid(m["b"] + sum(w * f[k] for k, w in zip(m["features"], m["w"]))))
         for name, m in MODELS.items()}
    p["FaceOccluded"] = 1.0 - (1.0 - p["FaceOccluded"]) * (1.0 - p["Sunglasses"])
    return p


def region_features(rgb: np.ndarray, mesh: np.ndarray) -> Dict[str, float]:
    m, _ = _CHIP.matrix(mesh_points5(mesh))
    size = _CHIP.size
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
            return np.zeros((1, *arr.shape[2:]), np.float32)
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
