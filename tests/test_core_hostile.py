"""Arrays the core cannot take give Python exceptions, never a crash: a copy that cannot be allocated (a broadcast
view whose contiguous copy would be petabytes) is MemoryError, odd dtypes, shapes and strides are ValueError.
Run in a child process so that a regression shows as a failed test rather than a dead test run."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import facelens._core as core

    huge = np.broadcast_to(np.zeros(3, np.uint8), ((1 << 30) - 1, (1 << 29) - 1, 3))
    huge_f = np.broadcast_to(np.float64(1), (1 << 56, 4))
    M = np.eye(2, 3, dtype=np.float32)
    calls = {
        "letterbox_nchw": lambda: core.letterbox_nchw(huge, 64, 64),
        "warp_affine": lambda: core.warp_affine(huge, M, 8, 8),
        "face_quality": lambda: core.face_quality(huge, (0, 0, 10, 10)),
        "nms": lambda: core.nms(huge_f, huge_f[:, 0], 0.5),
        "select_largest": lambda: core.select_largest(huge_f, 3),
        "transform_points": lambda: core.transform_points(huge_f[:, :2], M),
        "search_topk": lambda: core.search_topk(huge_f, np.ones(4, np.float32), 3),
        "linear_assignment": lambda: core.linear_assignment(huge_f.astype(np.float32, copy=False)),
        "tracker": lambda: core.Tracker().update(huge_f, huge_f[:, 0], 0.1),
    }
    for name, call in calls.items():
        try:
            call()
        except MemoryError:
            print(name, "MemoryError")
        else:
            print(name, "returned")
    """
)


def test_unallocatable_copies_raise_memory_error():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split() for line in out.stdout.splitlines())
    assert lines and set(lines.values()) == {"MemoryError"}, out.stdout


def test_odd_arguments_are_value_errors():
    """Found by tools/fuzz.py: a non-number ``bound`` escaped as pybind11's RuntimeError (cast error)."""
    import numpy as np
    import pytest

    import facelens._core as core

    m = np.ones((3, 4), np.float32)
    for bound in ("x", object(), [1.0]):
        with pytest.raises(ValueError, match="bound"):
            core.search_topk(m, np.ones(4, np.float32), 2, "l2", bound)
    idx, _ = core.search_topk(m, np.ones(4, np.float32), 2, "l2", np.float64(10.0))
    assert len(idx) == 2
    with pytest.raises(ValueError, match="pixels"):
        core.letterbox_nchw(np.zeros((4, 4, 3), np.uint8), 65536, 65536)
