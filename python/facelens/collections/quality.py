"""IndexFaces' QualityFilter: which faces a level keeps, and the Reasons of those it leaves out.

Every level checks the same measures of a face, each against its own bar:

| measure (Reason when it fails)                            |   LOW | MEDIUM = AUTO |  HIGH |
|-----------------------------------------------------------|-------|---------------|-------|
| Confidence, % (LOW_CONFIDENCE)                             |  >= 90 |          >= 93 | >= 98 |
| shorter side of the BoundingBox, px (SMALL_BOUNDING_BOX)   |  >= 20 |          >= 40 | >= 64 |
| abs(Pose.Yaw), degrees (EXTREME_POSE)                      |  <= 75 |          <= 55 | <= 35 |
| abs(Pose.Pitch), degrees (EXTREME_POSE)                    |  <= 60 |          <= 45 | <= 30 |
| Quality.Brightness (LOW_BRIGHTNESS)                        |   >= 8 |          >= 15 | >= 25 |
| Quality.Sharpness (LOW_SHARPNESS)                          |   >= 2 |           >= 8 | >= 25 |
| FaceMesh's face probability, % (LOW_FACE_QUALITY)          |  >= 20 |          >= 50 | >= 80 |

NONE checks nothing. The bars were set from the measures of real faces in ../shared/data: the 155 faces of the
identity sets (single-person photos: Confidence >= 94, 1st percentile 98; shorter side >= 75 px; Brightness
>= 23; Sharpness >= 14, 5th percentile 23; |Yaw| <= 29; |Pitch| <= 24) all pass AUTO, so AUTO leaves out only
what is clearly unusable, while the small and blurred faces of the WIDER FACE and dlib group photos (median
side 35 px, median Sharpness 19) fail HIGH. A Gaussian blur of sigma 8 px brings a 400 px face to Sharpness 4,
and scaling its pixels by 0.15 brings Brightness to 8: both fail AUTO.

When more faces pass than MaxFaces, the lower quality ones go first (quality = the highest level a face
passes), then the smaller ones; those get EXCEEDS_MAX_FACES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, List, Sequence, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import FaceAnalysis

LEVELS = ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")


@dataclass(frozen=True)
class QualityBar:
    confidence: float  # min Confidence, %
    side: float  # min shorter side of the box, px
    yaw: float  # max |yaw|, degrees
    pitch: float  # max |pitch|, degrees
    brightness: float  # min Quality.Brightness
    sharpness: float  # min Quality.Sharpness
    presence: float  # min FaceMesh face probability, %


BARS = {
    "LOW": QualityBar(confidence=90, side=20, yaw=75, pitch=60, brightness=8, sharpness=2, presence=20),
    "MEDIUM": QualityBar(confidence=93, side=40, yaw=55, pitch=45, brightness=15, sharpness=8, presence=50),
    "HIGH": QualityBar(confidence=98, side=64, yaw=35, pitch=30, brightness=25, sharpness=25, presence=80),
}
BARS["AUTO"] = BARS["MEDIUM"]

# Reasons in the order they are listed.
REASONS = (
    "EXCEEDS_MAX_FACES", "EXTREME_POSE", "LOW_BRIGHTNESS", "LOW_SHARPNESS", "LOW_CONFIDENCE", "SMALL_BOUNDING_BOX",
    "LOW_FACE_QUALITY",
)


def reasons(face: FaceAnalysis, level: str, scale: float = 1.0) -> List[str]:
    """Why ``face`` fails QualityFilter ``level`` (empty when it passes; always empty for NONE). ``scale``: pixels
    of the analysed image per pixel of the original (``DecodedImage.scale``), so sizes are judged in the
    original's pixels."""
    bar = BARS.get(level)
    if bar is None:
        return []
    yaw, pitch, _ = face.pose
    brightness, sharpness = face.quality
    x1, y1, x2, y2 = (float(v) for v in face.box)
    out = []
    if abs(yaw) > bar.yaw or abs(pitch) > bar.pitch:
        out.append("EXTREME_POSE")
    if brightness < bar.brightness:
        out.append("LOW_BRIGHTNESS")
    if sharpness < bar.sharpness:
        out.append("LOW_SHARPNESS")
    if face.confidence < bar.confidence:
        out.append("LOW_CONFIDENCE")
    if min(x2 - x1, y2 - y1) / scale < bar.side:
        out.append("SMALL_BOUNDING_BOX")
    if 100.0 * face.mesh_presence < bar.presence:
        out.append("LOW_FACE_QUALITY")
    return out


def tier(face: FaceAnalysis, scale: float = 1.0) -> int:
    """The face's quality rank: 3 if it passes HIGH, 2 MEDIUM, 1 LOW, 0 none."""
    for rank, level in ((3, "HIGH"), (2, "MEDIUM"), (1, "LOW")):
        if not reasons(face, level, scale):
            return rank
    return 0


def _area(face: FaceAnalysis) -> float:
    x1, y1, x2, y2 = (float(v) for v in face.box)
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def select(faces: Sequence[FaceAnalysis], level: str, max_faces: int,
           scale: float = 1.0) -> Tuple[List[int], List[Tuple[int, List[str]]]]:
    """Splits faces into (indices to index, largest first) and [(index, Reasons)] of those left out, in the
    faces' own order."""
    left_out = {}
    passing = []
    for i, face in enumerate(faces):
        why = reasons(face, level, scale)
        if why:
            left_out[i] = why
        else:
            passing.append(i)
    if len(passing) > max_faces:
        ranked = sorted(passing, key=lambda i: (-tier(faces[i], scale), -_area(faces[i]), i))
        for i in ranked[max_faces:]:
            left_out[i] = ["EXCEEDS_MAX_FACES"]
        passing = ranked[:max_faces]
    kept = sorted(passing, key=lambda i: (-_area(faces[i]), i))
    return kept, sorted(left_out.items())
