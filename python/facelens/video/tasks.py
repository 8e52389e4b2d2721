"""What each kind of video job does with one sampled frame.

A task is made once per job (``make_*``) and then called for every sampled frame in order as
``task(timestamp_ms, image) -> [result items]``; it may keep state between frames (the trackers do). Items are
the dicts Get* returns, in the frame's order; an item's private ``_sort`` entry is the key of the job's other
order (SortBy INDEX: person index, then detection confidence highest first; SortBy ID: celebrity Id), which the
job store keeps next to it.

Persons and their indexes (GetPersonTracking, GetFaceSearch): a person detector finds people in each frame and
``facelens._core.Tracker`` (a constant-velocity Kalman filter per person, optimal IoU assignment, see
``cpp/include/facelens/track.hpp``) links them from frame to frame; a person's ``Index`` is given when their track
is confirmed and never reused. A detection whose track is not confirmed yet is left out. Faces are given to the
person whose box holds them (:func:`assign_faces`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import contract, response

if TYPE_CHECKING:
    from .._core import Tracker
    from ..celebrities import CelebrityGallery
    from ..images import DecodedImage
    from ..pipeline import Engine
    from ..storage.collections import StoredFace

# one frame's result items, from the frame's timestamp (ms) and image
Task = Callable[[int, "DecodedImage"], List[Dict[str, Any]]]

# Tracker settings for people sampled at a few frames per second: a track survives MAX_AGE_S without a detection
# (someone walking behind another), and is confirmed after MIN_HITS detections (one-frame false positives never
# get an index).
TRACK_IOU = 0.2
TRACK_MAX_AGE_S = 1.5
TRACK_MIN_HITS = 2

# A face belongs to a person box when at least this share of the face box lies inside it and the face's centre is
# in the upper half of the person box (people are upright in the videos Rekognition is made for).
FACE_INSIDE = 0.7
FACE_UPPER = 0.5


def _tracker() -> Tracker:
    from .._core import Tracker

    return Tracker(iou_threshold=TRACK_IOU, max_age_s=TRACK_MAX_AGE_S, min_hits=TRACK_MIN_HITS)


def assign_faces(person_boxes: np.ndarray, face_boxes: Sequence[np.ndarray]) -> List[int]:
    """For each face box (x1, y1, x2, y2 pixels) the index of the person box it belongs to, or -1.

    Each person gets at most one face: pairs are taken greedily by the share of the face inside the person box,
    then by how high the face sits in it."""
    owner = [-1] * len(face_boxes)
    if len(person_boxes) == 0 or len(face_boxes) == 0:
        return owner
    pairs = []
    for i, f in enumerate(face_boxes):
        fx1, fy1, fx2, fy2 = (float(v) for v in f[:4])
        area = max(fx2 - fx1, 1e-6) * max(fy2 - fy1, 1e-6)
        cx, cy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
        for j, p in enumerate(person_boxes):
            px1, py1, px2, py2 = (float(v) for v in p[:4])
            iw = min(fx2, px2) - max(fx1, px1)
            ih = min(fy2, py2) - max(fy1, py1)
            if iw <= 0 or ih <= 0:
                continue
            inside = iw * ih / area
            height = max(py2 - py1, 1e-6)
            if inside < FACE_INSIDE or not px1 <= cx <= px2 or (cy - py1) / height > FACE_UPPER:
                continue
            pairs.append((-inside, (cy - py1) / height, i, j))
    taken = set()
    for _, _, i, j in sorted(pairs):
        if owner[i] < 0 and j not in taken:
            owner[i] = j
            taken.add(j)
    return owner


def _index_key(index: int, confidence: float) -> str:
    """Sort key of SortBy INDEX: the person's index, then confidence (0..1) highest first."""
    return f"{int(index):012d}.{int(round((1.0 - min(max(confidence, 0.0), 1.0)) * 1e6)):07d}"


def make_face_detection(engine: Callable[[], Engine], request: Dict[str, Any]) -> Task:
    attributes = contract.wanted_attributes([request.get("FaceAttributes") or "DEFAULT"])
    want_eyes = "EYE_DIRECTION" in attributes

    def task(timestamp: int, image: DecodedImage) -> List[Dict[str, Any]]:
        faces = engine().analyze(image, want_eyes=want_eyes, attributes=attributes)
        height, width = image.rgb.shape[:2]
        return [response.face_detection(timestamp, f, width, height, attributes) for f in faces]

    return task


class _Clock:
    """Seconds between consecutive sampled frames, for the tracker's motion model."""

    def __init__(self) -> None:
        self.last: Optional[int] = None

    def step(self, timestamp: int) -> float:
        dt = 0.0 if self.last is None else max(timestamp - self.last, 0) / 1000.0
        self.last = timestamp
        return dt


def make_person_tracking(engine: Callable[[], Engine], request: Dict[str, Any]) -> Task:
    tracker = _tracker()
    clock = _Clock()

    def task(timestamp: int, image: DecodedImage) -> List[Dict[str, Any]]:
        eng = engine()
        boxes, scores = eng.person_detector.detect(image.rgb)
        indexes = tracker.update(boxes, scores, clock.step(timestamp))
        faces = eng.analyze(image) if len(boxes) else []
        owner = assign_faces(boxes, [f.box for f in faces])
        face_of = {j: faces[i] for i, j in enumerate(owner) if j >= 0}
        height, width = image.rgb.shape[:2]
        items = []
        for j in sorted(range(len(boxes)), key=lambda j: int(indexes[j])):
            if indexes[j] < 0:
                continue
            item = response.person_detection(timestamp, int(indexes[j]), boxes[j], face_of.get(j), width, height)
            item["_sort"] = _index_key(int(indexes[j]), float(scores[j]))
            items.append(item)
        return items

    return task


def make_face_search(engine: Callable[[], Engine], request: Dict[str, Any],
                     search: Callable[[np.ndarray, float], List[Tuple[StoredFace, float]]]) -> Task:
    """``search(vector, threshold) -> [(stored face, Similarity)]``: the collection's matches, best first.

    Faces are tracked (their own tracker) to give each person one Index; Person.BoundingBox is the person box the
    face belongs to, or the face's box when the person detector found no body around it (close-ups)."""
    threshold = float(request.get("FaceMatchThreshold", 80.0))
    tracker = _tracker()
    clock = _Clock()

    def task(timestamp: int, image: DecodedImage) -> List[Dict[str, Any]]:
        eng = engine()
        faces = eng.analyze(image)
        dt = clock.step(timestamp)
        if not faces:
            tracker.update(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), dt)
            return []
        face_boxes = np.ascontiguousarray([f.box[:4] for f in faces], np.float32)
        indexes = tracker.update(face_boxes, np.asarray([f.score for f in faces], np.float32), dt)
        confirmed = [i for i in range(len(faces)) if indexes[i] >= 0]
        if not confirmed:
            return []
        vectors = eng.descriptors(image, [faces[i] for i in confirmed])
        # people whose faces can be matched are large in the frame: the whole-frame pass finds them (no tiles)
        person_boxes, _ = eng.person_detector.detect(image.rgb, tiles=False)
        owner = assign_faces(person_boxes, [faces[i].box for i in confirmed])
        height, width = image.rgb.shape[:2]
        items = []
        for k, i in enumerate(confirmed):
            matches = search(vectors[k], threshold)
            if not matches:
                continue
            box = person_boxes[owner[k]] if owner[k] >= 0 else faces[i].box
            item = response.person_match(timestamp, int(indexes[i]), box, faces[i], width, height, matches)
            item["_sort"] = _index_key(int(indexes[i]), faces[i].score)
            items.append(item)
        items.sort(key=lambda it: it["Person"]["Index"])
        return items

    return task


def make_celebrity_recognition(engine: Callable[[], Engine], request: Dict[str, Any],
                               gallery: Callable[[], CelebrityGallery]) -> Task:
    """Faces of each frame matched against the celebrity gallery (``client.celebrities``); only recognised faces
    are reported."""

    def task(timestamp: int, image: DecodedImage) -> List[Dict[str, Any]]:
        eng = engine()
        faces = eng.analyze(image)
        if not faces:
            return []
        vectors = eng.descriptors(image, faces)
        found = gallery().match(vectors)
        height, width = image.rgb.shape[:2]
        items = []
        for face, (celebrity, confidence) in zip(faces, found):
            if celebrity is None:
                continue
            item = response.celebrity_recognition(timestamp, face, width, height, celebrity, confidence)
            item["_sort"] = item["Celebrity"]["Id"]
            items.append(item)
        return items

    return task
