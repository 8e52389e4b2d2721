"""dlib's aligned face chips, cut from FaceMesh landmarks.

dlib's networks (face descriptor, age, gender) were trained on chips made by ``dlib.get_face_chip``: a
least-squares similarity from a 5-point template (``models/dlib_chip_template.json``) to dlib's 5 landmarks,
sampled with dlib's geometry (chip pixel ``(x, y)`` reads the image at ``T(size/2) + k·R·((x, y) − (size−1)/2)``
with ``k = (size·s − 1)/(size − 1)``, values floored) and, for large faces, from a level of dlib's 2× image
pyramid. The five points come from the FaceMesh points nearest to dlib's (measured on 155 faces against dlib's
own 5-point predictor: 0.025–0.031 outer-eye distances away).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np

from .. import _core

# FaceMesh indices in dlib's 5-point order: image-right eye outer, inner; image-left eye outer, inner; nose base.
MESH_TO_DLIB5 = (263, 362, 33, 133, 2)


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> Tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity dst ~ s * R @ src + t (Umeyama, no reflection) of 2-D points. Returns (s, R, t)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sv, vt = np.linalg.svd(b.T @ a / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    var = (a ** 2).sum() / len(src)
    scale = float((sv * np.diag(sign)).sum() / var) if var > 0 else 1.0
    return scale, rot, mu_d - scale * rot @ mu_s


def mesh_points5(mesh: np.ndarray) -> np.ndarray:
    """dlib's five points from a [478, 2+] mesh in image px (the mesh's convention: pixel centres at +0.5)."""
    return np.asarray(mesh, np.float64)[list(MESH_TO_DLIB5), :2]


def dlib_points5(mesh: np.ndarray) -> np.ndarray:
    """dlib's five points in dlib's pixel-index convention (pixel centres at integers)."""
    return mesh_points5(mesh) - 0.5


class DlibChip:
    """One chip geometry: ``size`` px, ``padding`` as dlib's, ``normalized`` the template's 5 points."""

    def __init__(self, size: int, padding: float, normalized: Sequence[Sequence[float]]) -> None:
        self.size = int(size)
        self.padding = float(padding)
        self.template = (self.padding + np.asarray(normalized, np.float64)) / (1 + 2 * self.padding) * self.size

    def matrix(self, points: np.ndarray) -> Tuple[np.ndarray, float]:
        """(M, s): M [2, 3] maps chip pixel indices to image pixel indices; s the template-to-image scale."""
        size = self.size
        s, rot, t = similarity_fit(self.template, points)
        c0 = s * rot @ np.array([size / 2, size / 2]) + t  # chip centre in the image
        lin = (size * s - 1) / (size - 1) * rot  # image px per chip px
        half = (size - 1) / 2
        return np.hstack([lin, (c0 - lin @ np.array([half, half]))[:, None]]), s

    def cut(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The aligned [size, size, 3] float32 chip (0..255, integral values) for five points in pixel-index
        convention (see :func:`dlib_points5`)."""
        size = self.size
        m, s = self.matrix(points)
        # dlib samples from the first pyramid level at which the chip is no more than twice undersampled.
        d, levels = size * s - 1, 0
        while (d / 2 + 1) ** 2 > size * size:
            d /= 2
            levels += 1
        image = rgb
        if levels:
            h, w = rgb.shape[:2]
            c0 = m @ np.array([(size - 1) / 2, (size - 1) / 2, 1.0])
            reach = size * s / 2 * np.sqrt(2) + 4  # half-diagonal of the rotated chip, with a margin
            x0, y0 = max(0, int(np.floor(c0[0] - reach))), max(0, int(np.floor(c0[1] - reach)))
            x1, y1 = min(w, int(np.ceil(c0[0] + reach))), min(h, int(np.ceil(c0[1] + reach)))
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                f = 2.0 ** levels
                sw, sh = max(1, int(round((x1 - x0) / f))), max(1, int(round((y1 - y0) / f)))
                image = cv2.resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), (sw, sh), interpolation=cv2.INTER_AREA)
                fx, fy = (x1 - x0) / sw, (y1 - y0) / sh
                # pixel index q in the image -> (q - x0 + 0.5) / f - 0.5 in the shrunk crop
                a = np.diag([1 / fx, 1 / fy])
                m = np.hstack([a @ m[:, :2], (a @ m[:, 2] + np.array([(0.5 - x0) / fx - 0.5, (0.5 - y0) / fy - 0.5]))[:, None]])
        return np.floor(_core.warp_affine(np.ascontiguousarray(image), m.astype(np.float32), size, size))
