"""The labelled data beside the repository (``../shared/data``, or ``$FACELENS_TEST_DATA``) for tests.

A test that reads it is marked ``@pytest.mark.data`` (or its module ``pytestmark = pytest.mark.data``): without the
folder it is skipped, and the skip says so. ``data_path`` refuses to serve a test that is not marked, so the marker
stays true.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tools import labelled

DATA = labelled.DATA
MISSING_REASON = f"needs the labelled data: {DATA} not found (put it at ../shared/data or set FACELENS_TEST_DATA)"

# Whether the test being run is marked ``data``; set by conftest for each test.
current_test_marked = True


def available() -> bool:
    return DATA.is_dir()


def data_path(rel: str) -> Path:
    """``DATA / rel``; the test is skipped when that file is absent."""
    if not current_test_marked:
        pytest.fail(f"this test reads ../shared/data ({rel}) but is not marked data", pytrace=False)
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"test data {path} not available" if available() else MISSING_REASON)
    return path


def read(rel: str) -> bytes:
    return data_path(rel).read_bytes()


def image_bytes(rel: str) -> bytes:
    """A labelled photo as JPEG/PNG bytes (the few in other formats are re-encoded as PNG by OpenCV)."""
    return labelled.image_bytes(data_path(rel))
