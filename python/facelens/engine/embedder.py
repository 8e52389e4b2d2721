"""Face descriptors: dlib's ResNet (CC0), 128 numbers per face; two faces are the same person when their
Euclidean distance is small (dlib's own rule: < 0.6).

The network expects dlib's aligned 150x150 "face chip". dlib cuts it with its 5-point shape predictor; facelens
has FaceMesh's 478 points instead, and takes the five from them (``MESH_POINTS``): the outer and inner corners
of both eyes and the point under the nose. Against dlib's own predictor on 155 faces (deepface_dataset, fr_*
photos, dlib_faces) these mesh points lie 0.025-0.031 outer-eye distances from dlib's points on average; mesh
point 2 is the closest to dlib's nose-base point (0.028; the nose tip, point 1, is 0.096 away).

Then, as ``dlib_chip_template.json`` describes: the least-squares similarity from the chip template to the five
points, the chip sampled bilinearly with the values truncated, and for a face more than about twice the chip's
size the image first shrunk by a power of two (dlib samples a pyramid level there; unfiltered sampling aliases
and moves the descriptor by ~0.05-0.1). With dlib's own five points this reproduces dlib's descriptor on those
155 faces to a median L2 of 0.0003 and at worst 0.076 (the largest faces: area shrinking instead of dlib's 5-tap
pyramid). From the mesh points the descriptor lies a median 0.10 from dlib's own.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .. import _core

# FaceMesh indices in dlib's 5-point order: image-right eye outer, inner; image-left eye outer, inner; nose base.
MESH_POINTS = (263, 362, 33, 133, 2)
DESCRIPTOR_SIZE = 128


def similarity_fit(src: np.ndarray, dst: np.ndarray):
    """Least-squares similarity dst ~ s * R @ src + t (Umeyama, no reflection). Returns (s, R, t)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    var = (a ** 2).sum() / len(src)
    scale = float((sv * np.diag(sign)).sum() / var) if var > 0 else 1.0
    return scale, rot, mu_d - scale * rot @ mu_s


class FaceEmbedder:
    """``session``: the dlib ResNet ONNX session; ``chip``: ``chips.face_descriptor`` of dlib_chip_template.json."""

    def __init__(self, session, chip: dict) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.size = int(chip["size"])
        self.template = np.asarray(chip["template_points"], np.float64)

    @staticmethod
    def points5(mesh: np.ndarray) -> np.ndarray:
        """dlib's five points from a [478, 2+] mesh in image px, in dlib's pixel-index convention (centres at
        integers; the mesh puts them at +0.5)."""
        return np.asarray(mesh, np.float64)[list(MESH_POINTS), :2] - 0.5

    def chip(self, rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The aligned [size, size, 3] float32 chip (0..255, integral values) for five points (pixel-index
        convention)."""
        size = self.size
        s, rot, t = similarity_fit(self.template, points)
        c0 = s * rot @ np.array([size / 2, size / 2]) + t  # chip centre in the image
        k = (size * s - 1) / (size - 1)  # image px per chip px
        half = (size - 1) / 2
        # dlib samples from the first pyramid level at which the chip is no more than twice undersampled.
        d, levels = size * s - 1, 0
        while (d / 2 + 1) ** 2 > size * size:
            d /= 2
            levels += 1
        image = rgb
        lin = k * rot
        centre = c0
        if levels:
            h, w = rgb.shape[:2]
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
                lin = a @ lin
                centre = a @ c0 + np.array([(0.5 - x0) / fx - 0.5, (0.5 - y0) / fy - 0.5])
        m = np.hstack([lin, (centre - lin @ np.array([half, half]))[:, None]]).astype(np.float32)
        return np.floor(_core.warp_affine(np.ascontiguousarray(image), m, size, size))

    def embed(self, rgb: np.ndarray, meshes: Sequence[np.ndarray]) -> np.ndarray:
        """[N, 128] float32 descriptors for the faces whose meshes are given, in one network batch."""
        if len(meshes) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        batch = np.stack([self.chip(rgb, self.points5(m)) for m in meshes])
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), np.float32)
        return np.ascontiguousarray(self.session.run(None, {self.input_name: batch})[0], np.float32)
