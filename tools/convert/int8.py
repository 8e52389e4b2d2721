"""The int8 group: static QDQ int8 versions of the committed fp32 networks (``tools/quantize_int8.py``).

The interpreter running the converter (which imports facelens) records every input facelens feeds each network
on the calibration set; a second throw-away venv (QUANT_PINS) quantises and checks int8 against fp32. The entries
go under each fp32 model's ``int8`` key of the manifest.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import quantize_int8

from .common import ensure_venv, install_file, log, quiet_env, sha256_file

DEFAULT_QUANT_VENV = Path("/tmp/facelens-quant-venv")
FILES = [quantize_int8.int8_name(f) for f in quantize_int8.INT8_MODELS]
QUANTIZE_SCRIPT = Path(quantize_int8.__file__).resolve()


def run(out_dir: Path, work: Path, data: Path, venv: Path, base_python: str) -> dict:
    """Captures the calibration inputs (facelens, fp32), quantises in the pinned venv, installs the int8 files.
    Returns the int8 report (per file: calibration inputs, parity)."""
    log("[int8] capturing calibration inputs (facelens, fp32)")
    subprocess.run([sys.executable, str(QUANTIZE_SCRIPT), "capture", "--data", str(data), "--work", str(work)],
                   check=True)
    py = ensure_venv(venv, base_python, quantize_int8.QUANT_PINS, ".facelens-quant-pins.json",
                     quantize_int8.QUANT_PINS)
    log("[int8] quantising")
    subprocess.run([str(py), str(QUANTIZE_SCRIPT), "quantize", "--data", str(data), "--src", str(out_dir),
                    "--work", str(work)], check=True, env=quiet_env())
    report = json.loads((work / "int8_report.json").read_text())
    report["calibration"] = json.loads((work / "int8_capture.json").read_text())
    for info in report["models"].values():
        install_file(work / "int8_staging" / info["file"], out_dir / info["file"])
    return report


def manifest_entry(out_dir: Path, fp32: dict, int8: dict) -> dict:
    """The ``int8`` entry of the fp32 model entry ``fp32``, from the int8 report."""
    info = int8["models"][fp32["file"]]
    p = out_dir / info["file"]
    return {
        "file": info["file"],
        "sha256": sha256_file(p),
        "size_bytes": p.stat().st_size,
        "quantized_from_sha256": fp32["sha256"],
        "default": fp32["file"] in quantize_int8.INT8_DEFAULT,
        "method": ("onnxruntime.quantization.quantize_static: QDQ, per-channel int8 weights in 7 bits "
                   "(reduce_range), uint8 activations, MinMax ranges; opset raised to 13 first where lower (per-channel DequantizeLinear)"),
        "tool": "tools/convert_models.py --only int8 (tools/quantize_int8.py)",
        "venv_pins": quantize_int8.QUANT_PINS,
        "calibration": {
            "inputs": info["calibration_inputs"],
            "source": ("the inputs facelens (fp32) fed this network on the frames and photos listed, none of them "
                       "in an evaluation set"),
            "clips": quantize_int8.CALIBRATION_CLIPS,
            "photos": quantize_int8.CALIBRATION_PHOTOS,
        },
        "parity_int8_vs_fp32_on_calibration_inputs": {k: v for k, v in info.items() if k.startswith(("parity", "m"))},
    }
