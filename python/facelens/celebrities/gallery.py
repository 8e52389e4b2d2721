"""``client.celebrities``: the user's celebrity gallery, and matching faces against it.

The gallery methods are facelens's own (Rekognition has no API to add celebrities); they raise the same error
classes as the operations: ``InvalidParameterException`` for a bad value (empty name, unknown gender, a
reference photo without a face, a malformed Id), ``InvalidImageFormatException`` / ``ImageTooLargeException``
for a photo DetectFaces would refuse, ``ResourceNotFoundException`` for an unknown Id, and
``ParamValidationError`` for an argument of the wrong type.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import images
from ..collections.similarity import similarity
from ..errors import InvalidParameterException, ParamValidationError
from ..storage.celebrities import Celebrity, CelebrityStore, Reference, image_digest
from . import KNOWN_GENDERS, MAX_NAME_LENGTH, MAX_URL_LENGTH, MAX_URLS, RECOGNITION_THRESHOLD

if TYPE_CHECKING:
    from ..pipeline import FaceAnalysis

ID_PATTERN = r"[0-9A-Za-z]+"

ImageInput = Union[bytes, bytearray, memoryview, Dict[str, Any]]


def check_id(celebrity_id: Any) -> str:
    if not isinstance(celebrity_id, str):
        raise ParamValidationError(
            f"Invalid type for parameter Id, value: {celebrity_id!r:.60}, type: {type(celebrity_id).__name__}, "
            "valid types: str")
    if not re.fullmatch(ID_PATTERN, celebrity_id):
        raise InvalidParameterException(f"Id {celebrity_id!r:.80} does not match the pattern {ID_PATTERN}.")
    return celebrity_id


def check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ParamValidationError(f"Invalid type for parameter name, type: {type(name).__name__}, valid types: str")
    name = name.strip()
    if not name:
        raise InvalidParameterException("A celebrity's name must not be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterException(f"A celebrity's name must have length <= {MAX_NAME_LENGTH}; got {len(name)}.")
    return name


def check_urls(urls: Any) -> List[str]:
    if urls is None:
        return []
    if isinstance(urls, (str, bytes)) or not isinstance(urls, (list, tuple)):
        raise ParamValidationError(f"Invalid type for parameter urls, type: {type(urls).__name__}, valid types: list")
    if len(urls) > MAX_URLS:
        raise InvalidParameterException(f"Urls must have length <= {MAX_URLS}; got {len(urls)}.")
    out = []
    for url in urls:
        if not isinstance(url, str):
            raise ParamValidationError(f"Invalid type for an item of urls, type: {type(url).__name__}, valid types: str")
        if not url.strip() or len(url) > MAX_URL_LENGTH:
            raise InvalidParameterException(f"Each url must hold 1 to {MAX_URL_LENGTH} characters; got {url!r:.80}.")
        out.append(url.strip())
    return out


def check_gender(known_gender: Any) -> Optional[str]:
    """None, or one of KnownGender's Types (any letter case is accepted and normalised)."""
    if known_gender is None:
        return None
    if not isinstance(known_gender, str):
        raise ParamValidationError(
            f"Invalid type for parameter known_gender, type: {type(known_gender).__name__}, valid types: str")
    for value in KNOWN_GENDERS:
        if known_gender.strip().lower() == value.lower():
            return value
    raise InvalidParameterException(f"KnownGender {known_gender!r:.80} is not one of {', '.join(KNOWN_GENDERS)}.")


def _image_list(image: Optional[ImageInput], images_: Optional[Sequence[ImageInput]]) -> List[ImageInput]:
    out: List[ImageInput] = []
    if image is not None:
        out.append(image)
    if images_ is not None:
        if isinstance(images_, (bytes, bytearray, memoryview, dict)) or not isinstance(images_, (list, tuple)):
            raise ParamValidationError(
                f"Invalid type for parameter images, type: {type(images_).__name__}, valid types: list")
        out.extend(images_)
    for item in out:
        if not isinstance(item, (bytes, bytearray, memoryview, dict)):
            raise ParamValidationError(
                f"Invalid type for a reference image, type: {type(item).__name__}, valid types: bytes, dict (Image)")
    if not out:
        raise InvalidParameterException("A celebrity needs at least one reference photo (image or images).")
    return out


class CelebrityGallery:
    """The gallery of one ``$FACELENS_HOME``. Thread-safe.

    Args:
        store: the SQLite store.
        engine: a callable returning the ``pipeline.Engine`` (called only when a photo must be analysed).
        image_bytes: a callable turning a request ``Image`` dict ({"Bytes"} or {"S3Object"}) into (bytes, size
            limit), as ``Runtime.image_bytes``; reference photos may be given as such dicts as well as bytes.
    """

    def __init__(self, store: CelebrityStore, engine: Callable[[], Any],
                 image_bytes: Optional[Callable[[Dict[str, Any]], Tuple[bytes, int]]] = None) -> None:
        self.store = store
        self._engine = engine
        self._image_bytes = image_bytes

    # -- the user's API -----------------------------------------------------------------------------------------
    def add(self, name: str, image: Optional[ImageInput] = None, images: Optional[Sequence[ImageInput]] = None,
            urls: Optional[Sequence[str]] = None, known_gender: Optional[str] = None) -> str:
        """Adds a celebrity with one or more reference photos (JPEG/PNG bytes, or Image dicts); returns its Id.

        Each photo contributes the descriptor of its largest face; a photo without a face is an
        InvalidParameterException and nothing is stored."""
        name = check_name(name)
        urls = check_urls(urls)
        gender = check_gender(known_gender)
        references = self._references(_image_list(image, images))
        return self.store.add(name, urls, gender, references).id

    def add_images(self, id: str, images: Sequence[ImageInput]) -> Dict[str, object]:  # noqa: A002 - API name
        """Adds reference photos to a celebrity (a photo it already has is not added twice); returns its record."""
        check_id(id)
        photos = _image_list(None, images)
        self.store.get(id)  # ResourceNotFoundException before any analysis
        return self.store.add_references(id, self._references(photos)).as_dict()

    def remove(self, id: str) -> None:  # noqa: A002
        """Removes a celebrity and its reference descriptors (ResourceNotFoundException if there is none)."""
        self.store.remove(check_id(id))

    def list(self) -> List[Dict[str, object]]:
        """Every celebrity in the order added: {Id, Name, Urls, KnownGender (if set), ReferenceImageCount}."""
        return [c.as_dict() for c in self.store.list()]

    def get(self, id: str) -> Dict[str, object]:  # noqa: A002
        """One celebrity's record (as ``list`` gives it); ResourceNotFoundException if there is none."""
        return self.store.get(check_id(id)).as_dict()

    def record(self, id: str) -> Celebrity:  # noqa: A002
        """The stored ``Celebrity`` (dataclass) of an Id; ResourceNotFoundException if there is none."""
        return self.store.get(check_id(id))

    # -- matching (RecognizeCelebrities, the video celebrity job) ------------------------------------------------
    def match(self, descriptors: np.ndarray,
              threshold: float = RECOGNITION_THRESHOLD) -> List[Tuple[Optional[Celebrity], float]]:
        """Per face descriptor ([n, 128] float32, from ``Engine.descriptors``): (the recognized ``Celebrity`` or
        None, MatchConfidence). MatchConfidence is the calibrated Similarity (0..100) of the best celebrity's
        nearest reference, given even when it is below ``threshold`` (then the celebrity is None); 0.0 for an
        empty gallery."""
        out: List[Tuple[Optional[Celebrity], float]] = []
        for celebrity, distance in self.store.nearest(descriptors):
            if celebrity is None:
                out.append((None, 0.0))
                continue
            confidence = float(similarity(distance))
            out.append((celebrity if confidence >= threshold else None, confidence))
        return out

    def recognize_faces(self, image: images.DecodedImage, faces: Sequence[Any],
                        threshold: float = RECOGNITION_THRESHOLD) -> List[Tuple[Optional[Celebrity], float]]:
        """``match`` for faces found by ``Engine.analyze`` on ``image``: their descriptors in one batch, then the
        gallery. One (Celebrity or None, MatchConfidence) per face, in the faces' order."""
        if not faces:
            return []
        return self.match(self._engine().descriptors(image, list(faces)), threshold)

    # -- reference photos → descriptors ------------------------------------------------------------------------
    def _references(self, photos: Sequence[ImageInput]) -> List[Reference]:
        engine = self._engine()
        out = []
        for n, photo in enumerate(photos, 1):
            if isinstance(photo, dict):
                if self._image_bytes is None:
                    raise ParamValidationError("Image dicts are not accepted here; give the photo's bytes.")
                data, limit = self._image_bytes(photo)
            else:
                data, limit = bytes(photo), images.MAX_BYTES
            decoded = images.decode(data, max_bytes=limit)
            faces = engine.analyze(decoded)
            if not faces:
                which = f" {n} of {len(photos)}" if len(photos) > 1 else ""
                raise InvalidParameterException(f"There are no faces in reference photo{which}: it needs one.")
            largest = max(faces, key=_area)  # as IndexFaces with MaxFaces=1: the largest face
            vector = engine.descriptors(decoded, [largest])[0]
            out.append(Reference(image_digest(data), np.asarray(vector, np.float32)))
        return out


def _area(face: FaceAnalysis) -> float:
    x1, y1, x2, y2 = (float(v) for v in face.box)
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)
