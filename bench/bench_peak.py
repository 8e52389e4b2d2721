"""This machine's fp32 and int8 peak through onnxruntime, and each network's share of it.

Run: pytest bench/bench_peak.py --benchmark-only -s      (needs ``pip install onnx`` to build the probe graphs)

Peak: one-node graphs built here, a 3x3 convolution (128 -> 128 channels at 28x28, 0.12 GMAC) and a 512^3 matrix
product (0.13 GMAC), fp32 (Conv, MatMul) and int8 (QLinearConv, QLinearMatMul: uint8 activations, int8 weights,
what the QDQ networks are fused into), run by onnxruntime on the engine's thread count, best of 200 runs (short
runs, so that the best one is rarely interrupted on a shared machine). Networks: the MACs of each Conv/MatMul/Gemm
of the shipped fp32 graph at the input size facelens feeds it (shapes met in one run), the best time
of one run of the fp32 file and of its int8 file. The -s output prints the table the README quotes.
"""

import time

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from facelens.models import registry  # noqa: E402

THREADS = registry.default_threads()
RESULTS = {}


def _session(model, threads=THREADS):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.log_severity_level = 3
    data = model if isinstance(model, (str, bytes)) else model.SerializeToString()
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def _graph(nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, "probe", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def _scalars(prefix, scale, zp, zp_type):
    return [numpy_helper.from_array(np.array(scale, np.float32), prefix + "_s"),
            numpy_helper.from_array(np.array(zp, zp_type), prefix + "_z")]


def conv_probe(precision, c=128, hw=28):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((c, c, 3, 3)).astype(np.float32) * 0.05
    if precision == "fp32":
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
        inits = [numpy_helper.from_array(w, "w")]
        x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
        xt, yt = TensorProto.FLOAT, TensorProto.FLOAT
    else:
        nodes = [helper.make_node("QLinearConv", ["x", "x_s", "x_z", "w", "w_s", "w_z", "y_s", "y_z"], ["y"],
                                  pads=[1, 1, 1, 1])]
        inits = ([numpy_helper.from_array((w * 100).astype(np.int8), "w"), *_scalars("x", 0.02, 128, np.uint8), *_scalars("w", 0.01, 0, np.int8), *_scalars("y", 0.05, 128, np.uint8)])
        x = rng.integers(0, 255, (1, c, hw, hw), dtype=np.uint8)
        xt, yt = TensorProto.UINT8, TensorProto.UINT8
    model = _graph(nodes, [helper.make_tensor_value_info("x", xt, x.shape)],
                   [helper.make_tensor_value_info("y", yt, None)], inits)
    return model, {"x": x}, c * c * 9 * hw * hw


def gemm_probe(precision, n=512):
    rng = np.random.default_rng(0)
    b = rng.standard_normal((n, n)).astype(np.float32) * 0.05
    if precision == "fp32":
        nodes = [helper.make_node("MatMul", ["x", "b"], ["y"])]
        inits = [numpy_helper.from_array(b, "b")]
        x = rng.standard_normal((n, n)).astype(np.float32)
        xt, yt = TensorProto.FLOAT, TensorProto.FLOAT
    else:
        nodes = [helper.make_node("QLinearMatMul", ["x", "x_s", "x_z", "b", "b_s", "b_z", "y_s", "y_z"], ["y"])]
        inits = ([numpy_helper.from_array((b * 100).astype(np.int8), "b"), *_scalars("x", 0.02, 128, np.uint8), *_scalars("b", 0.01, 0, np.int8), *_scalars("y", 0.05, 128, np.uint8)])
        x = rng.integers(0, 255, (n, n), dtype=np.uint8)
        xt, yt = TensorProto.UINT8, TensorProto.UINT8
    model = _graph(nodes, [helper.make_tensor_value_info("x", xt, x.shape)],
                   [helper.make_tensor_value_info("y", yt, None)], inits)
    return model, {"x": x}, n ** 3


def _best_ms(sess, feeds, repeats=15):
    for _ in range(3):
        sess.run(None, feeds)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, feeds)
        best = min(best, time.perf_counter() - t)
    return best * 1000


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("probe", ["conv3x3", "gemm"])
def test_peak(benchmark, probe, precision):
    model, feeds, macs = (conv_probe if probe == "conv3x3" else gemm_probe)(precision)
    sess = _session(model)
    benchmark.group = f"peak {probe}"
    benchmark.extra_info["gmac"] = macs / 1e9
    benchmark.pedantic(sess.run, args=(None, feeds), rounds=200, warmup_rounds=10)
    gmacs = macs / 1e9 / benchmark.stats.stats.min
    RESULTS[(probe, precision)] = gmacs
    print(f"\npeak {probe} {precision}: {gmacs:.1f} GMAC/s ({THREADS} threads)")


# network -> (input shape fed by facelens, dtype); CenterFace at a 640x480 photo's input
NETWORKS = {
    "centerface.onnx": ((1, 3, 480, 640), np.float32),
    "face_landmarks_detector.onnx": ((1, 256, 256, 3), np.float32),
    "dlib_face_recognition_resnet_v1.onnx": ((1, 3, 150, 150), np.float32),
    "person_detector.onnx": ((1, 300, 300, 3), np.uint8),
    "age_v1.onnx": ((1, 3, 64, 64), np.float32),
    "gender_v1.onnx": ((1, 3, 32, 32), np.float32),
    "emotion_mini_xception.onnx": ((1, 64, 64, 1), np.float32),
}


def count_macs(path, x):
    """MACs of the Conv/MatMul/Gemm nodes of an fp32 graph run on ``x``: the graph is run once with every operand
    of those nodes made an output, and each node's MACs follow from the shapes it met."""
    model = onnx.load(str(path))
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    have = {o.name for o in model.graph.output}
    wanted = []
    for n in nodes:
        for name in [*list(n.input[:2]), n.output[0]]:
            if name and name not in inits and name not in have and name not in wanted:
                wanted.append(name)
    model.graph.output.extend([onnx.ValueInfoProto(name=name) for name in wanted])
    sess = _session(model)
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))
    feed = {sess.get_inputs()[0].name: list(x.shape)}
    shape = {**{k: list(v.shape) for k, v in outs.items()}, **inits, **feed}
    total = 0
    for n in nodes:
        out = shape[n.output[0]]
        if n.op_type == "Conv":
            total += int(np.prod(out)) * int(np.prod(shape[n.input[1]][1:]))
        else:
            a = shape[n.input[0]]
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            total += int(np.prod(out)) * int(a[-2] if trans_a else a[-1])
    return total


def _peak(precision):
    found = [v for (probe, p), v in RESULTS.items() if p == precision]
    return max(found) if found else None


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_network(benchmark, network, precision):
    shape, dtype = NETWORKS[network]
    file = registry.model_file(network, "int8-all" if precision == "int8" else "fp32")
    if precision == "int8" and file == network:
        pytest.skip(f"{network} has no int8 file")
    sess = _session(str(registry.path(file)))
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 255, shape).astype(dtype) if dtype == np.uint8 else rng.random(shape, dtype=np.float32))
    macs = count_macs(registry.path(network), x)
    benchmark.group = f"network {network}"
    benchmark.pedantic(sess.run, args=(None, {sess.get_inputs()[0].name: x}), rounds=40, warmup_rounds=3)
    ms = benchmark.stats.stats.min * 1000
    gmacs = macs / 1e9 / (ms / 1000)
    peak = _peak(precision)
    share = f"{gmacs / peak:.0%} of the {precision} peak" if peak else ""
    benchmark.extra_info.update(gmac=macs / 1e9, ms=ms)
    print(f"\n{network} {precision}: {macs / 1e9:.3f} GMAC, {ms:.2f} ms, {gmacs:.1f} GMAC/s {share}")


# ---- what the landmark networks' structure leaves on the table ---------------------------------------------------

def _relu_only_facemesh(dst):
    """FaceMesh with every PRelu made a plain Relu (the wrong answer, the right amount of other work), then given
    the same NCHWc rewrite as the shipped file: the time no folding of the PRelus into their convolutions could
    beat."""
    from tools.quantize_int8 import nchwc_rewrite

    model = onnx.load(str(registry.path("face_landmarks_detector.onnx")))
    producer = {o: n for n in model.graph.node for o in n.output}
    dropped = set()
    for node in model.graph.node:  # Add(Relu(x), Mul(Min(x, 0), slope)) -> Relu(x)
        kinds = {producer[i].op_type: producer[i] for i in node.input if i in producer}
        if node.op_type == "Add" and set(kinds) == {"Relu", "Mul"}:
            mul = kinds["Mul"]
            dropped |= {id(node), id(mul), id(producer[mul.input[0]])}
            kinds["Relu"].output[0] = node.output[0]
    kept = [n for n in model.graph.node if id(n) not in dropped]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    used = {i for n in kept for i in n.input}
    inits = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    src = dst.with_name("relu_only.onnx")
    onnx.save(model, str(src))
    nchwc_rewrite(src, dst)
    return len(dropped) // 3


def test_facemesh_prelu_bound(benchmark, tmp_path):
    """One crop on one thread, as the crops run: the shipped NCHWc file against the same graph without PRelus."""
    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    bound = tmp_path / "relu_only.nchwc.onnx"
    count = _relu_only_facemesh(bound)
    shipped = _session(str(registry.path(registry.model_file("face_landmarks_detector.onnx", "fp32"))), threads=1)
    relu = _session(str(bound), threads=1)
    name = shipped.get_inputs()[0].name
    times = {"shipped": [], "relu": []}
    for _ in range(40):  # interleaved, so that both see the same machine
        for key, sess in (("shipped", shipped), ("relu", relu)):
            times[key].append(_best_ms(sess, {name: x}, repeats=3))
    benchmark.group = "facemesh prelu bound"
    benchmark.pedantic(shipped.run, args=(None, {name: x}), rounds=20, warmup_rounds=3)
    med = {k: float(np.median(v)) for k, v in times.items()}
    benchmark.extra_info.update(shipped_ms=med["shipped"], relu_only_ms=med["relu"], prelus=count)
    print(f"\nFaceMesh crop, 1 thread (median of 40 best-of-3): shipped {med['shipped']:.2f} ms, with its {count} "
          f"PRelus made Relu {med['relu']:.2f} ms ({med['relu'] / med['shipped']:.2f}x)")


def _batched_blendshapes(dst):
    """The blendshape network with its batch axis free (it was converted with batch 1 fixed in its Reshapes, its
    extra token and its last Slice), so that one run takes every face."""
    model = onnx.load(str(registry.path("face_blendshapes.onnx")))
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    added, nodes = [], []

    def const(name, value):
        added.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        return name

    for node in graph.node:
        if node.op_type == "Reshape" and node.input[1] in consts:
            shape = consts[node.input[1]].copy()
            shape[0] = 0 if len(shape) == 4 else -1  # 0: the input's batch
            node.input[1] = const(f"{node.input[1]}_{node.name}_batch", shape)
        elif node.op_type == "Concat" and any(i in consts for i in node.input):
            token = next(i for i in node.input if i in consts)
            other = next(i for i in node.input if i not in consts)
            nodes += [helper.make_node("Shape", [other], [f"{token}_shape"], start=0, end=1),
                      helper.make_node("Concat", [f"{token}_shape", const(f"{token}_rest", consts[token].shape[1:])],
                                       [f"{token}_target"], axis=0),
                      helper.make_node("Expand", [token, f"{token}_target"], [f"{token}_batched"])]
            node.input[list(node.input).index(token)] = f"{token}_batched"
        elif node.op_type == "Slice" and node.input[0] == graph.node[-3].output[0]:
            ends = consts[node.input[2]].copy()
            ends[0] = np.iinfo(np.int32).max
            node.input[2] = const(f"{node.input[2]}_batch", ends)
        if node.op_type == "Squeeze" and node.output[0] == graph.output[0].name:
            nodes[-1].output[0] = node.output[0]  # [N, 52]: no squeeze
            continue
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added)
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    del graph.output[0].type.tensor_type.shape.dim[:]
    model.opset_import[0].version = max(model.opset_import[0].version, 15)  # Shape's start/end
    onnx.save(model, str(dst))


def test_blendshapes_batched(benchmark, tmp_path):
    """Six faces' blendshapes on one thread: six runs of the shipped file against one run of a batched copy."""
    x = np.random.default_rng(0).uniform(20, 220, (6, 146, 2)).astype(np.float32)
    shipped = _session(str(registry.path("face_blendshapes.onnx")), threads=1)
    batched_file = tmp_path / "face_blendshapes.batched.onnx"
    _batched_blendshapes(batched_file)
    batched = _session(str(batched_file), threads=1)
    name = shipped.get_inputs()[0].name
    one_by_one = np.concatenate([shipped.run(None, {name: x[i:i + 1]})[0].reshape(1, 52) for i in range(6)])
    assert np.abs(batched.run(None, {name: x})[0].reshape(6, 52) - one_by_one).max() < 1e-4
    times = {"single": [], "batch": []}
    for _ in range(40):
        times["single"].append(_best_ms(_Runs(shipped, name, x), {}, repeats=3))
        times["batch"].append(_best_ms(batched, {name: x}, repeats=3))
    benchmark.group = "blendshapes batched"
    benchmark.pedantic(batched.run, args=(None, {name: x}), rounds=20, warmup_rounds=3)
    med = {k: float(np.median(v)) for k, v in times.items()}
    benchmark.extra_info.update(six_runs_ms=med["single"], one_batch_ms=med["batch"])
    print(f"\nblendshapes, 6 faces, 1 thread (median of 40 best-of-3): 6 runs {med['single']:.2f} ms, one batched run "
          f"{med['batch']:.2f} ms ({med['batch'] / med['single']:.2f}x)")


class _Runs:
    """``run`` = one run of the shipped blendshape file per face (what the engine does)."""

    def __init__(self, sess, name, x):
        self.sess, self.name, self.x = sess, name, x

    def run(self, _outputs, _feeds):
        return [self.sess.run(None, {self.name: self.x[i:i + 1]}) for i in range(len(self.x))]
