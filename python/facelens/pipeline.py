"""The analysis pipeline: image → faces → measurements, all in pixels and degrees.

detect (CenterFace) → 100 largest → landmarks (FaceMesh, one crop a run, several at once: engine/parallel.py) →
head pose (similarity fit of the mesh to MediaPipe's canonical face) → quality (luma and Laplacian of the face box)
→ eye direction (iris position on a model eyeball, rotated by the head pose). Nothing here knows Rekognition's dict
shapes (see response.py).

Conventions (camera frame: x to image-right, y to image-down, z away from the camera):
- Pose.Yaw > 0: the face turns toward image-left (the subject's right). Pose.Pitch > 0: the face tilts up.
  Pose.Roll > 0: the face rotates clockwise in the image. These are the AFLW2000-3D conventions.
- EyeDirection uses the same signs in the camera frame: Yaw > 0 looks toward image-left, Pitch > 0 looks up;
  (0, 0) looks straight into the camera.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

import numpy as np

from . import _core
from .engine.attributes import BLEND_KEYS, AttributeModels
from .engine.detector import DEFAULT_MAX_SIDE, FIRST_LOOK_SIDE, CenterFaceDetector, calibrated_confidence
from .engine.mesh import FaceMesh, mirror_permutation
from .engine.parallel import Occupancy, SlicedSession, SpinWhenAlone
from .images import DecodedImage
from .models import registry

if TYPE_CHECKING:
    from .engine.embedder import FaceEmbedder
    from .engine.person import PersonDetector

# Mesh indices of the eyes (image-left eye is the subject's right eye).
IRIS = (468, 473)
EYE_CORNERS = ((33, 133), (263, 362))  # (outer, inner) per eye
EYE_LIDS = ((159, 145), (386, 374))  # (upper, lower) per eye

# Anatomical constants of the eyeball model, in cm (the canonical face is metric): the centre of rotation lies
# about 6 mm behind the midpoint of the eye corners, and the iris centre sits 12 mm from it.
EYEBALL_DEPTH_CM = 0.6
EYEBALL_RADIUS_CM = 1.2

# Fitted by tools/calibrate_gaze.py (which prints these lines):
# - the slopes that put the eye-look blendshape signals into degrees of eye-in-head rotation: least squares
#   against the geometric estimate over the face clips of ../shared/data/videos (no labels involved);
# - the two offsets (where the iris rests when the eyes look straight ahead): zero median pitch error on the
#   faces labelled gaze=camera in annotated/attributes_by_eye_faces.tsv (group photos). The single-face
#   photos of attributes_by_eye.tsv, on which EyeDirection is scored, are not used.
# Yaw has no offset: a mirrored face must give the opposite yaw.
GAZE_BLEND_YAW_SLOPE = 34.13
GAZE_BLEND_PITCH = (52.80, 13.71)  # (degrees per unit of blend signal, offset)
GAZE_GEO_PITCH_OFFSET = 3.28
GAZE_BLEND_WEIGHT = 0.5  # share of the blendshape estimate in the eye-in-head angles

# Sharpness maps the Laplacian variance v of the face (resized to 64x64 luma) to 0-100 as 100 * (1 - exp(-v / K));
# K puts the median face of ordinary in-focus photos at 75 (tools/calibrate_sharpness.py names the split).
SHARPNESS_K = 616.8


@dataclass
class FaceAnalysis:
    box: np.ndarray  # [x1, y1, x2, y2] image px
    score: float  # CenterFace's raw heat-map score 0..1 (see confidence)
    points5: np.ndarray  # [5, 2] image px
    mesh: np.ndarray  # [478, 3] image px
    mesh_presence: float  # 0..1
    pose: Tuple[float, float, float]  # (yaw, pitch, roll) degrees, conventions above
    quality: Tuple[float, float]  # (brightness, sharpness) 0..100
    eye_direction: Optional[Tuple[float, ...]] = None  # (yaw, pitch, confidence 0..100)
    blendshapes: Optional[np.ndarray] = None  # [52] 0..1
    extras: dict = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        """Rekognition's Confidence: the probability (%) that the box holds a face (see engine/detector.py)."""
        return calibrated_confidence(self.score)
    attributes: dict = field(default_factory=dict)  # the attributes asked for (engine/attributes.py)




class Engine:
    """Holds the model sessions; ``analyze`` is thread-safe and may run in parallel threads."""

    _embedder: Optional[FaceEmbedder] = None  # engine.embedder.FaceEmbedder, loaded by descriptors() on first use
    def __init__(self, threads: Optional[int] = None, detector_max_side: int = DEFAULT_MAX_SIDE,
                 precision: Optional[str] = None, providers: Optional[Sequence[str]] = None,
                 first_look: bool = True) -> None:
        """``precision``: "int8" (default, or ``$FACELENS_PRECISION``), "fp32" or "int8-all"; ``providers``:
        onnxruntime execution providers (default ``$FACELENS_PROVIDERS`` or the CPU); see ``models.registry``.
        ``first_look``: every image gets the detector's first look (engine/detector.py FIRST_LOOK_SIDE) before
        the full scan, in every operation, so that a face gets the same box whichever operation finds it."""
        self.threads = threads
        self.precision = registry.resolve_precision(precision)
        self.providers = registry.resolve_providers(providers)
        runtime = (self.precision, self.providers)
        self.occupancy = Occupancy()
        self.detector = CenterFaceDetector(SpinWhenAlone("centerface.onnx", threads, *runtime, self.occupancy),
                                           max_side=detector_max_side,
                                           first_look_side=FIRST_LOOK_SIDE if first_look else 0)
        canon = registry.load_npz("canonical_face_mesh.npz")
        self.mesh = FaceMesh(
            SlicedSession("face_landmarks_detector.onnx", threads, *runtime, occupancy=self.occupancy),
            SlicedSession("face_blendshapes.onnx", threads, *runtime),
            registry.manifest()["blendshape_landmark_indices"],
            mirror_permutation(canon["vertices"]),
        )
        self.blendshape_names = registry.manifest()["blendshape_names"]
        # MediaPipe's canonical face is y-up, z-toward-viewer; turn it into the camera-like frame (a proper rotation).
        self.canonical = np.ascontiguousarray(canon["vertices"][:468] * np.array([1, -1, -1], np.float32), np.float32)
        eyeballs = []
        for outer, inner in EYE_CORNERS:
            mid = (self.canonical[outer] + self.canonical[inner]) / 2
            eyeballs.append(mid + np.array([0.0, 0.0, EYEBALL_DEPTH_CM], np.float32))
        self.eyeballs = np.ascontiguousarray(eyeballs, np.float32)
        # Per engine, so that tools/calibrate_gaze.py can refit them on a live engine.
        self.gaze_blend_yaw_slope = GAZE_BLEND_YAW_SLOPE
        self.gaze_blend_pitch = GAZE_BLEND_PITCH
        self.gaze_blend_weight = GAZE_BLEND_WEIGHT
        self.gaze_geo_pitch_offset = GAZE_GEO_PITCH_OFFSET
        self.attribute_models = AttributeModels(threads, self.blendshape_names, *runtime)
        # Requests analysed at once: each already spreads over the engine's threads, so more callers than cores
        # only make onnxruntime's pools fight; the others wait their turn here (8 callers in one process on 2 cores
        # lost a third of the images/s before, README "Throughput").
        self._admitted = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))

    def analyze(
        self, image: DecodedImage, want_eyes: bool = False, attributes: frozenset = frozenset(),
    ) -> List[FaceAnalysis]:
        """``attributes``: request attribute names (AGE_RANGE, SMILE, ...); only what they need is computed."""
        with self._admitted, self.occupancy:
            return self._analyze(image, want_eyes, attributes)

    def _analyze(self, image: DecodedImage, want_eyes: bool, attributes: frozenset) -> List[FaceAnalysis]:
        rgb = image.rgb
        det = self.detector.detect(rgb)
        if len(det) == 0:
            return []
        mesh = self.mesh.run(rgb, det.boxes, det.points, mirror_average=want_eyes, refine=det.refine_mask())
        blend = None
        if want_eyes:
            assert mesh.symmetric_crop_points is not None  # mirror_average=want_eyes
            blend = self.mesh.blendshape_scores(mesh.symmetric_crop_points)
        if blend is None and BLEND_KEYS & attributes:
            blend = self.mesh.blendshape_scores(mesh.crop_points)
        attrs = self.attribute_models.analyze(
            rgb, mesh.points if mesh.symmetric_points is None else mesh.symmetric_points, blend, mesh.presence,
            attributes,
        )
        faces = []
        for i in range(len(det)):
            pts = np.ascontiguousarray(mesh.points[i])
            rot, _scale, _trans = _core.head_pose(np.ascontiguousarray(pts[:468]), self.canonical, None)
            yaw, pitch, roll = _core.rotation_to_euler(rot)
            box = det.boxes[i]
            luma, lap = _core.face_quality(rgb, tuple(float(v) for v in box), 64)
            quality = (100.0 * luma / 255.0, 100.0 * (1.0 - float(np.exp(-lap / SHARPNESS_K))))
            eye = None
            extras = {}
            if want_eyes:
                # Gaze uses the mirror-averaged landmarks (and their own head pose), so that a mirrored photo gives
                # the opposite yaw; Landmarks and Pose stay those of the single pass, whatever was asked.
                assert mesh.symmetric_points is not None and blend is not None
                sym = np.ascontiguousarray(mesh.symmetric_points[i])
                srot, sscale, strans = _core.head_pose(np.ascontiguousarray(sym[:468]), self.canonical, None)
                by, bp = blendshape_gaze_signals(blend[i], self.blendshape_names)
                gy, gp, gc, eih_yaw, eih_pitch, openness = _core.eye_direction(
                    sym, srot, float(sscale), strans, self.eyeballs, EYEBALL_RADIUS_CM, float(mesh.presence[i]),
                    self.gaze_blend_yaw_slope * by, self.gaze_blend_pitch[0] * bp + self.gaze_blend_pitch[1],
                    self.gaze_blend_weight, self.gaze_geo_pitch_offset,
                )
                eye = (gy, gp, gc)
                extras = {"eye_in_head": (eih_yaw, eih_pitch), "eye_openness": openness}
            faces.append(
                FaceAnalysis(
                    box=box,
                    score=float(det.scores[i]),
                    points5=det.points[i],
                    mesh=pts,
                    mesh_presence=float(mesh.presence[i]),
                    pose=(float(yaw), -float(pitch), float(roll)),
                    quality=quality,
                    eye_direction=None if eye is None else tuple(float(v) for v in eye),
                    blendshapes=None if blend is None else blend[i],
                    extras=extras,
                    attributes=attrs[i],
                )
            )
        return faces


    # -- face descriptors (collections; opt-in, so DetectFaces never pays for them) ---------------------------
    def descriptors(self, image: DecodedImage, faces: List[FaceAnalysis]) -> np.ndarray:
        """[len(faces), 128] float32 dlib face descriptors of faces found by ``analyze`` on the same image,
        computed in one batch. The recognition network is loaded on first use."""
        embedder = self._embedder
        if embedder is None:
            with _EMBEDDER_LOCK:
                if self._embedder is None:
                    self._embedder = _load_embedder(self.threads, self.precision, self.providers)
                embedder = self._embedder
        return embedder.embed(image.rgb, [f.mesh for f in faces])

    # -- people (video person tracking and face search; loaded on first use) ---------------------------------
    @property
    def person_detector(self) -> PersonDetector:
        detector = getattr(self, "_person_detector", None)
        if detector is None:
            with _EMBEDDER_LOCK:
                detector = getattr(self, "_person_detector", None)
                if detector is None:
                    from .engine.person import PersonDetector

                    detector = self._person_detector = PersonDetector(
                        threads=self.threads, precision=self.precision, providers=self.providers)
        return detector


def blendshape_gaze_signals(scores: np.ndarray, names: Sequence[str]) -> Tuple[float, float]:
    """Unitless gaze signals from the eye-look blendshapes: (toward image-left, up), each about -1..1.

    Blendshape sides are the subject's (ARKit naming): the right eye looking "out" looks to the subject's
    right, which is image-left in an unmirrored photo.
    """
    b = dict(zip(names, (float(v) for v in scores)))
    left = ((b["eyeLookOutRight"] - b["eyeLookInRight"]) + (b["eyeLookInLeft"] - b["eyeLookOutLeft"])) / 2
    up = ((b["eyeLookUpLeft"] + b["eyeLookUpRight"]) - (b["eyeLookDownLeft"] + b["eyeLookDownRight"])) / 2
    return left, up


_EMBEDDER_LOCK = threading.Lock()


def _load_embedder(threads: Optional[int], precision: Optional[str] = None,
                   providers: Optional[Sequence[str]] = None) -> FaceEmbedder:
    from .engine.embedder import FaceEmbedder

    session = registry.session("dlib_face_recognition_resnet_v1.onnx", threads, precision, providers)
    return FaceEmbedder(session, registry.load_json("dlib_chip_template.json"))
