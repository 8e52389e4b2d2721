"""Face detection: CenterFace (MIT) run by onnxruntime, decoded and suppressed by the C++ core.

Pixels in, pixels out: boxes are ``[x1, y1, x2, y2]`` in image pixels, five points per face in the order
image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

from .. import _core

# Images are scanned with their longer side at BASE_SIDE pixels (smaller ones enlarged, at most 2x), or, for images
# larger than that, at their own size up to ``max_side``. The default max_side is BASE_SIDE, the scale every
# constant of facelens was fitted at. A 40 px face of a 1920x1080 photo is 13 px at 640, 20 px at 960: large photos
# with small faces (or none) found at BASE_SIDE get a closer look at their own size up to CLOSER_SIDE whose new
# faces are added (WIDER FACE val recall, all faces, 0.50 with the closer look at 960 px, 0.62 at the photos' own
# 1024 px, precision 0.99 both; README "Int8 networks"), the BASE_SIDE scan's faces left as they were.
# ``max_side=960`` instead scans every large photo at up to 960 px, which moves every face's box (the pipeline
# refines the landmark crops of faces found above BASE_SIDE) away from what the attribute and gaze constants were
# fitted on (README "Accuracy").
BASE_SIDE = 640
DEFAULT_MAX_SIDE = BASE_SIDE

# Confidence = 100 * sigmoid(a * logit(raw) + b): the probability that a detection is a face, fitted by
# tools/calibrate_confidence.py (matched vs unmatched detections on WIDER FACE val, dlib_faces and nofaces/).
# Raw 0.5 (the detection threshold) reads 85.8, 0.7 reads 97.1, 0.9 reads 99.8.
CONFIDENCE_CALIBRATION = (2.0060, 1.8013)


def calibrated_confidence(raw: float) -> float:
    """Confidence in % from CenterFace's raw heat-map score (0..1)."""
    raw = min(max(float(raw), 1e-6), 1 - 1e-6)
    a, b = CONFIDENCE_CALIBRATION
    return 100.0 / (1.0 + math.exp(-(a * math.log(raw / (1 - raw)) + b)))


@dataclass
class Detections:
    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2 (image px), largest first
    scores: np.ndarray  # float32 [N] in 0..1
    points: np.ndarray  # float32 [N, 5, 2] (image px)
    side: int = BASE_SIDE  # the longer side, in pixels, of the image as the network saw it (of its first scan)
    # per face: found by a look at more than BASE_SIDE (its landmark crop is then cut around a first landmark pass)
    closer: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.scores)

    def refine_mask(self) -> np.ndarray:
        """bool [N]: the faces whose landmark crops are refined (found at a scale above BASE_SIDE)."""
        if self.closer is not None:
            return self.closer
        return np.full(len(self), self.side > BASE_SIDE, bool)


RETRY_MAX_SIDE = 320  # pixels: the second look of ``detect`` when the first finds no face
# Looking closer: when a photo larger than BASE_SIDE shows faces near the detector's limit at BASE_SIDE (the
# smallest found under CLOSER_TRIGGER_PX there) or none at all, it is scanned again at its own size up to
# CLOSER_SIDE and the faces that only that look finds are added; the faces of the BASE_SIDE scan stay exactly as
# they were.
CLOSER_SIDE = 1280
CLOSER_TRIGGER_PX = 32.0
# The first look: every image is first scanned with its longer side at FIRST_LOOK_SIDE (a quarter of the pixels of
# BASE_SIDE), the peaks decoded down to FIRST_LOOK_CANDIDATE. Its faces are the answer when it found at least one,
# each at least FIRST_LOOK_MIN_PX on its shorter side as that look saw it, and no peak between FIRST_LOOK_CANDIDATE
# and the detection threshold outside them (a face too small or too faint for that look). Otherwise the image is
# scanned as before (BASE_SIDE or its own size, the retry, the closer look), and only that scan's faces count.
FIRST_LOOK_SIDE = 320
FIRST_LOOK_MIN_PX = 20.0
FIRST_LOOK_CANDIDATE = 0.25


class CenterFaceDetector:
    STRIDE = 32  # the network's input sides must be multiples of 32
    closer_side = CLOSER_SIDE  # 0 turns the closer look off

    def __init__(self, session: Any, max_side: int = DEFAULT_MAX_SIDE, score_threshold: float = 0.5, nms_iou: float = 0.3,
                 max_faces: int = 100, first_look_side: int = FIRST_LOOK_SIDE) -> None:
        self.session = session
        self.first_look_side = first_look_side  # 0 turns the first look off
        self.input_name = session.get_inputs()[0].name
        self.max_side = max_side
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_faces = max_faces

    def input_geometry(self, width: int, height: int, side: int) -> Tuple[int, int]:
        """Network input size (multiples of 32) for an image scaled so that its longer side is ``side`` pixels (an
        image is enlarged at most 2x)."""
        ratio = min(side / max(width, height), 2.0)
        w = max(self.STRIDE, int(math.ceil(width * ratio / self.STRIDE)) * self.STRIDE)
        h = max(self.STRIDE, int(math.ceil(height * ratio / self.STRIDE)) * self.STRIDE)
        return w, h

    def scan_side(self, width: int, height: int) -> int:
        """The longer side of the image as the network sees it: BASE_SIDE, or the image's own up to max_side."""
        return max(min(BASE_SIDE, self.max_side), min(self.max_side, max(width, height)))

    def detect(self, rgb: np.ndarray) -> Detections:
        """The first look (``first_look_side``, 0 for none) and, where it is not sure, the full scan."""
        side = self.scan_side(rgb.shape[1], rgb.shape[0])
        first = None
        if 0 < self.first_look_side < side and max(rgb.shape[:2]) > self.first_look_side:
            first, settled = self._first_look(rgb)
            if settled:
                return first
        found = self._detect(rgb, side)
        if len(found) == 0 and first is not None and self.first_look_side == RETRY_MAX_SIDE:
            found = Detections(first.boxes, first.scores, first.points, side)  # the retry's look, already taken
        elif len(found) == 0 and side > RETRY_MAX_SIDE and max(rgb.shape[:2]) > RETRY_MAX_SIDE:
            # A face filling most of the picture (a close selfie, a masked face) can score under the threshold
            # at max_side: CenterFace's receptive field is too small for it. When nothing is found, look again at
            # RETRY_MAX_SIDE. Measured on ../shared/data: recovers the two close masked faces (inspireface
            # bulk_mask.png, crop_crop_mask.png, 0.71/0.61) and finds nothing in any of the 23 nofaces/ pictures.
            found = self._detect(rgb, RETRY_MAX_SIDE)
            found.side = side
        closer_side = min(self.closer_side, max(rgb.shape[:2]))
        if closer_side > side and self._look_closer(found, rgb.shape[1], rgb.shape[0], side):
            found = self._merge(found, self._detect(rgb, closer_side))
        return found

    @staticmethod
    def _look_closer(found: Detections, width: int, height: int, side: int) -> bool:
        if len(found) == 0:
            return True
        scale = side / max(width, height)
        sizes = np.minimum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1]) * scale
        return bool(sizes.min() < CLOSER_TRIGGER_PX)

    def _merge(self, first: Detections, closer: Detections) -> Detections:
        """The BASE_SIDE scan's faces unchanged, plus the closer look's faces that overlap none of them: one more NMS
        over both, that scan's faces ranked above every closer one (they already passed NMS together)."""
        boxes = np.concatenate([first.boxes, closer.boxes])
        scores = np.concatenate([first.scores, closer.scores])
        points = np.concatenate([first.points, closer.points])
        flags = np.concatenate([first.refine_mask(), np.ones(len(closer), bool)])
        rank = np.concatenate([first.scores + 1.0, closer.scores]).astype(np.float32)
        keep = _core.nms(np.ascontiguousarray(boxes, np.float32), rank, self.nms_iou)
        boxes, scores, points, flags = boxes[keep], scores[keep], points[keep], flags[keep]
        order = _core.select_largest(boxes, self.max_faces)
        return Detections(boxes[order], scores[order], points[order], first.side, flags[order])

    def _first_look(self, rgb: np.ndarray) -> Tuple[Detections, bool]:
        """(the first look's faces, whether they are the answer); see FIRST_LOOK_SIDE."""
        side = self.first_look_side
        found = self._detect(rgb, side, min(FIRST_LOOK_CANDIDATE, self.score_threshold))
        sure = found.scores >= self.score_threshold
        found = Detections(found.boxes[sure], found.scores[sure], found.points[sure], side) if not sure.all() else found
        if not sure.all() or len(found) == 0:
            return found, False
        scale = side / max(rgb.shape[:2])
        sizes = np.minimum(found.boxes[:, 2] - found.boxes[:, 0], found.boxes[:, 3] - found.boxes[:, 1]) * scale
        return found, bool(sizes.min() >= FIRST_LOOK_MIN_PX)

    def _detect(self, rgb: np.ndarray, side: int, threshold: Optional[float] = None) -> Detections:
        height, width = rgb.shape[:2]
        in_w, in_h = self.input_geometry(width, height, side)
        # CenterFace takes raw 0..255 RGB values.
        tensor, ratio = _core.letterbox_nchw(rgb, in_w, in_h)
        heatmap, scale, offset, landmarks = self.session.run(None, {self.input_name: tensor})
        boxes, scores, points = _core.decode_centerface(
            heatmap[0], scale[0], offset[0], landmarks[0],
            self.score_threshold if threshold is None else threshold, ratio, width, height
        )
        keep = _core.nms(boxes, scores, self.nms_iou)
        boxes, scores, points = boxes[keep], scores[keep], points[keep]
        order = _core.select_largest(boxes, self.max_faces)
        return Detections(boxes[order], scores[order], points[order], side)
