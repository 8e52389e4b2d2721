"""Face collections: the pieces of face matching that are not storage or service.

- ``index.py``: the contiguous descriptor matrix searched by the C++ core;
- ``similarity.py``: descriptor distance → Similarity (calibrated by tools/calibrate_similarity.py);
- ``quality.py``: IndexFaces' QualityFilter levels and Reasons.

The records live in ``storage/collections.py`` (either database backend), the operations in
``services/collections.py``.
"""

# facelens's face model: CenterFace boxes, FaceMesh alignment, dlib ResNet v1 descriptors. Reported as
# FaceModelVersion / IndexFacesModelVersion; a collection keeps the version it was created with.
FACE_MODEL_VERSION = "1.0"
