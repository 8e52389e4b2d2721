"""``tools/convert_models.py --check``: the committed model files against manifest.json, run as the command is."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "python" / "facelens" / "models"


def check(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "convert_models.py"), "--check", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)


def test_committed_models_pass():
    r = check(MODELS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MISMATCH" not in r.stdout
    assert "[check] person_detector.onnx: I/O ok" in r.stdout


def test_altered_and_missing_files_are_named(tmp_path):
    for p in MODELS.iterdir():
        if p.is_file():
            (tmp_path / p.name).symlink_to(p)
    (tmp_path / "centerface.onnx").unlink()
    blob = bytearray((MODELS / "centerface.onnx").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / "centerface.onnx").write_bytes(bytes(blob))
    (tmp_path / "gender_v1.int8.onnx").unlink()
    r = check(tmp_path)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert any(line.startswith("[check] centerface.onnx: MISMATCH ") for line in lines), r.stdout
    assert "[check] gender_v1.int8.onnx: MISMATCH missing" in lines
    assert "[check] age_v1.onnx: ok" in lines
