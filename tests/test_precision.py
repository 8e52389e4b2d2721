"""precision="int8"|"fp32" and execution providers: how they reach the onnxruntime sessions, and that the int8
detector finds the faces the fp32 one finds."""

import json

import numpy as np
import pytest

import facelens
from facelens.errors import ModelError
from facelens.models import registry
from facelens.pipeline import Engine
from tests.support.data import DATA


def test_precision_is_validated_and_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("FACELENS_PRECISION", raising=False)
    assert facelens.Settings.from_env().precision == "int8"
    monkeypatch.setenv("FACELENS_PRECISION", "FP32")
    assert facelens.Settings.from_env().precision == "fp32"
    assert facelens.Settings.from_env(precision="int8").precision == "int8"  # the argument wins over the environment
    with pytest.raises(ValueError, match="precision must be one of"):
        facelens.Client(precision="int4")


def test_int8_files_are_listed_with_checksums_and_quantised_from_the_shipped_fp32_file():
    manifest = json.loads((registry.MODELS_DIR / "manifest.json").read_text())
    quantised = {m["file"]: m["int8"] for m in manifest["models"].values() if m.get("int8")}
    assert quantised["gender_v1.onnx"]["default"] and not quantised["centerface.onnx"]["default"]
    for fp32_file, int8 in quantised.items():
        assert registry.model_file(fp32_file, "int8") == (int8["file"] if int8["default"] else fp32_file)
        assert registry.model_file(fp32_file, "int8-all") == int8["file"]
        assert registry.model_file(fp32_file, "fp32") == fp32_file
        assert int8["quantized_from_sha256"] == registry.entry(fp32_file)["sha256"]
        assert registry.path(int8["file"]).stat().st_size == int8["size_bytes"]  # path() checks the sha256
    # a network without an int8 file runs in fp32 either way
    assert registry.model_file("emotion_mini_xception.onnx", "int8") == "emotion_mini_xception.onnx"


def test_nchwc_rewrite_runs_on_the_cpu_and_gives_the_fp32_landmarks():
    import cv2
    import onnxruntime as ort

    rewrite = registry.entry("face_landmarks_detector.onnx")["nchwc"]
    assert rewrite["rewritten_from_sha256"] == registry.entry("face_landmarks_detector.onnx")["sha256"]
    for precision in ("int8", "fp32"):
        assert registry.model_file("face_landmarks_detector.onnx", precision) == rewrite["file"]
    # another provider gets the plain fp32 graph (the rewrite only pays in the CPU provider's NCHWc layout)
    assert registry.model_file("face_landmarks_detector.onnx", "fp32",
                               ("CUDAExecutionProvider", "CPUExecutionProvider")) == "face_landmarks_detector.onnx"
    bgr = cv2.imread(str(DATA / "images/if_t1.jpg"))
    if bgr is None:
        pytest.skip("images/if_t1.jpg not available")
    from facelens import _core
    from facelens.engine.mesh import CROP, sampling_matrix

    engine = Engine(threads=1, precision="fp32")
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    det = engine.detector.detect(rgb)
    affines = engine.mesh.run(rgb, det.boxes, det.points).crop_to_image
    crops = np.stack([_core.warp_affine(rgb, sampling_matrix(a), CROP, CROP, (0.0, 0.0, 0.0), (1 / 255,) * 3)
                      for a in affines])
    outputs = []
    for file in (rewrite["file"], "face_landmarks_detector.onnx"):
        session = ort.InferenceSession(str(registry.path(file)), providers=["CPUExecutionProvider"])
        outputs.append(session.run(None, {"image": crops})[0].reshape(len(crops), 478, 3))
    assert len(crops) == 6 and np.abs(outputs[0] - outputs[1]).max() < 0.01  # px of the 256 px crop


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.data
@pytest.mark.parametrize("photo", ["images/if_t1.jpg", "images/fr_test_obama_and_biden.jpg"])
def test_int8_detector_finds_the_faces_fp32_finds(photo):
    import cv2

    bgr = cv2.imread(str(DATA / photo))
    if bgr is None:
        pytest.skip(f"{photo} not available")
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    fp32 = Engine(threads=2, precision="fp32").detector.detect(rgb)
    int8 = Engine(threads=2, precision="int8").detector.detect(rgb)
    assert len(fp32) >= 2 and len(int8) == len(fp32)
    for box in fp32.boxes:
        assert max(_iou(box, other) for other in int8.boxes) > 0.85


def test_providers_default_to_the_cpu_and_unknown_ones_are_refused(monkeypatch):
    monkeypatch.delenv("FACELENS_PROVIDERS", raising=False)
    assert facelens.Settings.from_env().providers == ("CPUExecutionProvider",)
    assert registry.cpu_only()
    monkeypatch.setenv("FACELENS_PROVIDERS", "NoSuchExecutionProvider, CPUExecutionProvider")
    providers = facelens.Settings.from_env().providers
    assert providers == ("NoSuchExecutionProvider", "CPUExecutionProvider")
    assert not registry.cpu_only(providers)
    with pytest.raises(ModelError, match="NoSuchExecutionProvider"):
        registry.session("gender_v1.onnx", 1, providers=providers)


@pytest.mark.data
def test_concurrent_callers_are_admitted_as_many_at_once_as_cores():
    import os
    import threading

    import cv2

    from facelens import images

    engine = Engine(threads=2)
    bgr = cv2.imread(str(DATA / "images/fr_obama.jpg"))
    if bgr is None:
        pytest.skip("photo not available")
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    image = images.DecodedImage(rgb=rgb, width=rgb.shape[1], height=rgb.shape[0], format="jpeg")
    running, most, lock = [0], [0], threading.Lock()
    detect = engine.detector.detect

    def counting_detect(x, *args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return detect(x, *args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    engine.detector.detect = counting_detect
    found = []
    threads = [threading.Thread(target=lambda: found.append(len(engine.analyze(image)))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [1] * 8
    assert 1 <= most[0] <= max(1, os.cpu_count() or 1)
