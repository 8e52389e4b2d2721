"""Shared fixtures: one Client for the whole session (models load once) and the labelled data folder.

Tests that need ``../shared/data`` (beside the repository, or $FACELENS_TEST_DATA) skip when it is absent.
"""

import sys
from pathlib import Path

import pytest

import facelens._core as core

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import labelled  # noqa: E402  (the one reader of ../shared/data's tables, shared with tools/ and bench/)

# SIMD levels that are compiled in and that this CPU runs: every kernel test runs at each of them.
LEVELS = core.supported_levels()


@pytest.fixture(params=LEVELS)
def level(request):
    """Runs the test with the kernels forced to one SIMD level, then restores the automatic choice."""
    core.set_simd_level(request.param)
    yield request.param
    core.set_simd_level("auto")


DATA = labelled.DATA


def data_path(rel: str) -> Path:
    path = DATA / rel
    if not path.exists():
        pytest.skip(f"test data {path} not available")
    return path


def read(rel: str) -> bytes:
    return data_path(rel).read_bytes()


def image_bytes(rel: str) -> bytes:
    """A labelled photo as JPEG/PNG bytes (the few in other formats are re-encoded as PNG by OpenCV)."""
    return labelled.image_bytes(data_path(rel))


@pytest.fixture(scope="session")
def client(tmp_path_factory):
    import facelens

    return facelens.Client(home=str(tmp_path_factory.mktemp("facelens_home")))


@pytest.fixture(scope="session")
def sample_bytes():
    import facelens

    return (Path(facelens.__file__).parent / "data" / "sample.jpg").read_bytes()
