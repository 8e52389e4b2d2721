"""JPEG memory bombs: a progressive (or multi-scan) JPEG makes libjpeg hold every DCT coefficient of the image,
whatever the output scale, so such files are refused by what their header declares, before any decoding; the
ones accepted stay within the memory the README promises. Peak RSS is measured in a fresh process."""

import struct
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from facelens import errors, images


def _progressive(w, h, sampling, claim=None):
    """A real progressive JPEG of w x h; with ``claim`` its frame header declares that size instead (a small file
    whose header claims a huge image, as an attacker would send)."""
    rng = np.random.default_rng(1)
    img = cv2.resize(rng.integers(0, 255, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8), (w, h))
    data = bytearray(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                                cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling])[1].tobytes())
    if claim:
        sof = data.index(b"\xff\xc2")
        data[sof + 5:sof + 9] = struct.pack(">HH", claim[1], claim[0])
    return bytes(data)


S444, S420 = cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420


def test_coefficient_memory_from_the_header():
    h = images._jpeg_header(_progressive(160, 120, S420, claim=(8940, 8940)))
    assert h.progressive and h.multi_scan and (h.width, h.height) == (8940, 8940)
    assert h.sampling == ((2, 2), (1, 1), (1, 1))
    assert h.coefficient_bytes() == 559 * 559 * 6 * 128  # MCUs of 16x16: 4 luma + 2 chroma blocks of 128 bytes
    baseline = cv2.imencode(".jpg", np.zeros((120, 160, 3), np.uint8))[1].tobytes()
    assert not images._jpeg_header(baseline).multi_scan


CHILD = textwrap.dedent(
    """
    import sys
    from facelens import errors, images

    def peak_kb():  # VmHWM: this process's own peak (ru_maxrss carries the forking parent's over exec)
        line = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
        return int(line.split()[1])

    data = open(sys.argv[1], "rb").read()
    before = peak_kb()
    try:
        out = "x".join(map(str, images.decode(data, max_bytes=15 << 20).rgb.shape[:2]))
    except errors.ClientError as e:
        out = e.code
    print(out, (peak_kb() - before) // 1024)
    """
)


def _fresh_decode(tmp_path, data):
    path = tmp_path / "bomb.jpg"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    answer, grown_mb = out.stdout.split()
    return answer, int(grown_mb)


@pytest.mark.parametrize(("claim", "sampling"), [((8940, 8940), S420), ((10000, 7990), S444), ((5500, 4100), S444)])
def test_bombs_are_refused_before_decoding(tmp_path, claim, sampling):
    """A ~20 KB file claiming 8940x8940 (its decode grew RSS by 240 MB), an 80 MP 4:4:4 one (about 470 MB) and one
    just over the limit: ImageTooLargeException, with RSS grown by a few MB at most."""
    data = _progressive(160, 120, sampling, claim=claim)
    assert len(data) < 50_000
    answer, grown = _fresh_decode(tmp_path, data)
    assert answer == "ImageTooLargeException"
    assert grown < 20


def test_progressive_at_the_limit_is_decoded_within_its_budget(tmp_path):
    """A file claiming 5456x4096 4:4:4 (its coefficients take 128 MB, just under the limit) decodes, and the
    process grows by about that much, far below the 500 MB a request may take."""
    answer, grown = _fresh_decode(tmp_path, _progressive(160, 120, S444, claim=(5456, 4096)))
    assert answer == "2048x2728"
    assert 64 < grown < 250


def test_thousands_of_scans_are_refused():
    data = _progressive(160, 120, S420)
    sos = data.index(b"\xff\xda")
    bomb = data[:sos] + data[sos:-2] + b"\xff\xda\x00\x08\x01\x01\x00\x00\x00\x00" * 200 + data[-2:]
    with pytest.raises(errors.InvalidImageFormatException, match="scans"):
        images.decode(bomb)


def test_concurrent_large_decodes_share_a_budget():
    budget = images._MemoryBudget(100)
    with budget.reserve(60):
        assert budget.used == 60
        with budget.reserve(0):
            pass
    with budget.reserve(10**9):  # larger than the whole budget: runs alone
        assert budget.used == 100
    assert budget.used == 0
