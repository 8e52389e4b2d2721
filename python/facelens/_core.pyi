"""Type stubs for ``facelens._core``, the native (C++17, pybind11) core of facelens.

Conventions shared by every function
------------------------------------
* Images are ``uint8`` arrays ``[H, W, 3]`` (RGB, H, W >= 1). Arrays whose
  pixel stride is 3 bytes and channel stride 1 byte (e.g. crops
  ``img[y0:y1, x0:x1]``) are used without copying; other layouts are copied.
  Any other dtype raises ``ValueError``.
* Float inputs accept any real numeric array-like; they are converted to
  C-contiguous ``float32`` (no copy when they already are).
* Pixel coordinates: x right, y down, origin at the top-left corner of the
  top-left pixel (pixel centres at +0.5), unless stated otherwise.
* Bad shapes / dtypes / non-finite parameters raise ``ValueError``. Every
  function releases the GIL while computing and returns new arrays that own
  their memory.
* Kernels with SIMD variants (letterbox_nchw, decode_centerface, nms,
  warp_affine, face_quality) give results equal to the scalar path (bit-exact
  for integer outputs, within 1e-5 rel / 1e-4 abs for floats).
"""

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Float3 = Union[float, Sequence[float], npt.ArrayLike]
_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]

# ----------------------------------------------------------------------------
# SIMD dispatch
# ----------------------------------------------------------------------------

def simd_level() -> str:
    """SIMD level used by the kernels: ``"avx512"``, ``"avx2"``, ``"neon"`` or ``"scalar"``.

    Chosen once at import from the CPU features and the compiled variants; the
    environment variable ``FACELENS_SIMD`` (read at first use) can force
    ``"scalar"`` or cap the level (e.g. ``"avx2"``).
    """

def compiled_levels() -> list[str]:
    """SIMD levels compiled into this build, lowest first (always starts with ``"scalar"``)."""

def supported_levels() -> list[str]:
    """Compiled levels that this CPU can run, lowest first."""

def cpu_features() -> dict[str, bool]:
    """CPU features relevant to dispatch: sse4_1, avx, avx2, fma, avx512f, avx512bw, avx512vl, avx512dq, neon."""

def set_simd_level(name: str) -> None:
    """Force a SIMD level for all threads (tests/benchmarks).

    ``"auto"`` restores the start-up choice (best supported level, capped by
    ``FACELENS_SIMD``). Raises ``ValueError`` for a level that is unknown, not
    compiled, or not supported by this CPU.
    """

# ----------------------------------------------------------------------------
# Detector input
# ----------------------------------------------------------------------------

def letterbox_nchw(
    image: npt.NDArray[np.uint8],
    out_w: int,
    out_h: int,
    mean: _Float3 = (0.0, 0.0, 0.0),
    scale: _Float3 = (1.0, 1.0, 1.0),
    swap_rb: bool = False,
) -> Tuple[_F32, float]:
    """Fused letterbox resize + normalisation + HWC->CHW.

    ``ratio = min(out_w / W, out_h / H)``; the image is resized to
    ``rw = clamp(round_half_away(W * ratio), 1, out_w)`` by
    ``rh = clamp(round_half_away(H * ratio), 1, out_h)`` and placed at the
    top-left of the output; the rest is 0.0.

    Interpolation (in float, no 8-bit rounding):

    * ``ratio >= 0.5``: bilinear, pixel-centre aligned, clamp-to-edge; same
      geometry as ``cv2.resize(img, (rw, rh), interpolation=cv2.INTER_LINEAR)``.
    * ``ratio < 0.5`` (downscale by more than 2x): area averaging, same as
      ``cv2.resize(img, (rw, rh), interpolation=cv2.INTER_AREA)``.

    Output: float32 ``[1, 3, out_h, out_w]`` with
    ``out[0, c, y, x] = (pixel[c'] - mean[c]) * scale[c]``, ``c' = 2 - c`` if
    ``swap_rb`` else ``c`` (``mean``/``scale`` in 0..255 pixel units, indexed
    by OUTPUT channel; a single number is broadcast).
    ``out_w``, ``out_h`` in [1, 65536].

    Returns ``(tensor, ratio)``; network-input px / ratio = image px.
    """

def decode_centerface(
    heatmap: npt.ArrayLike,
    scale: npt.ArrayLike,
    offset: npt.ArrayLike,
    landmarks: npt.ArrayLike,
    score_threshold: float,
    ratio: float,
    image_w: int,
    image_h: int,
) -> Tuple[_F32, _F32, _F32]:
    """Decode CenterFace outputs (stride 4) into detections in image pixels.

    Inputs (batch dim removed; a leading batch dim of 1 is also accepted):
    ``heatmap [1, h, w]`` or ``[h, w]``, ``scale [2, h, w]``, ``offset [2, h, w]``,
    ``landmarks [10, h, w]``, where h = input_h / 4, w = input_w / 4.

    For every cell (y, x) with ``heat > score_threshold`` (row-major order):
    ``s0 = exp(scale[0]) * 4``, ``s1 = exp(scale[1]) * 4``,
    ``x1 = max(0, (x + offset[1] + 0.5) * 4 - s1 / 2)``,
    ``y1 = max(0, (y + offset[0] + 0.5) * 4 - s0 / 2)``, ``x2 = x1 + s1``,
    ``y2 = y1 + s0``; landmark j: ``(landmarks[2j+1] * s1 + x1, landmarks[2j] * s0 + y1)``.
    All coordinates are then divided by ``ratio`` (network px -> image px);
    boxes are clipped to ``[0, image_w] x [0, image_h]`` (points are not).
    Cells whose decoded coordinates are not finite are dropped.

    Returns ``(boxes f32[N, 4] (x1, y1, x2, y2), scores f32[N], points f32[N, 5, 2])``.
    ``ratio`` must be finite and > 0; ``score_threshold`` must not be NaN.
    """

# ----------------------------------------------------------------------------
# Box post-processing
# ----------------------------------------------------------------------------

def nms(boxes: npt.ArrayLike, scores: npt.ArrayLike, iou_threshold: float) -> _I64:
    """Greedy non-maximum suppression.

    ``boxes [N, 4]`` (x1, y1, x2, y2), ``scores [N]``. Boxes are visited by
    score descending (ties: lower index first); a box is dropped when its IoU
    with an already kept box is ``> iou_threshold``.
    IoU = inter / (areaA + areaB - inter), area = max(0, x2-x1) * max(0, y2-y1);
    zero-area boxes never suppress others. Returns int64 ``[K]`` indices of the
    kept boxes, by score descending. NaN in boxes/scores/threshold -> ValueError.
    """

def select_largest(boxes: npt.ArrayLike, k: int) -> _I64:
    """Indices (int64 ``[min(N, k)]``) of the k largest boxes by area
    ``max(0, x2-x1) * max(0, y2-y1)``, largest first, ties by lower index.
    ``k >= 0``; NaN boxes -> ValueError."""

# ----------------------------------------------------------------------------
# Geometry
# ----------------------------------------------------------------------------

def warp_affine(
    image: npt.NDArray[np.uint8],
    M: npt.ArrayLike,
    out_w: int,
    out_h: int,
    mean: _Float3 = (0.0, 0.0, 0.0),
    scale: _Float3 = (1.0, 1.0, 1.0),
) -> _F32:
    """Affine warp with bilinear sampling, zero outside, normalised.

    ``M`` is a finite float ``[2, 3]`` mapping OUTPUT pixel indices to INPUT
    pixel indices (cv2 convention, pixel centres at integers): output pixel
    (x, y) samples the input at ``(u, v) = M @ [x, y, 1]``, i.e. the same as
    ``cv2.warpAffine(img, M, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
    borderMode=cv2.BORDER_CONSTANT, borderValue=0)`` but with float weights and
    no 8-bit rounding. Output float32 ``[out_h, out_w, 3]`` with
    ``out[y, x, c] = (value_c - mean[c]) * scale[c]`` (channel order of the input).
    """

def transform_points(points: npt.ArrayLike, M: npt.ArrayLike) -> _F32:
    """Apply a ``[2, 3]`` affine matrix to ``points [N, 2]`` or ``[N, 3]``.

    ``(x, y) -> M @ [x, y, 1]``; for 3 columns ``z -> z * sqrt(|det(M[:, :2])|)``
    (isotropic scale, keeps z in the same units as x, y). Returns float32, same shape.
    NaN points propagate; M must be finite.
    """

# ----------------------------------------------------------------------------
# Quality and pose
# ----------------------------------------------------------------------------

def face_quality(
    image: npt.NDArray[np.uint8],
    box: Sequence[float],
    size: int = 64,
) -> Tuple[float, float]:
    """Brightness and sharpness of a face crop: ``(mean_luma, laplacian_variance)``.

    ``box`` = (x1, y1, x2, y2) in image pixels, clipped to the image, then
    expanded to whole pixels ``[floor(x1), ceil(x2)) x [floor(y1), ceil(y2))``.
    The crop is resized to ``size x size`` (per axis: area averaging when
    shrinking, bilinear when enlarging — cv2 INTER_AREA / INTER_LINEAR
    geometry, float result); luma = 0.299 R + 0.587 G + 0.114 B.
    ``mean_luma`` is in [0, 255]; ``laplacian_variance`` is the population
    variance of the 4-neighbour Laplacian ``[[0,1,0],[1,-4,1],[0,1,0]]`` over the
    ``(size-2)^2`` interior pixels (luma units squared).
    Raises ``ValueError`` if the clipped box is empty or NaN, or size not in [3, 4096].
    """

def head_pose(
    points: npt.ArrayLike,
    reference: npt.ArrayLike,
    weights: Optional[npt.ArrayLike] = None,
) -> Tuple[_F32, float, _F32]:
    """Weighted similarity (Umeyama) alignment of ``reference`` onto ``points``.

    Finds s >= 0, a proper rotation R (det = +1, never a reflection) and t
    minimising ``sum_i w_i ||points_i - (s R reference_i + t)||^2``, using Horn's
    quaternion method (double precision). ``points``, ``reference``: ``[N, 3]``,
    N >= 3; ``weights``: ``[N]`` >= 0, not all zero (default: ones).
    Returns ``(R f32[3, 3], s, t f32[3])``; t in the units of ``points``.
    Raises ``ValueError`` on non-finite input or identical reference points.
    """

def rotation_to_euler(R: npt.ArrayLike) -> Tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in DEGREES with ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``
    (right-handed elementary rotations). pitch in [-90, 90], yaw and roll in
    (-180, 180]. At gimbal lock (|pitch| = 90) roll is 0 and yaw carries the
    remaining rotation. ``R``: finite ``[3, 3]``.
    """


def eye_direction(
    points: npt.ArrayLike,
    R: npt.ArrayLike,
    scale: float,
    t: npt.ArrayLike,
    eyeballs: npt.ArrayLike,
    radius: float = 1.2,
    presence: float = 1.0,
    prior_yaw: float = 0.0,
    prior_pitch: float = 0.0,
    prior_weight: float = 0.0,
    geo_pitch_offset: float = 0.0,
) -> Tuple[float, float, float, float, float, float]:
    """Gaze from FaceMesh landmarks on a model eyeball placed by the head pose.

    ``points``: ``[N >= 478, 3]`` image px (z in px, away from the camera); ``R``, ``scale``, ``t``: the head
    pose from :func:`head_pose` (points ~ scale * R @ reference + t); ``eyeballs``: ``[2, 3]`` eyeball centres
    of the image-left and image-right eye in the reference (head) frame; ``radius``: iris distance from the
    eyeball centre, head-frame units; ``presence``: face probability 0..1 (scales the confidence);
    ``prior_*``: a second eye-in-head estimate (degrees) blended with weight ``prior_weight``;
    ``geo_pitch_offset``: degrees subtracted from the geometric eye-in-head pitch.

    Returns ``(yaw, pitch, confidence, eye_in_head_yaw, eye_in_head_pitch, openness)``: camera-frame angles in
    DEGREES (yaw > 0 toward image-left, pitch > 0 up, (0, 0) into the camera), confidence 0..100, the
    geometric eye-in-head angles before offset and blending, and eyelid openness 0..1. ValueError on fewer
    than 478 points, non-finite input, scale <= 0 or radius <= 0.
    """

# ----------------------------------------------------------------------------
# Vector search (face collections)
# ----------------------------------------------------------------------------

def search_topk(
    matrix: npt.ArrayLike,
    query: npt.ArrayLike,
    k: int,
    metric: str = "l2",
    bound: Optional[float] = None,
) -> Tuple[_I64, _F32]:
    """Exhaustive top-k search of one query against the rows of a ``[N, D]`` matrix.

    ``matrix`` should be C-contiguous ``float32`` (anything else is converted, i.e. copied, per call);
    ``query``: ``[D]``, finite. ``metric="l2"``: score = Euclidean distance, smallest first, rows with a
    distance above ``bound`` left out (compared as squared distances); ``metric="dot"``: score = dot product,
    largest first, rows below ``bound`` left out. Rows scoring NaN are left out. Ties go to the lower row
    index. Returns ``(indices int64 [m], scores float32 [m])`` with ``m = min(k, rows kept)``.
    SIMD levels agree to float rounding (their summation order differs). ValueError on bad shapes,
    ``k < 0``, an unknown metric, a NaN bound or a non-finite query.
    """

# ----------------------------------------------------------------------------
# Video person tracking (GetPersonTracking's Person.Index)
# ----------------------------------------------------------------------------

def linear_assignment(cost: npt.ArrayLike) -> _I64:
    """Minimum-cost rectangular assignment of a finite ``[rows, cols]`` cost matrix (float64).

    Returns int64 ``[rows]``: the column assigned to each row, ``-1`` for unassigned rows (when
    rows > cols). Shortest augmenting path Hungarian, O(min^2 * max); ties go to the lower column
    index found first. ValueError on a non-2-D or non-finite matrix.
    """

class Tracker:
    """Multi-object tracker giving each person a stable index across sampled video frames.

    SORT-style: a constant-velocity Kalman filter per track on (centre x, centre y, log w, log h)
    with velocities per SECOND, predicted with the real time step ``dt_s`` between the sampled
    frames (any rate, irregular allowed); noise relative to the box height. Each update:

    1. tracks are predicted; tracks not matched for more than ``max_age_s`` seconds are deleted;
    2. detections with ``x2 <= x1`` or ``y2 <= y1`` are ignored (index -1, NaN filtered box);
    3. optimal assignment (Hungarian per connected component) maximising the summed IoU of the
       predicted track boxes with the detections, pairs with IoU < ``iou_threshold`` excluded;
    4. second chance for the leftovers (fast movers): centre distance / predicted height below
       ``center_threshold`` and heights within a factor 1.5, minimised the same way
       (``center_threshold=0`` disables it);
    5. matched tracks are corrected; a tentative track that misses a frame is deleted; every
       unmatched detection with ``score >= new_track_score`` starts a tentative track;
    6. a track is confirmed when it has ``min_hits`` associated frames (its first included), or at
       once when born in the first ``min_hits - 1`` updates after construction / :meth:`reset`.
       Confirmed tracks get indexes 0, 1, 2, ... in order of confirmation (ties: detection order);
       tentative tracks never consume one and an index is never reused.

    Box coordinates are any consistent unit (pixels or ratios). Calls are serialised by an
    internal lock; ``update`` releases the GIL.
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_age_s: float = 1.0,
        min_hits: int = 2,
        center_threshold: float = 0.6,
        new_track_score: float = 0.0,
    ) -> None:
        """ValueError unless 0 <= iou_threshold <= 1, max_age_s finite >= 0, min_hits >= 1,
        center_threshold finite >= 0 and new_track_score not NaN."""

    def update(self, boxes: npt.ArrayLike, scores: npt.ArrayLike, dt_s: float) -> _I64:
        """Advances by ``dt_s`` seconds and associates one frame's detections.

        ``boxes``: ``[N, 4]`` (x1, y1, x2, y2), ``scores``: ``[N]`` (both converted to float32,
        finite); ``dt_s``: seconds since the previous update (finite, >= 0; ignored on the first).
        Returns int64 ``[N]``: the index of each detection's track, -1 while that track is not
        confirmed (or the detection was ignored). ValueError on bad shapes, non-finite values or
        a bad ``dt_s`` (the tracker state is then unchanged).
        """

    def filtered_boxes(self) -> _F32:
        """float32 ``[N, 4]``: the Kalman-corrected box of each detection's track from the last
        :meth:`update` (NaN rows for detections without a track); ``[0, 4]`` before any update."""

    def live_tracks(self) -> Tuple[_I64, _F32, npt.NDArray[np.float64]]:
        """The tracks alive now, in creation order: ``(index int64 [T] (-1 = tentative),
        boxes float32 [T, 4] (current estimate, predicted for tracks not matched in the last
        update), seconds since each was last matched float64 [T])``."""

    def reset(self) -> None:
        """Forgets all tracks and restarts the indexes at 0 and the frame/time counters."""

    @property
    def tracks_confirmed(self) -> int:
        """Number of indexes issued so far (= the next index)."""

    @property
    def frame_count(self) -> int:
        """Updates since construction / reset."""

    @property
    def time_s(self) -> float:
        """Sum of the ``dt_s`` given since construction / reset."""

    @property
    def iou_threshold(self) -> float: ...
    @property
    def max_age_s(self) -> float: ...
    @property
    def min_hits(self) -> int: ...
    @property
    def center_threshold(self) -> float: ...
    @property
    def new_track_score(self) -> float: ...
