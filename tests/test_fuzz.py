"""A short coverage-guided fuzzing run (tools/fuzz.py, atheris) of the three targets at once, about 20 s: image
bytes through decode + core preprocessing + DetectFaces, every core entry point with arbitrary arrays and
arguments, and arbitrary requests through the contract, the object store and the endpoint's JSON checks.
A crash, a hang or an exception other than the allowed errors fails the test with libFuzzer's report and leaves
the input in the test's temporary folder. The long run under ASan/UBSan is tools/fuzz_long.sh."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

FUZZ = Path(__file__).resolve().parents[1] / "tools" / "fuzz.py"
SECONDS = int(os.environ.get("FACELENS_FUZZ_SECONDS", "20"))


def test_short_fuzz_run(tmp_path):
    seeds = tmp_path / "seeds"
    subprocess.run([sys.executable, str(FUZZ), "--seed-corpus", str(seeds)], check=True, capture_output=True,
                   timeout=120)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    runs = {
        "decode": ["--detect-every", "5", f"-max_total_time={SECONDS}", "-max_len=65536", str(tmp_path / "dc"),
                   str(seeds)],
        "core": [f"-max_total_time={SECONDS}", str(tmp_path / "cc")],
        "request": [f"-max_total_time={SECONDS // 2}", str(tmp_path / "rc")],
    }
    procs = {}
    for target, args in runs.items():
        for a in args:
            if not a.startswith("-") and a != "5":
                Path(a).mkdir(exist_ok=True)
        procs[target] = subprocess.Popen(
            [sys.executable, str(FUZZ), target, "-rss_limit_mb=3000", "-timeout=30",
             f"-artifact_prefix={tmp_path}/{target}-", *args],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for target, proc in procs.items():
        out, _ = proc.communicate(timeout=SECONDS + 120)
        assert proc.returncode == 0, f"{target}: {out[-4000:]}"
        done = re.search(r"Done (\d+) runs", out)
        assert done and int(done.group(1)) > 0, out[-2000:]
