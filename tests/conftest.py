"""Shared fixtures: one Client for the whole session (models load once) and the labelled data folder.

Tests that need ``../shared/data`` (beside the repository, or $FACELENS_TEST_DATA) skip when it is absent.
"""

import os
from pathlib import Path

import pytest

import facelens._core as core

ROOT = Path(__file__).resolve().parents[1]

# SIMD levels that are compiled in and that this CPU runs: every kernel test runs at each of them.
LEVELS = core.supported_levels()


@pytest.fixture(params=LEVELS)
def level(request):
    """Runs the test with the kernels forced to one SIMD level, then restores the automatic choice."""
    core.set_simd_level(request.param)
    yield request.param
    core.set_simd_level("auto")
DATA = Path(os.environ.get("FACELENS_TEST_DATA", ROOT.parent / "shared" / "data"))


def data_path(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"test data {path} not available")
    return path


def read(rel: str) -> bytes:
    return data_path(rel).read_bytes()


def image_bytes(rel: str) -> bytes:
    """A labelled photo as JPEG/PNG bytes (the few in other formats are re-encoded as PNG by OpenCV)."""
    data = read(rel)
    if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
        return data
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.imencode(".png", img)[1].tobytes()


@pytest.fixture(scope="session")
def client(tmp_path_factory):
    import facelens

    return facelens.Client(home=str(tmp_path_factory.mktemp("facelens_home")))


@pytest.fixture(scope="session")
def sample_bytes():
    import facelens

    return (Path(facelens.__file__).parent / "data" / "sample.jpg").read_bytes()
