"""MediaPipe's face landmarker (Apache-2.0): 478 points with irises, and 52 blendshapes.

Each face is cut out as an upright square (rotated so the eyes are level, 1.5x the detector box) and run through
the 256x256 landmark network (all faces in one call; the session runs the crops one at a time, several at once:
parallel.py); points come back in image pixels with z in the same pixel units (z grows away from the camera), so
that (x, y, z) is a right-handed camera frame.

With ``refine`` the crop is cut again around the landmarks of that first pass (1.5x their bounding box, rotated
by their eye line: MediaPipe's own tracking ROI) and the network run a second time. The detector's boxes at its
larger scale (images above 640 px) sit a few percent differently on the face, and the landmarks follow the crop:
on AFLW2000-3D and dlib's faces enlarged 2.5x, landmark NME goes 0.074/0.048 (640 px) -> 0.082/0.049 (960 px) ->
0.073/0.047 (960 px, refined), see README "Accuracy".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from .. import _core

CROP = 256
ROI_SCALE = 1.5


@dataclass
class MeshResult:
    points: np.ndarray  # float32 [N, 478, 3] image px
    crop_points: np.ndarray  # float32 [N, 478, 3] px of the upright 256x256 crop
    presence: np.ndarray  # float32 [N] probability that the crop holds a face
    crop_to_image: np.ndarray  # float32 [N, 2, 3] affine from crop px to image px
    # With mirror_average: the mean of the answers for the crop and for its mirror image (None otherwise).
    symmetric_points: Optional[np.ndarray] = None  # float32 [N, 478, 3] image px
    symmetric_crop_points: Optional[np.ndarray] = None  # float32 [N, 478, 3] crop px


def roi_affine(box: np.ndarray, eyes: np.ndarray, crop: int = CROP, scale: float = ROI_SCALE) -> np.ndarray:
    """Affine (2x3) mapping crop pixel coordinates to image pixel coordinates (continuous, top-left origin)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    (lx, ly), (rx, ry) = eyes
    theta = np.arctan2(ry - ly, rx - lx)
    side = scale * max(x2 - x1, y2 - y1)
    k = side / crop
    c, s = np.cos(theta) * k, np.sin(theta) * k
    a = np.array([[c, -s], [s, c]])
    b = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) - a @ np.array([crop / 2, crop / 2])
    return np.hstack([a, b[:, None]]).astype(np.float32)


def sampling_matrix(crop_to_image: np.ndarray) -> np.ndarray:
    """The same map in pixel-index convention (pixel centres at integers), as warp_affine samples."""
    m = crop_to_image.astype(np.float64).copy()
    m[:, 2] = m[:, :2] @ np.array([0.5, 0.5]) + m[:, 2] - 0.5
    return m.astype(np.float32)


# The iris points are not in the canonical mesh: centre, then right, top, left, bottom edge in the image.
_IRIS_MIRROR = {468: 473, 469: 476, 470: 475, 471: 474, 472: 477}


def mirror_permutation(canonical: np.ndarray) -> np.ndarray:
    """perm[i] = the landmark that lands on landmark i's place when the face is mirrored left-right."""
    v = canonical[:468].astype(np.float64)
    mirrored = v * np.array([-1.0, 1.0, 1.0])
    d = ((v[:, None, :] - mirrored[None, :, :]) ** 2).sum(-1)
    perm = np.concatenate([d.argmin(axis=1), np.arange(468, 478)])
    for a, b in _IRIS_MIRROR.items():
        perm[a], perm[b] = b, a
    return perm


class FaceMesh:
    def __init__(self, session: Any, blendshape_session: Any = None, blendshape_indices: Optional[Sequence[int]] = None,
                 mirror_perm: Optional[np.ndarray] = None) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.blendshapes = blendshape_session
        self.blend_input = blendshape_session.get_inputs()[0].name if blendshape_session is not None else None
        self.blend_idx = np.asarray(blendshape_indices, dtype=np.int64) if blendshape_indices is not None else None
        self.mirror_perm = mirror_perm

    def run(self, rgb: np.ndarray, boxes: np.ndarray, points5: np.ndarray, mirror_average: bool = False,
            refine: Union[bool, np.ndarray] = False) -> MeshResult:
        """Landmarks for each face. With ``mirror_average`` the network also sees each crop mirrored, and the mean
        of the two answers comes back as ``symmetric_points``: the network is not exactly mirror-symmetric, and
        a small eye's iris moves by a pixel or two between the two, which is several degrees of gaze. ``refine``
        (one bool, or one per face): those crops are cut again around a first pass's landmarks (see the module
        docstring)."""
        n = len(boxes)
        if n == 0:
            empty = np.zeros((0, 478, 3), np.float32)
            return MeshResult(empty, empty, np.zeros(0, np.float32), np.zeros((0, 2, 3), np.float32), empty, empty)
        mask = np.broadcast_to(np.asarray(refine, bool), (n,))
        if mask.any():
            sel = np.flatnonzero(mask)
            first = self.run(rgb, boxes[sel], points5[sel]).points
            boxes = np.array(boxes, np.float32, copy=True)
            points5 = np.array(points5, np.float32, copy=True)
            boxes[sel, :4] = np.concatenate([first[:, :468, :2].min(axis=1), first[:, :468, :2].max(axis=1)], axis=1)
            points5[sel, :2] = np.stack([first[:, [33, 133], :2].mean(axis=1), first[:, [263, 362], :2].mean(axis=1)],
                                        axis=1)
        affines = np.stack([roi_affine(boxes[i], points5[i, :2]) for i in range(n)])

        symmetric = mirror_average and self.mirror_perm is not None

        def crop(i: int) -> np.ndarray:
            """Crop i, or for i >= n the mirror image of crop i - n, sampled mirrored rather than copied."""
            m = sampling_matrix(affines[i % n])
            if i >= n:
                m = np.stack([-m[:, 0], m[:, 1], m[:, 2] + (CROP - 1) * m[:, 0]], axis=1)
            return _core.warp_affine(rgb, m, CROP, CROP, (0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255))

        items = 2 * n if symmetric else n
        if hasattr(self.session, "run_items"):
            # each crop cut in the pool task that runs it (engine/parallel.py)
            raw, presence_logit, _ = self.session.run_items(None, crop, items)
        else:
            raw, presence_logit, _ = self.session.run(None, {self.input_name: np.stack([crop(i) for i in range(items)])})
        raw = raw.reshape(len(raw), 478, 3)
        crop_points = np.ascontiguousarray(raw[:n])
        points = self._to_image(crop_points, affines)
        presence = 1.0 / (1.0 + np.exp(-presence_logit[:n].reshape(n).astype(np.float64)))
        result = MeshResult(points, crop_points, presence.astype(np.float32), affines)
        if symmetric:
            back = raw[n:, self.mirror_perm].copy()
            back[..., 0] = CROP - back[..., 0]
            result.symmetric_crop_points = np.ascontiguousarray((crop_points + back) / 2, dtype=np.float32)
            result.symmetric_points = self._to_image(result.symmetric_crop_points, affines)
        return result

    @staticmethod
    def _to_image(crop_points: np.ndarray, affines: np.ndarray) -> np.ndarray:
        points = np.empty_like(crop_points)
        for i in range(len(crop_points)):
            points[i] = _core.transform_points(np.ascontiguousarray(crop_points[i]), affines[i])
        return points

    def blendshape_scores(self, crop_points: np.ndarray) -> np.ndarray:
        """52 blendshape scores (0..1) per face, from the landmarks in an upright crop frame."""
        if self.blendshapes is None:
            raise RuntimeError("no blendshape model loaded")
        batch = np.ascontiguousarray(np.asarray(crop_points)[:, self.blend_idx, :2], dtype=np.float32)
        if len(batch) == 0:
            return np.empty((0, 52), np.float32)
        # the network takes one face per run: the session is a SlicedSession (engine/parallel.py)
        return self.blendshapes.run(None, {self.blend_input: batch})[0].reshape(len(batch), 52)
