"""Image bytes → upright RGB pixels, with Rekognition's format and size rules.

Only JPEG and PNG are accepted (checked by magic bytes, not by file name). Dimensions are read from the
header before any pixel is decoded, so a file that claims gigapixels is refused without allocating them.
JPEG EXIF orientation is applied, so boxes refer to the image as a person sees it.
"""

from __future__ import annotations

import contextlib
import struct
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Tuple

import cv2
import numpy as np

from .errors import ImageTooLargeException, InvalidImageFormatException, InvalidParameterException

MAX_BYTES = 5 * 1024 * 1024  # Image.Bytes limit
MAX_S3_BYTES = 15 * 1024 * 1024  # S3Object limit
MIN_SIDE = 80  # Rekognition's minimum image size
MAX_PIXELS = 80_000_000  # header guard for JPEG (decoded at 1/2..1/8 scale by libjpeg when large)
MAX_PNG_PIXELS = 40_000_000  # PNG has no reduced decode: every pixel is allocated (3 bytes each)
# A progressive (or multi-scan) JPEG is decoded by libjpeg into a buffer of all its DCT coefficients, at any output
# scale: 2 bytes per coefficient, i.e. 6 bytes a pixel for 4:4:4, 3 for 4:2:0. This bounds that buffer (about
# 21 MP progressive 4:4:4, 42 MP 4:2:0); baseline single-scan JPEGs decode in strips and go up to MAX_PIXELS.
MAX_JPEG_COEFFICIENT_BYTES = 128 * 1024 * 1024
# After a decode that held more than this, free heap pages are handed back to the system (glibc keeps them).
TRIM_AFTER_BYTES = 32 * 1024 * 1024
# Decodes running at once hold at most this much (estimated from the headers); more wait their turn.
DECODE_MEMORY_BUDGET = 320 * 1024 * 1024
# libjpeg goes over the whole coefficient buffer once per scan of a progressive file: a small file of thousands of
# scans is a CPU bomb. Encoders write about 10 (libjpeg's default script); this leaves plenty of room.
MAX_JPEG_SCANS = 100
# Decoded images are reduced (JPEG DCT scaling, or a resize) to at most this many pixels: detection runs at
# <= 640 px anyway and this bounds memory for huge photos.
WORK_PIXELS = 12_000_000

try:  # OpenCV would print decoder warnings to stderr; we raise our own errors instead
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
except AttributeError:  # pragma: no cover - older OpenCV
    pass


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # uint8 [H, W, 3], upright (EXIF applied)
    width: int  # of the upright image as stored, before any reduction (what ratios refer to)
    height: int
    format: str  # "jpeg" | "png"

    @property
    def scale(self) -> float:
        """Pixels of ``rgb`` per pixel of the original upright image (1.0 unless it was reduced)."""
        return self.rgb.shape[1] / self.width


def sniff_format(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    kind = _describe(data)
    raise InvalidImageFormatException(f"Request has unsupported image format{kind}: only JPEG and PNG are accepted.")


def _describe(data: bytes) -> str:
    known = {
        b"GIF8": "GIF", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"8BPS": "PSD",
        b"P1": "PBM", b"P4": "PBM", b"P5": "PGM", b"P6": "PPM",
    }
    for magic, name in known.items():
        if data.startswith(magic):
            return f" ({name})"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return " (WebP)"
    if data[4:8] == b"ftyp":
        return " (HEIF/AVIF)"
    return ""


def _png_size(data: bytes) -> Tuple[int, int]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise InvalidImageFormatException("Request has invalid image format: the PNG has no IHDR header.")
    w, h = struct.unpack(">II", data[16:24])
    if b"IEND" not in data[-64:] and b"IEND" not in data:
        raise InvalidImageFormatException("Request has invalid image format: the PNG is truncated (no IEND chunk).")
    return w, h


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE_SOF = {0xC2, 0xC6, 0xCA, 0xCE}


@dataclass(frozen=True)
class JpegHeader:
    width: int
    height: int
    orientation: int  # EXIF, 1 if none
    sampling: Tuple[Tuple[int, int], ...]  # (horizontal, vertical) sampling factor of each component
    progressive: bool
    first_scan_components: int  # components in the first scan: fewer than the frame's = several scans

    @property
    def multi_scan(self) -> bool:
        return self.progressive or self.first_scan_components < len(self.sampling)

    def coefficient_bytes(self) -> int:
        """What libjpeg allocates to hold every DCT coefficient of the image, which it does for a progressive or
        multi-scan file whatever the output scale: 64 two-byte coefficients per 8x8 block of each component, the
        blocks rounded up to whole MCUs."""
        if not self.sampling:
            return 0
        hmax = max(1, max(h for h, _ in self.sampling))
        vmax = max(1, max(v for _, v in self.sampling))
        mcus_x = -(-self.width // (8 * hmax))
        mcus_y = -(-self.height // (8 * vmax))
        return sum(mcus_x * h * mcus_y * v for h, v in self.sampling) * 128


def _jpeg_header(data: bytes) -> JpegHeader:
    """Walks the JPEG markers up to the first scan: frame size and sampling, scan layout, EXIF orientation."""
    n = len(data)
    i = 2
    size = None
    orientation = 1
    sampling: Tuple[Tuple[int, int], ...] = ()
    progressive = False
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise InvalidImageFormatException("Request has invalid image format: corrupt JPEG marker structure.")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2 or i + 2 + length > n:
            raise InvalidImageFormatException("Request has invalid image format: the JPEG is truncated.")
        seg = data[i + 4 : i + 2 + length]
        if marker in _SOF_MARKERS and len(seg) >= 6:
            h, w = struct.unpack(">HH", seg[1:5])
            size = (w, h)
            count = seg[5]
            sampling = tuple((b >> 4, b & 15) for b in seg[7 : 6 + 3 * count : 3])
            progressive = marker in _PROGRESSIVE_SOF
        elif marker == 0xE1 and seg[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(seg[6:])
        elif marker == 0xDA:  # start of scan: entropy-coded data follows
            if size is None or not seg:
                break
            # Byte stuffing guarantees 0xFFD9 cannot occur inside scan data: no EOI after the scan = truncated.
            if data.rfind(b"\xff\xd9", i) < 0:
                raise InvalidImageFormatException("Request has invalid image format: the JPEG is truncated.")
            return JpegHeader(size[0], size[1], orientation, sampling, progressive, seg[0])
        i += 2 + length
    raise InvalidImageFormatException("Request has invalid image format: the JPEG has no frame header or scan.")


def _exif_orientation(tiff: bytes) -> int:
    try:
        endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack(endian + "I", tiff[4:8])
        (count,) = struct.unpack(endian + "H", tiff[ifd : ifd + 2])
        for k in range(count):
            off = ifd + 2 + 12 * k
            tag, _typ = struct.unpack(endian + "HH", tiff[off : off + 4])
            if tag == 0x0112:
                (value,) = struct.unpack(endian + "H", tiff[off + 8 : off + 10])
                return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error, IndexError):
        pass  # a corrupt EXIF block is ignored, as cameras and browsers do
    return 1


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    if orientation == 2:
        return cv2.flip(img, 1)
    if orientation == 3:
        return cv2.rotate(img, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(img, 0)
    if orientation == 5:
        return cv2.transpose(img)
    if orientation == 6:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(img), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def decode(data: bytes, max_bytes: int = MAX_BYTES) -> DecodedImage:
    """Decodes JPEG/PNG bytes into an upright RGB image, raising Rekognition's errors for bad input."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidParameterException("Image.Bytes must be bytes.")
    data = bytes(data)
    if len(data) == 0:
        raise InvalidParameterException("Image.Bytes is empty: it must hold at least 1 byte.")
    if len(data) > max_bytes:
        raise ImageTooLargeException(f"Image size {len(data)} bytes exceeds the maximum of {max_bytes} bytes.")
    fmt = sniff_format(data)
    header = None
    if fmt == "jpeg":
        header = _jpeg_header(data)
        w, h, orientation = header.width, header.height, header.orientation
    else:
        w, h = _png_size(data)
        orientation = 1
    if w == 0 or h == 0:
        raise InvalidImageFormatException("Request has invalid image format: the header declares a zero size.")
    limit = MAX_PIXELS if fmt == "jpeg" else MAX_PNG_PIXELS
    if w * h > limit:
        raise ImageTooLargeException(
            f"Image dimensions {w}x{h} ({w * h / 1e6:.0f} MP) exceed the maximum of {limit / 1e6:.0f} MP for {fmt.upper()}."
        )
    if header is not None:
        if not header.sampling or any(not (1 <= hs <= 4 and 1 <= vs <= 4) for hs, vs in header.sampling):
            raise InvalidImageFormatException("Request has invalid image format: the JPEG's sampling factors are invalid.")
        scans = data.count(b"\xff\xda")  # exact: byte stuffing keeps 0xFFDA out of entropy-coded data
        if scans > MAX_JPEG_SCANS:
            raise InvalidImageFormatException(
                f"Request has invalid image format: the JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are decoded."
            )
        if header.multi_scan and header.coefficient_bytes() > MAX_JPEG_COEFFICIENT_BYTES:
            kind = "progressive" if header.progressive else "multi-scan"
            raise ImageTooLargeException(
                f"A {kind} JPEG of {w}x{h} ({w * h / 1e6:.0f} MP) needs {header.coefficient_bytes() >> 20} MB to "
                f"decode; the maximum is {MAX_JPEG_COEFFICIENT_BYTES >> 20} MB (about "
                f"{MAX_JPEG_COEFFICIENT_BYTES / 6e6:.0f} MP for 4:4:4 colour, {MAX_JPEG_COEFFICIENT_BYTES / 3e6:.0f} MP "
                f"for 4:2:0). Save it as a baseline JPEG (up to {MAX_PIXELS / 1e6:.0f} MP) or make it smaller."
            )
    held = header.coefficient_bytes() if header is not None and header.multi_scan else 0
    estimate = held + 3 * _decoded_pixels(fmt, w, h) * 3  # decoded pixels, then the rotated/resized/RGB copies
    with _DECODE_BUDGET.reserve(estimate):
        try:
            return _decode_pixels(data, fmt, w, h, orientation)
        finally:
            if estimate > TRIM_AFTER_BYTES:
                _trim_heap()
                _state.large = True


def _decoded_pixels(fmt: str, w: int, h: int) -> int:
    if fmt != "jpeg":
        return w * h
    reduce = 1
    while (w // reduce) * (h // reduce) > WORK_PIXELS and reduce < 8:
        reduce *= 2
    return -(-w // reduce) * -(-h // reduce)


class _MemoryBudget:
    """Bytes that decodes running at the same time may hold: a decode waits until its estimate fits (one larger
    than the whole budget runs alone), so concurrent requests with huge images run their decodes one or two at a
    time instead of all at once."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        nbytes = min(max(0, nbytes), self.capacity)
        with self._cond:
            while self.used + nbytes > self.capacity:
                self._cond.wait()
            self.used += nbytes
        try:
            yield
        finally:
            with self._cond:
                self.used -= nbytes
                self._cond.notify_all()


_DECODE_BUDGET = _MemoryBudget(DECODE_MEMORY_BUDGET)
_state = threading.local()


def release_memory() -> None:
    """Hands freed heap memory back to the system if this thread decoded a large image since the last call: for a
    server, after each request (what the request's analysis freed stays in glibc's arenas otherwise)."""
    if getattr(_state, "large", False):
        _state.large = False
        _trim_heap()


def _decode_pixels(data: bytes, fmt: str, w: int, h: int, orientation: int) -> DecodedImage:
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    reduce = 1
    if fmt == "jpeg":
        while (w // reduce) * (h // reduce) > WORK_PIXELS and reduce < 8:
            reduce *= 2
        flags = {1: flags, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[
            reduce
        ]
        if reduce > 1:
            flags |= cv2.IMREAD_IGNORE_ORIENTATION
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buf, flags)
    except cv2.error:
        bgr = None
    if bgr is None or bgr.ndim != 3 or bgr.shape[0] == 0:
        raise InvalidImageFormatException(f"Request has invalid image format: the {fmt.upper()} data could not be decoded.")
    if bgr.dtype != np.uint8:
        bgr = (bgr / 257).astype(np.uint8)
    bgr = _apply_orientation(bgr, orientation)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    if min(w, h) < MIN_SIDE:
        raise InvalidParameterException(f"Image is {w}x{h} pixels: the minimum image size is {MIN_SIDE}x{MIN_SIDE}.")
    pixels = bgr.shape[0] * bgr.shape[1]
    if pixels > WORK_PIXELS:
        f = (WORK_PIXELS / pixels) ** 0.5
        bgr = cv2.resize(bgr, (max(1, int(bgr.shape[1] * f)), max(1, int(bgr.shape[0] * f))), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return DecodedImage(rgb=rgb, width=w, height=h, format=fmt)


def _load_malloc_trim() -> Optional[Callable[[int], Any]]:
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim  # glibc only
        trim.argtypes = [ctypes.c_size_t]
        return trim
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _trim_heap() -> None:
    """Hands free heap memory back to the system: libjpeg's and OpenCV's buffers for a large image are freed into
    glibc's per-thread arenas, which otherwise keep them (about 1 GB after four large requests on the server)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def from_array(rgb: np.ndarray) -> DecodedImage:
    """Wraps an RGB uint8 array [H, W, 3] (e.g. a video frame) without copying it when it is contiguous."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidParameterException(f"expected an RGB array [H, W, 3], got shape {rgb.shape}")
    return DecodedImage(rgb=rgb, width=rgb.shape[1], height=rgb.shape[0], format="array")
