"""Face descriptors: dlib's ResNet (CC0), 128 numbers per face; two faces are the same person when their
Euclidean distance is small (dlib's own rule: < 0.6).

The network expects dlib's aligned 150x150 "face chip". dlib cuts it with its 5-point shape predictor; facelens
has FaceMesh's 478 points instead, and takes the five from them (``align.MESH_TO_DLIB5``): the outer and inner corners
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

from typing import Any, Sequence

import numpy as np

from .align import DlibChip, dlib_points5

DESCRIPTOR_SIZE = 128


class FaceEmbedder:
    """``session``: the dlib ResNet ONNX session; ``template``: dlib_chip_template.json (its ``face_descriptor``
    chip and ``normalized_points``)."""

    def __init__(self, session: Any, template: dict) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        chip = template["chips"]["face_descriptor"]
        self.chip = DlibChip(chip["size"], chip["padding"], template["normalized_points"])

    def embed(self, rgb: np.ndarray, meshes: Sequence[np.ndarray]) -> np.ndarray:
        """[N, 128] float32 descriptors for the faces whose meshes are given, in one network batch."""
        if len(meshes) == 0:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        batch = np.stack([self.chip.cut(rgb, dlib_points5(m)) for m in meshes])
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), np.float32)
        return np.ascontiguousarray(self.session.run(None, {self.input_name: batch})[0], np.float32)
