"""The C++ core without Python: CMake's FACELENS_BUILD_TESTS builds cpp/tests/selftest.cpp and ctest runs it.

The core is compiled once more (about a minute of CPU), with the build's own SIMD levels; the self-test must
check each level this CPU runs, the same list the extension reports.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

import facelens._core as core

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ctest_output(tmp_path_factory):
    cmake = shutil.which("cmake")
    ctest = shutil.which("ctest")
    if cmake is None or ctest is None:
        pytest.skip("cmake/ctest not on PATH (pip install cmake)")
    build = tmp_path_factory.mktemp("selftest")
    subprocess.run([cmake, "-S", str(ROOT), "-B", str(build), "-DFACELENS_BUILD_PYTHON=OFF",
                    "-DFACELENS_BUILD_TESTS=ON", "-DCMAKE_BUILD_TYPE=Release"],
                   capture_output=True, text=True, check=True, timeout=300)
    subprocess.run([cmake, "--build", str(build), "-j", "2"], capture_output=True, text=True, check=True,
                   timeout=900)
    return subprocess.run([ctest, "--test-dir", str(build), "--output-on-failure", "-V"],
                          capture_output=True, text=True, timeout=300)


def test_selftest_passes(ctest_output):
    assert ctest_output.returncode == 0, ctest_output.stdout[-4000:]
    assert "100% tests passed" in ctest_output.stdout


def test_selftest_checks_every_level_this_cpu_runs(ctest_output):
    checked = [line.split("level ", 1)[1].split()[0] for line in ctest_output.stdout.splitlines()
               if " checked" in line and "level " in line]
    assert checked == core.supported_levels()
