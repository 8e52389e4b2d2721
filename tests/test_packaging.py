"""What a release contains: the sdist built from this tree, and the wheel built from that sdist.

One session fixture builds both (the wheel compiles the C++ core: about a minute of CPU): the sdist through
scikit-build-core's PEP 517 hook, the wheel by pip from the sdist alone, so a file the build needs but the sdist
lacks fails here.
"""

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import facelens

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
MANIFEST = json.loads((ROOT / "python/facelens/models/manifest.json").read_text())


def _manifest_files(node):
    """(file name, sha256 or None) of every file the model manifest lists."""
    if isinstance(node, dict):
        name = node.get("file")
        if isinstance(name, str):
            yield name, node.get("sha256")
        for value in node.values():
            yield from _manifest_files(value)
    elif isinstance(node, list):
        for value in node:
            yield from _manifest_files(value)


def _tracked(prefix):
    out = subprocess.run(["git", "ls-files", prefix], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    hook = "import sys; from scikit_build_core.build import build_sdist; print(build_sdist(sys.argv[1]))"
    name = subprocess.run([sys.executable, "-c", hook, str(out)], cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=300).stdout.split()[-1]
    sdist = out / name
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(sdist), "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), f"-Cbuild-dir={out / 'build'}"],
                   capture_output=True, text=True, check=True, timeout=900)
    (wheel,) = out.glob("facelens-*.whl")
    return sdist, wheel


@pytest.fixture(scope="session")
def wheel_names(dist):
    with zipfile.ZipFile(dist[1]) as zf:
        return set(zf.namelist())


@pytest.fixture(scope="session")
def sdist_names(dist):
    with tarfile.open(dist[0]) as tf:
        top = f"facelens-{VERSION}/"
        return {m.name[len(top):] for m in tf.getmembers() if m.isfile()}


def test_one_version_everywhere(dist):
    sdist, wheel = dist
    assert sdist.name == f"facelens-{VERSION}.tar.gz"
    assert wheel.name.startswith(f"facelens-{VERSION}-")
    assert facelens.__version__ == VERSION


def test_wheel_has_the_extension_and_the_package(wheel_names):
    assert [n for n in wheel_names if n.startswith("facelens/_core.") and n.endswith((".so", ".pyd"))]
    for rel in _tracked("python/facelens"):
        if "/__pycache__/" not in rel:
            assert rel.removeprefix("python/") in wheel_names, rel


def test_wheel_has_every_model_of_the_manifest(dist, wheel_names):
    listed = list(_manifest_files(MANIFEST))
    assert len(listed) >= 10
    assert "facelens/models/manifest.json" in wheel_names
    with zipfile.ZipFile(dist[1]) as zf:
        for name, sha256 in listed:
            data = zf.read(f"facelens/models/{name}")
            if sha256:
                assert hashlib.sha256(data).hexdigest() == sha256, name


def test_wheel_has_no_tests_tools_bench_or_sources(wheel_names):
    top = {n.split("/")[0] for n in wheel_names}
    assert top <= {"facelens", f"facelens-{VERSION}.dist-info"}, top
    assert not [n for n in wheel_names if n.endswith((".cpp", ".hpp", ".inl", ".pyc"))]


def test_wheel_ships_py_typed_when_the_package_has_it(wheel_names):
    assert ("facelens/py.typed" in wheel_names) == (ROOT / "python/facelens/py.typed").exists()


def test_sdist_has_what_the_build_needs(sdist_names):
    for rel in ["pyproject.toml", "CMakeLists.txt", "README.md", *_tracked("cpp"), *_tracked("python/facelens")]:
        assert rel in sdist_names, rel
    assert not [n for n in sdist_names if n.startswith(("build/", "dist/")) or n.endswith((".so", ".pyd"))]
