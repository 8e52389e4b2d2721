"""Face collections: a SQLite store under $FACELENS_HOME with an in-memory vector index per collection.

- ``store.py``: the database (durability, concurrency) and the per-collection in-memory indexes;
- ``index.py``: the contiguous descriptor matrix searched by the C++ core;
- ``similarity.py``: descriptor distance → Similarity (calibrated by tools/calibrate_similarity.py);
- ``quality.py``: IndexFaces' QualityFilter levels and Reasons;
- ``tokens.py``: signed pagination tokens.
"""

# facelens's face model: CenterFace boxes, FaceMesh alignment, dlib ResNet v1 descriptors. Reported as
# FaceModelVersion / IndexFacesModelVersion; a collection keeps the version it was created with.
FACE_MODEL_VERSION = "1.0"
