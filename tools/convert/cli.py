"""The converter's command line: which model groups run, in which interpreter, and in what order.

The host interpreter (the one facelens is installed in) makes the toolchain venv, downloads and verifies the
sources, then runs the conversion stage of each group in a fresh venv process (``--_stage convert --only
GROUP``), re-checks the results with its own onnxruntime, installs the files whose bytes changed and writes the
manifest.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import (
    dlib_resnet,
    face_attributes,
    face_chain,
    int8,
    person_detector,
)
from .common import (
    DEFAULT_DATA,
    DEFAULT_OUT,
    DEFAULT_VENV,
    DEFAULT_WORK,
    ENTRY_POINT,
    ChecksumError,
    benchmark,
    check_committed,
    ensure_opencv,
    ensure_toolchain_venv,
    fetch_sources,
    install_file,
    log,
    make_tf2onnx_deterministic,
    merged_manifest,
    quiet_env,
    tool_info,
    write_manifest,
)


@dataclass
class Group:
    """A model group --only can name: the files it writes, the sources it needs, and its steps."""
    files: list
    pins: dict = field(default_factory=dict)
    prepare: Callable | None = None      # host, after the downloads: (venv python, work, sources)
    convert: Callable | None = None      # conversion stage, in the venv: (work, data, stage, src, report)
    recheck: Callable | None = None      # host: (stage, work) -> differences from the venv's references
    manifest_key: str | None = None      # its own manifest entry (the face group writes the whole manifest)
    manifest_entry: Callable | None = None


def _prepare_opencv(py: Path, work: Path, sources: dict) -> None:
    ensure_opencv(py)


def _prepare_face(py: Path, work: Path, sources: dict) -> None:
    face_chain.extract_task_members(sources, work)
    dlib_resnet.prepare(py, work, sources)


def _convert_face(work: Path, data: Path, stage: Path, src: Path, report: dict) -> None:
    face_chain.convert(work, data, stage, src, report)
    report["face_attributes"] = face_attributes.convert(work, data, stage, src, report)


def _recheck_face(stage: Path, work: Path) -> dict:
    return {**face_chain.recheck(stage, work), **face_attributes.recheck(stage, work)}


# "face" is the original chain (CenterFace, FaceMesh, blendshapes, canonical mesh, dlib descriptor, age, gender,
# emotion): its parity checks feed each other (CenterFace finds the crops for FaceMesh, ...), so it runs as one
# group. Groups left out keep their committed files and manifest entries untouched.
GROUPS = {
    "face": Group(files=face_chain.FILES + dlib_resnet.FILES + face_attributes.FILES,
                  pins={**face_chain.PINS, **dlib_resnet.PINS, **face_attributes.PINS},
                  prepare=_prepare_face, convert=_convert_face, recheck=_recheck_face),
    "person_detector": Group(files=person_detector.FILES, pins=person_detector.PINS, prepare=_prepare_opencv,
                             convert=person_detector.convert, recheck=person_detector.recheck,
                             manifest_key="person_detector", manifest_entry=person_detector.manifest_entry),
    # int8 versions of the committed fp32 files (tools/quantize_int8.py); needs facelens importable here
    "int8": Group(files=int8.FILES),
}
BENCH_MODULES = (face_chain, dlib_resnet, face_attributes, person_detector)


def parse_only(only) -> set:
    """--only a,b -> set of GROUPS keys (default: every group)."""
    if not only:
        return set(GROUPS)
    groups = {g.strip() for g in str(only).split(",") if g.strip()}
    unknown = groups - set(GROUPS)
    if unknown or not groups:
        raise SystemExit(f"--only: unknown model group(s) {sorted(unknown)}; choose from "
                         f"{', '.join(GROUPS)}")
    return groups


def stage_convert(args) -> None:
    """The conversion stage (inside the toolchain venv): the groups of --only into WORK/staging, report.json."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    make_tf2onnx_deterministic()

    work = Path(args.work)
    stage = work / "staging"
    stage.mkdir(parents=True, exist_ok=True)
    groups = parse_only(args.only)
    for name in [f for g in groups for f in GROUPS[g].files]:  # this run's outputs only
        (stage / name).unlink(missing_ok=True)
    report = {"versions": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                           "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                           "numpy": np.__version__}}
    report["groups"] = sorted(groups)
    for name, group in GROUPS.items():
        if name in groups and group.convert is not None:
            group.convert(work, Path(args.data), stage, work / "src", report)
    (work / "report.json").write_text(json.dumps(report, indent=2, default=float))
    log("[stage] conversion stage done")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Reproducible converter for the pretrained models that facelens ships.")
    ap.add_argument("--venv", default=str(DEFAULT_VENV),
                    help=f"throw-away virtualenv for the toolchain (default {DEFAULT_VENV})")
    ap.add_argument("--work", default=str(DEFAULT_WORK),
                    help=f"scratch directory (default {DEFAULT_WORK})")
    ap.add_argument("--out", default=str(DEFAULT_OUT),
                    help="where the models + manifest.json go (default python/facelens/models)")
    ap.add_argument("--data", default=str(DEFAULT_DATA),
                    help="folder with real photos for parity checks (default ../shared/data)")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter used to create the venv (Python 3.9-3.11)")
    ap.add_argument("--bench", action="store_true", help="print onnxruntime CPU latencies")
    ap.add_argument("--check", action="store_true",
                    help="only verify committed files against manifest.json")
    ap.add_argument("--only", default=None,
                    help="comma-separated model groups to convert (default: all): "
                         + ", ".join(GROUPS) + "; the others' files and manifest entries "
                         "are left untouched")
    ap.add_argument("--quant-venv", default=str(int8.DEFAULT_QUANT_VENV),
                    help=f"throw-away virtualenv for the int8 group (default {int8.DEFAULT_QUANT_VENV})")
    ap.add_argument("--_stage", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._stage == "convert":
        stage_convert(args)
        return 0
    try:
        import facelens.models.registry  # noqa: F401
    except ImportError:
        raise SystemExit("tools/convert_models.py needs facelens importable by the interpreter that runs it "
                         "(pip install -e .): it checks files with facelens' model registry") from None
    out_dir = Path(args.out)
    if args.check:
        return check_committed(out_dir)

    groups = parse_only(args.only)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    converted = [g for g in GROUPS if g in groups and GROUPS[g].convert is not None]
    sources: dict = {}
    try:
        if converted:
            py = ensure_toolchain_venv(Path(args.venv), args.python)
            sources = fetch_sources(py, work, {k: v for g in converted for k, v in GROUPS[g].pins.items()})
        for g in converted:
            if GROUPS[g].prepare is not None:
                GROUPS[g].prepare(py, work, sources)
    except ChecksumError as e:
        log(str(e))
        return 2
    # One fresh process per model group: tf2onnx names nodes from process-wide counters, so a group converted
    # after another would get other names (other bytes, same graph). This keeps every file byte-identical
    # whichever groups a run converts.
    stage = work / "staging"
    if stage.exists():
        shutil.rmtree(stage)
    report: dict = {}
    for group in converted:
        subprocess.run([str(py), str(ENTRY_POINT), "--_stage", "convert",
                        "--work", str(work), "--data", str(args.data), "--only", group],
                       check=True, env=quiet_env())
        part = json.loads((work / "report.json").read_text())
        part["groups"] = sorted(set(report.get("groups", [])) | set(part["groups"]))
        report.update(part)
    if "int8" in groups:
        # after the fp32 groups of this run are installed: the int8 files are quantised from the installed fp32 ones
        report["groups"] = sorted(set(report.get("groups", [])) | {"int8"})
    (work / "report.json").write_text(json.dumps(report, indent=2, default=float))
    for g in converted:
        GROUPS[g].recheck(stage, work)

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in [f for g in converted for f in GROUPS[g].files]:
        install_file(stage / name, out_dir / name)
    if "int8" in groups:
        report["int8"] = int8.run(out_dir, work, Path(args.data), Path(args.quant_venv), args.python)
    tool = tool_info(report) if converted else {}
    rebuilt = (face_chain.build_manifest(out_dir, report, tool, face_attributes.manifest_entries(out_dir, report, tool))
               if "face" in groups else None)
    entries = {GROUPS[g].manifest_key: GROUPS[g].manifest_entry(out_dir, report, tool)
               for g in converted if GROUPS[g].manifest_key}
    keys = [grp.manifest_key for grp in GROUPS.values() if grp.manifest_key]
    manifest = merged_manifest(out_dir, rebuilt, entries, keys, report.get("int8"), int8.manifest_entry)
    write_manifest(out_dir, manifest)
    for entry in manifest["models"].values():
        origin = entry["source_package"] if "source_package" in entry else f"{entry['trainer']['tool']} (trained)"
        log(f"[result] {entry['file']:30s} {entry['size_bytes']:>9d} B  sha256 {entry['sha256'][:16]}  from {origin}")
    if args.bench:
        benchmark(out_dir, [c for m in BENCH_MODULES for c in m.bench_cases()])
    return 0
