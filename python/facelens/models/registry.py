"""The one place that knows where model weights live.

Models ship inside the package next to ``manifest.json`` (source package, licence, checksums; written by
``tools/convert_models.py``). Every file is checked against its sha256 the first time it is loaded; a
missing or altered file raises :class:`facelens.errors.ModelError` naming it. Engines get onnxruntime
sessions and arrays from here, by model name, never paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import ModelError

MODELS_DIR = Path(__file__).resolve().parent
_lock = threading.Lock()
_manifest: Optional[Dict[str, Any]] = None
_verified: Dict[str, Path] = {}
_sessions: Dict[tuple, Any] = {}


def manifest() -> Dict[str, Any]:
    global _manifest
    if _manifest is None:
        path = MODELS_DIR / "manifest.json"
        try:
            _manifest = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ModelError(f"facelens model manifest {path} is missing or unreadable: {e}") from None
    return _manifest


def entry(name: str) -> Dict[str, Any]:
    """The manifest entry of a model, by file name (``centerface.onnx``) or key (``centerface``)."""
    models = manifest().get("models", {})
    if isinstance(models, list):
        models = {m.get("name", m["file"]): m for m in models}
    for key, m in models.items():
        if name in (key, m.get("file")):
            return m
    raise ModelError(f"model {name!r} is not listed in {MODELS_DIR / 'manifest.json'}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _expected_sha256(name: str) -> str:
    """sha256 of a file the manifest lists, as a model or as a model's companion file (e.g. its chip template)."""
    try:
        return entry(name)["sha256"]
    except ModelError:
        models = manifest().get("models", {})
        for m in models.values() if isinstance(models, dict) else models:
            for value in m.values():
                if isinstance(value, dict) and value.get("file") == name and "sha256" in value:
                    return value["sha256"]
        raise


def path(name: str) -> Path:
    """Path of a verified model file (checked against the manifest's sha256 once per process)."""
    with _lock:
        if name in _verified:
            return _verified[name]
        expected = _expected_sha256(name)
        p = MODELS_DIR / name
        if not p.is_file():
            raise ModelError(f"facelens model file {p} is missing; reinstall facelens")
        actual = sha256_file(p)
        if expected != actual:
            raise ModelError(
                f"facelens model file {p} is corrupt: sha256 {actual[:16]}… does not match the manifest's "
                f"{str(expected)[:16]}…; reinstall facelens"
            )
        _verified[name] = p
        return p


def load_json(name: str) -> Dict[str, Any]:
    return json.loads(path(name).read_text())


def load_npz(name: str) -> Dict[str, np.ndarray]:
    with np.load(path(name)) as z:
        return {k: z[k] for k in z.files}


def default_threads() -> int:
    """Threads per model call when the caller names none (``facelens.Settings`` normally does)."""
    return max(1, min(4, os.cpu_count() or 1))


PRECISIONS = ("int8", "fp32", "int8-all")


def resolve_precision(precision: Optional[str] = None) -> str:
    """``precision`` or "int8": the networks whose int8 files held their accuracy against fp32 (manifest
    ``int8.default``, README "Int8 networks") run in int8, the others in fp32. "int8-all" runs every int8 file the
    manifest lists; "fp32" none."""
    value = precision if precision is not None else "int8"
    value = str(value).strip().lower()
    if value not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {value!r}")
    return value


def resolve_providers(providers: Optional[Sequence[str]] = None) -> Tuple[str, ...]:
    """onnxruntime execution providers, in order of preference: ``providers``, or the CPU alone. The CPU provider
    is always appended as the fallback."""
    if providers is None:
        providers = []
    if isinstance(providers, str):
        providers = [providers]
    out = [str(p) for p in providers if str(p) != "CPUExecutionProvider"]
    return (*tuple(out), "CPUExecutionProvider")


def cpu_only(providers: Optional[Sequence[str]] = None) -> bool:
    return resolve_providers(providers) == ("CPUExecutionProvider",)


def model_file(name: str, precision: Optional[str] = None, providers: Optional[Sequence[str]] = None) -> str:
    """The file that runs network ``name`` (its fp32 file name) at ``precision``: its int8 file where that is
    chosen, else, on the CPU provider alone, its ``nchwc`` rewrite where it has one (the same fp32 network in ops
    that keep onnxruntime's blocked CPU layout, tools/quantize_int8.py), else the fp32 file itself."""
    precision = resolve_precision(precision)
    found = entry(name)
    int8 = found.get("int8") if precision != "fp32" else None
    if int8 and (int8.get("default") or precision == "int8-all"):
        return int8["file"]
    if found.get("nchwc") and cpu_only(providers):
        return found["nchwc"]["file"]
    return name


def session(name: str, threads: Optional[int] = None, precision: Optional[str] = None,
            providers: Optional[Sequence[str]] = None, spin: bool = False) -> Any:
    """A shared onnxruntime session for a model (sessions are thread-safe for ``run``).

    ``spin``: the session's pool threads wait for the next layer's work spinning rather than asleep, and stop
    spinning when the run returns (engine/parallel.py SpinWhenAlone runs on such a session while its request is
    the only one being analysed)."""
    import onnxruntime as ort

    threads = threads or default_threads()
    chosen = resolve_providers(providers)
    file = model_file(name, precision, chosen)
    spin = spin and threads > 1
    key = (file, threads, chosen, spin)
    with _lock:
        if key in _sessions:
            return _sessions[key]
    model_path = path(file)
    available = set(ort.get_available_providers())
    missing = [p for p in chosen if p not in available]
    if missing:
        raise ModelError(f"onnxruntime execution provider(s) {', '.join(missing)} are not in this onnxruntime build "
                         f"(available: {', '.join(sorted(available))})")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # Several sessions run one after another in each request, each with its own thread pool: threads left
    # spinning by one session steal the cores from the next (on 2 cores, DetectFaces with ALL took 162 ms with
    # spinning and 38 ms without). A spinning session therefore stops spinning as soon as its run returns.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if spin:
        opts.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        sess = ort.InferenceSession(str(model_path), sess_options=opts, providers=list(chosen))
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelError(f"facelens model file {model_path} could not be loaded: {e}") from None
    with _lock:
        return _sessions.setdefault(key, sess)
