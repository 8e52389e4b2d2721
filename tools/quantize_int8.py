"""Int8 networks: static QDQ quantisation of the shipped fp32 ONNX files (the ``int8`` group of convert_models.py).

Two halves, run by ``python tools/convert_models.py --only int8``:

1. ``capture`` (the launching interpreter, which must import facelens): facelens itself, on fp32, runs over the
   calibration set below and every tensor it feeds each network is recorded, so that the calibration inputs are
   exactly what the networks see at run time (letterboxed detector inputs, upright mesh crops, dlib chips, person
   tiles, attribute chips). They go to ``<work>/int8_calibration/<model>.npz``.
2. ``quantize`` (the pinned throw-away venv, QUANT_PINS): onnxruntime.quantization.quantize_static in QDQ format,
   per-channel int8 weights in 7 bits (``reduce_range``, see REDUCE_RANGE), uint8 activations with MinMax ranges
   from those inputs; then int8 vs fp32 parity on
   the calibration inputs and on the parity photos (report.json ``int8``).

The calibration set is disjoint from every evaluation set (bench/accuracy.py, bench/attributes_accuracy.py,
tests/test_collections_identity.py and the attribute labels): frames of the clips below, which no accuracy
figure uses, and the two photos of images/ that no label file lists.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

QUANT_PINS = ["onnxruntime==1.32.0", "onnx==1.16.2", "numpy==1.26.4", "ml-dtypes==0.5.1", "sympy==1.13.3"]

CALIBRATION_CLIPS = {  # clip -> frames taken, evenly spaced over the clip
    "videos/pyfeat_WolfgangLanger_Pexels.mp4": 8,
    "videos/fr_short_hamilton_clip.mp4": 6,
    "videos/pyfeat_single_face.mp4": 4,
    "videos/fnp_video.mp4": 8,
    "videos/dlib_MOT20-05-raw_even_shorter.mp4": 4,
    "videos/pyfeat_noface_face.mov": 4,
}
CALIBRATION_PHOTOS = ["images/mp_face_detection_expected.png", "images/prnet_5.jpg"]

# model file -> most inputs (single items) kept for its calibration. Tried and left in fp32: the FaceMesh landmark
# network (int8 slower on this CPU, 45 against 35 ms a crop, and its landmarks moved by a mean 6-9 px of 256), the
# emotion network (int8 slower: 4.4 against 1.2 ms), the blendshape MLP (tiny; fp32 in and out).
INT8_MODELS = {
    "centerface.onnx": 48,
    "dlib_face_recognition_resnet_v1.onnx": 96,
    "person_detector.onnx": 64,
    "age_v1.onnx": 96,
    "gender_v1.onnx": 96,
}
# The int8 files that precision="int8" (the default) runs; the others only run with precision="int8-all". Measured
# int8 against fp32 (README "Int8 networks"): the person detector's int8 scores reorder people of near-equal score
# (tests/test_person_detector.py::test_one_frame_any_size picks another person first, also with its first six
# convolutions in fp32), and CenterFace's int8 boxes move the landmark crops: AFLW2000-3D landmark NME 0.085 against
# fp32's 0.075 (tolerance +0.003), WIDER 10-20 px recall 0.621 against 0.636. With the 320 px first look the
# detector is a small part of a call, and int8 saved 1 ms of 16 there on an AVX2 machine.
INT8_DEFAULT = {"dlib_face_recognition_resnet_v1.onnx", "age_v1.onnx", "gender_v1.onnx"}

# The first convolutions stay in fp32 where int8 there lost faces: on CenterFace, activation SQNR fell from 31 to
# 20 dB over its first three convolutions (onnxruntime.quantization.qdq_loss_debug on the calibration inputs), and
# all-int8 CenterFace found 5 fewer of the 195 10-20 px WIDER faces and 1 fewer of 63 at 20-40 px; with its
# first six convolutions in fp32 (the stem and the first bottleneck) it finds as many as fp32.
KEEP_FP32_CONVS = {"centerface.onnx": 6, "person_detector.onnx": 6}

# Weights in 7 bits (-64..63): x86 CPUs without VNNI multiply uint8 activations by int8 weights with VPMADDUBSW,
# whose pairwise int16 sums saturate at full-range weights (255 * 127 * 2 > 32767); VNNI's VPDPBUSD does not.
# The full-range files gave the same answers as fp32 on an AVX-512 VNNI machine but not on an AVX2 one: the
# gender network's mean error on the calibration inputs rose from 0.005 to 0.027 and a woman was read as a man at
# 96 %. With 7-bit weights no sum can saturate on either kind of CPU (0.005 again on the AVX2 machine).
REDUCE_RANGE = True


def int8_name(fp32_file: str) -> str:
    return fp32_file[:-len(".onnx")] + ".int8.onnx"


def calibration_frames(data: Path):
    """(name, RGB uint8 frame) of the calibration set."""
    import cv2
    import numpy as np

    for rel in CALIBRATION_PHOTOS:
        bgr = cv2.imread(str(data / rel), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"calibration photo {data / rel} is missing")
        yield rel, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    for rel, count in CALIBRATION_CLIPS.items():
        cap = cv2.VideoCapture(str(data / rel))
        frames = []
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr)
        cap.release()
        if not frames:
            raise SystemExit(f"calibration clip {data / rel} gave no frames")
        for i in np.linspace(0, len(frames) - 1, count).round().astype(int):
            yield f"{rel}#{i}", cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB)


class _Recorder:
    """Stands in for an onnxruntime session and keeps (single-item slices of) what it is fed."""

    def __init__(self, session, store: list, limit: int) -> None:
        self.session, self.store, self.limit = session, store, limit

    def get_inputs(self):
        return self.session.get_inputs()

    def get_outputs(self):
        return self.session.get_outputs()

    def run(self, output_names, feeds):
        (_name, batch), = feeds.items()
        for i in range(len(batch)):
            if len(self.store) < self.limit:
                self.store.append(batch[i:i + 1].copy())
        return self.session.run(output_names, feeds)


def capture(data: Path, out: Path) -> dict:
    """Runs facelens (fp32) over the calibration set and writes each network's recorded inputs."""
    import numpy as np

    from facelens import images
    from facelens.models import registry
    from facelens.pipeline import Engine

    stores = {name: [] for name in INT8_MODELS}
    real_session = registry.session

    def recording_session(name, threads=None, precision=None, providers=None):
        s = real_session(name, threads, "fp32", providers)
        return _Recorder(s, stores[name], INT8_MODELS[name]) if name in stores else s

    registry.session = recording_session
    try:
        engine = Engine(threads=1, precision="fp32")
        everything = frozenset(["AGE_RANGE", "GENDER", "EMOTIONS", "SMILE", "FACE_OCCLUDED", "EYES_OPEN",
                                "MOUTH_OPEN", "BEARD", "MUSTACHE", "EYEGLASSES", "SUNGLASSES"])
        names = []
        for name, rgb in calibration_frames(data):
            names.append(name)
            image = images.DecodedImage(rgb=np.ascontiguousarray(rgb), width=rgb.shape[1], height=rgb.shape[0],
                                         format="png")
            faces = engine.analyze(image, want_eyes=True, attributes=everything)
            if faces:
                engine.descriptors(image, faces)
            engine.person_detector.detect(np.ascontiguousarray(rgb))
    finally:
        registry.session = real_session
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, items in stores.items():
        if not items:
            raise SystemExit(f"calibration: {name} was never run")
        np.savez(out / (name + ".npz"), *items)
        counts[name] = len(items)
    return {"frames": names, "inputs_per_model": counts}


def quantize(src_dir: Path, calib_dir: Path, dst_dir: Path) -> dict:
    """Quantises every INT8_MODELS network (inside the pinned venv) and measures int8 against fp32."""
    import numpy as np
    import onnx
    import onnx.version_converter
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, input_name, items):
            self.it = iter([{input_name: x} for x in items])

        def get_next(self):
            return next(self.it, None)

    report = {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "models": {}}
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name in INT8_MODELS:
        with np.load(calib_dir / (name + ".npz")) as z:
            items = [z[k] for k in sorted(z.files, key=lambda k: int(k.split("_")[1]))]
        so = ort.SessionOptions()
        so.log_severity_level = 3
        fp32 = ort.InferenceSession(str(src_dir / name), so, providers=["CPUExecutionProvider"])
        input_name = fp32.get_inputs()[0].name
        pre = dst_dir / (name + ".pre.onnx")
        model = onnx.load(str(src_dir / name))
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        if opset < 13:  # per-channel QDQ needs DequantizeLinear's axis (opset 13)
            model = onnx.version_converter.convert_version(model, 13)
        for i, node in enumerate(model.graph.node):  # names for nodes_to_exclude (CenterFace's are empty)
            node.name = node.name or f"{node.op_type}_{i}"
        onnx.save(model, str(pre))
        quant_pre_process(str(pre), str(pre), skip_symbolic_shape=True)
        convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"]
        keep = convs[:KEEP_FP32_CONVS.get(name, 0)]
        dst = dst_dir / int8_name(name)
        quantize_static(str(pre), str(dst), Reader(input_name, items), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep,
                        reduce_range=REDUCE_RANGE)
        pre.unlink()
        int8 = ort.InferenceSession(str(dst), so, providers=["CPUExecutionProvider"])
        errs = []
        for x in items:
            a = fp32.run(None, {input_name: x})
            b = int8.run(None, {input_name: x})
            pairs = [(u.astype(np.float64), v) for u, v in zip(a, b) if u.dtype.kind == "f" and u.size]
            errs.append([float(np.abs(u - v).mean()) for u, v in pairs]
                        + [float(np.abs(u - v).max()) for u, v in pairs])
        errs = np.asarray(errs)
        k = errs.shape[1] // 2
        outputs = [o.name for o, u in zip(fp32.get_outputs(), a) if u.dtype.kind == "f" and u.size]
        report["models"][name] = {
            "file": dst.name, "calibration_inputs": len(items), "convolutions_kept_in_fp32": keep,
            "parity_outputs": outputs,
            "mean_abs_error_median_over_inputs": [round(float(v), 6) for v in np.median(errs[:, :k], axis=0)],
            "max_abs_error_median_over_inputs": [round(float(v), 6) for v in np.median(errs[:, k:], axis=0)],
        }
        print(f"[int8] {name} -> {dst.name}: {report['models'][name]}", flush=True)
    return report


# fp32 networks rewritten so that onnxruntime's CPU provider keeps every activation in its blocked NCHWc layout
# (``nchwc`` stage): file -> the rewritten file. Same weights, same arithmetic up to float rounding.
NCHWC_MODELS = {"face_landmarks_detector.onnx": "face_landmarks_detector.nchwc.onnx"}


def nchwc_rewrite(src: Path, dst: Path) -> dict:
    """FaceMesh's landmark network with its PRelu activations and channel padding in ops that onnxruntime's NCHWc
    transformer keeps in the blocked layout.

    convert_models.py writes each PRelu as ``Relu(x) + slope * Min(x, 0)`` (onnxruntime's PRelu kernel was slow);
    Min and a broadcast Mul have no NCHWc kernel, so the CPU provider converted every activation out of and back
    into the blocked layout around each of the 69 PRelus (ReorderInput/ReorderOutput: a third of the network's
    time, elementwise ops another third). Here ``PRelu(x) = x + (1 - slope) * Relu(-x)``: two depthwise 1x1
    convolutions (weights -1, then 1 - slope), the first with a fused Relu, the second with the Add of x fused in.
    The three Pads that double the channels of a downsampling residual (zeros after) become a Concat of x with a
    depthwise 1x1 convolution of weight 0. One crop on one thread: 7.8 -> 4.7 ms."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    nodes, dropped, added = [], set(), []
    prelus = pads = 0

    def const(name, value):
        added.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    for node in graph.node:
        ins = list(node.input)
        if node.op_type == "Add" and len(ins) == 2 and all(i in producer for i in ins) and \
                sorted(producer[i].op_type for i in ins) == ["Mul", "Relu"]:
            relu, mul = sorted((producer[i] for i in ins), key=lambda n: n.op_type != "Relu")
            minimum = producer.get(mul.input[0])
            if minimum is None or minimum.op_type != "Min" or minimum.input[0] != relu.input[0] or \
                    mul.input[1] not in consts or float(np.abs(consts[minimum.input[1]]).max()) != 0.0:
                nodes.append(node)
                continue
            x, slope = relu.input[0], consts[mul.input[1]].reshape(-1)
            c, k = slope.size, prelus
            zero = const(f"nchwc_prelu{k}_zero_bias", np.zeros(c))
            nodes += [
                helper.make_node("Conv", [x, const(f"nchwc_prelu{k}_negate", -np.ones((c, 1, 1, 1))), zero],
                                 [f"nchwc_prelu{k}_neg"], group=c, kernel_shape=[1, 1]),
                helper.make_node("Relu", [f"nchwc_prelu{k}_neg"], [f"nchwc_prelu{k}_relu_neg"]),
                helper.make_node("Conv", [f"nchwc_prelu{k}_relu_neg",
                                          const(f"nchwc_prelu{k}_one_minus_slope", (1 - slope).reshape(c, 1, 1, 1)),
                                          zero], [f"nchwc_prelu{k}_scaled"], group=c, kernel_shape=[1, 1]),
                helper.make_node("Add", [f"nchwc_prelu{k}_scaled", x], list(node.output)),
            ]
            dropped |= {relu.output[0], mul.output[0], minimum.output[0]}
            prelus += 1
        elif node.op_type == "Pad" and len(ins) >= 2 and ins[1] in consts:
            before_after = consts[ins[1]].reshape(2, -1)
            extra = int(before_after[1, 1])
            if before_after.sum() != extra or extra <= 0:
                nodes.append(node)
                continue
            k = pads
            nodes += [
                helper.make_node("Conv", [ins[0], const(f"nchwc_pad{k}_zero_weight", np.zeros((extra, 1, 1, 1))),
                                          const(f"nchwc_pad{k}_zero_bias", np.zeros(extra))],
                                 [f"nchwc_pad{k}_zeros"], group=extra, kernel_shape=[1, 1]),
                helper.make_node("Concat", [ins[0], f"nchwc_pad{k}_zeros"], list(node.output), axis=1),
            ]
            pads += 1
        else:
            nodes.append(node)
    nodes = [n for n in nodes if not (set(n.output) & dropped)]
    used = {i for n in nodes for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + [i for i in added if i.name in used])
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return {"prelus_rewritten": prelus, "pads_rewritten": pads}


def nchwc(src_dir: Path, dst_dir: Path) -> dict:
    """Every NCHWC_MODELS rewrite, with its parity against the fp32 file on random crops (seed 0)."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    report = {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "models": {}}
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name, out in NCHWC_MODELS.items():
        info = nchwc_rewrite(src_dir / name, dst_dir / out)
        so = ort.SessionOptions()
        so.log_severity_level = 3
        a = ort.InferenceSession(str(src_dir / name), so, providers=["CPUExecutionProvider"])
        b = ort.InferenceSession(str(dst_dir / out), so, providers=["CPUExecutionProvider"])
        inp = a.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        rng = np.random.default_rng(0)
        worst = None
        for _ in range(8):
            x = rng.random(shape, dtype=np.float32)
            err = [float(np.abs(u - v).max()) for u, v in zip(a.run(None, {inp.name: x}), b.run(None, {inp.name: x}))]
            worst = err if worst is None else [max(p, q) for p, q in zip(worst, err)]
        info.update(file=out, parity_outputs=[o.name for o in a.get_outputs()],
                    max_abs_error_vs_fp32_on_8_random_inputs=[round(v, 7) for v in worst])
        report["models"][name] = info
        print(f"[nchwc] {name} -> {out}: {info}", flush=True)
    return report


def install_nchwc(report: dict, staging: Path, models_dir: Path) -> None:
    """Copies the rewritten files into the models folder and writes each as its fp32 entry's ``nchwc``
    sub-entry in manifest.json (the file onnxruntime's CPU provider runs; registry.model_file)."""
    import hashlib
    import shutil

    def sha(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    manifest_path = models_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name, info in report["models"].items():
        entry = next(m for m in manifest["models"].values() if m["file"] == name)
        if sha(models_dir / name) != entry["sha256"]:
            raise SystemExit(f"{name} does not match its manifest sha256")
        dst = models_dir / info["file"]
        shutil.copyfile(staging / info["file"], dst)
        entry["nchwc"] = {
            "file": info["file"], "sha256": sha(dst), "size_bytes": dst.stat().st_size,
            "rewritten_from_sha256": entry["sha256"],
            "method": ("graph rewrite, same weights: PRelu(x) = x + (1 - slope) * Relu(-x) as two depthwise 1x1 "
                       "convolutions (Relu and the Add of x fused by onnxruntime), channel Pad as Concat with a "
                       "zero-weight depthwise 1x1 convolution; onnxruntime's CPU provider then keeps every "
                       "activation in its NCHWc layout"),
            "runs_for": "the CPU execution provider at every precision (fp32 arithmetic)",
            "tool": "tools/quantize_int8.py nchwc --src python/facelens/models --work WORK --install",
            "venv_pins": QUANT_PINS,
            "parity": {k: info[k] for k in ("parity_outputs", "max_abs_error_vs_fp32_on_8_random_inputs")},
            "rewritten": {k: info[k] for k in ("prelus_rewritten", "pads_rewritten")},
        }
        print(f"[install] {dst.name}: {entry['nchwc']['sha256'][:16]}", flush=True)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("stage", choices=["capture", "quantize", "nchwc"])
    ap.add_argument("--data", help="../shared/data (capture, quantize)")
    ap.add_argument("--src", help="folder of the fp32 models")
    ap.add_argument("--work", required=True)
    ap.add_argument("--install", action="store_true",
                    help="nchwc: copy the rewritten files next to --src's models and record them in its manifest")
    args = ap.parse_args(argv)
    work = Path(args.work)
    if args.stage == "nchwc":
        rep = nchwc(Path(args.src), work / "nchwc_staging")
        (work / "nchwc_report.json").write_text(json.dumps(rep, indent=2))
        if args.install:
            install_nchwc(rep, work / "nchwc_staging", Path(args.src))
    elif args.stage == "capture":
        rep = capture(Path(args.data), work / "int8_calibration")
        (work / "int8_capture.json").write_text(json.dumps(rep, indent=2))
    else:
        rep = quantize(Path(args.src), work / "int8_calibration", work / "int8_staging")
        (work / "int8_report.json").write_text(json.dumps(rep, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
