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
