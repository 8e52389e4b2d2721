"""The celebrity gallery: the people RecognizeCelebrities (and the video celebrity job) can name.

facelens ships no database of famous people; the user fills the gallery (``client.celebrities.add``, or
``facelens celebrities add``). Each celebrity has a Rekognition-style Id (8 random characters of ``[0-9A-Za-z]``),
a Name, Urls, an optional KnownGender and one 128-d dlib descriptor per reference photo (the largest face of the
photo, computed exactly as IndexFaces computes a collection's descriptors).

- ``storage/celebrities.py``: the gallery in the database (either backend; safe across threads, processes and
  hosts) and the in-memory reference matrix used for matching;
- ``gallery.py``: ``CelebrityGallery`` (``client.celebrities``): input checks, reference photos → descriptors,
  and ``match`` / ``recognize_faces`` for RecognizeCelebrities and the video job.

Matching: a face's best celebrity is the one with the nearest reference descriptor (minimum L2 distance over
each celebrity's references); MatchConfidence is the calibrated Similarity of that distance
(``collections/similarity.py``). The face is recognized when MatchConfidence >= ``RECOGNITION_THRESHOLD``.

RECOGNITION_THRESHOLD = 80, the default FaceMatchThreshold, because that is where the Similarity calibration puts
its operating point: ``tools/calibrate_similarity.py`` places Similarity 80 (distance 0.592) half-way between
the fit split's 99th percentile of same-person distances (0.494) and 1st percentile of different-person
distances (0.690). Measured on the identity photos of ../shared/data (README, "Face descriptors and
Similarity"): the same person is found at >= 80 in 99.2 % of 126 searches (eval split: 98.0 %) and a different
person scores >= 80 in 0.06 % of 3528 pairs (2 of 126 searches against 29 people return one wrong person);
different people have a median Similarity of 8.5 and a 99th percentile of 60. Recognition takes only the top
match per face, so its false-recognition rate per unknown face is at most the chance that any of the gallery's
people reaches 80, which those numbers keep near 1-2 % for a gallery of ~30 people. Nothing in the calibration
data argues for another value, so facelens uses the same one (a larger gallery raises the chance of a false
top match; ``match(..., threshold=)`` lets a caller be stricter).
"""

RECOGNITION_THRESHOLD = 80.0  # MatchConfidence at which a face counts as recognized (see above)
MAX_FACES = 64  # RecognizeCelebrities: the 64 largest faces of the image
MAX_URLS = 255  # Urls: 0..255 items (the model's limit)
MAX_NAME_LENGTH = 1024
MAX_URL_LENGTH = 4096
KNOWN_GENDERS = ("Male", "Female", "Nonbinary", "Unlisted")

from ..storage.celebrities import Celebrity, CelebrityStore  # noqa: E402
from .gallery import CelebrityGallery  # noqa: E402

__all__ = ["KNOWN_GENDERS", "MAX_FACES", "RECOGNITION_THRESHOLD", "Celebrity", "CelebrityGallery", "CelebrityStore"]
