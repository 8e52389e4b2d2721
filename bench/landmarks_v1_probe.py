"""MediaPipe's older, smaller landmark network (468 points, 192 px, no irises) in place of the 478-point one:
its time per crop and the pose and landmark accuracy of DetectFaces DEFAULT with it, beside the shipped network.

    # once, in a throw-away venv (tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnx==1.16.2 "numpy<2"):
    pip download --no-deps mediapipe==0.10.21    # face_landmark.tflite is mediapipe/modules/face_landmark/ in it
    python -m tf2onnx.convert --tflite face_landmark.tflite --output /tmp/face_landmark_v1.onnx --opset 13
    # then, with facelens installed:
    python -m bench.landmarks_v1_probe /tmp/face_landmark_v1.onnx

The probe gives the network the same PRelu rewrite as the shipped one (tools/convert's decomposition, then
tools/quantize_int8.py's NCHWc rewrite) so that both run in onnxruntime's blocked layout, and fills the ten iris points it lacks with the centres of the eye rings (the accuracy rows below use
none of them). Accuracy: bench/accuracy.py's pose and landmark parts, same data and method.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tools.convert.face_chain import _decompose_prelu
from tools.quantize_int8 import nchwc_rewrite

import bench.accuracy as accuracy
from facelens.engine.mesh import FaceMesh
from facelens.models import registry

LEFT_RING = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
RIGHT_RING = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]


def blocked_layout_rewrite(src: Path, dst: Path) -> dict:
    """The converter's PRelu decomposition, then the NCHWc rewrite the shipped network gets."""
    import onnx

    model = onnx.load(str(src))
    _decompose_prelu(model.graph)
    decomposed = dst.with_suffix(".decomposed.onnx")
    onnx.save(model, str(decomposed))
    return nchwc_rewrite(decomposed, dst)


class V1Session:
    """Duck-types the landmark session: 192 px crops in, 478 points (irises filled) and presence out."""

    def __init__(self, path: Path, threads: int = 2):
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def get_inputs(self):
        class Input:
            name, shape = "image", [1, 192, 192, 3]
        return [Input]

    def run(self, names, feeds):
        (x,) = feeds.values()
        raws, presence = [], []
        for i in range(len(x)):
            r, p = self.session.run(None, {self.input: x[i:i + 1]})
            pts = r.reshape(468, 3)
            iris = [pts[LEFT_RING].mean(0)] * 5 + [pts[RIGHT_RING].mean(0)] * 5
            raws.append(np.concatenate([pts, np.array(iris)]).reshape(1, -1))
            presence.append(p.reshape(1, 1))
        return np.concatenate(raws), np.concatenate(presence), None


class V1Mesh(FaceMesh):
    """FaceMesh cutting 192 px crops (the module's 256 is the shipped network's)."""

    def run(self, rgb, boxes, points5, mirror_average=False, refine=False):
        import facelens.engine.mesh as mesh

        saved = mesh.CROP, mesh.roi_affine.__defaults__
        mesh.CROP, mesh.roi_affine.__defaults__ = 192, (192, mesh.ROI_SCALE)
        try:
            return super().run(rgb, boxes, points5, mirror_average, refine)
        finally:
            mesh.CROP, mesh.roi_affine.__defaults__ = saved


def crop_times(v1: Path, rounds: int = 4, runs: int = 30) -> None:
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.log_severity_level = 3
    shipped = ort.InferenceSession(str(registry.path("face_landmarks_detector.nchwc.onnx")), o,
                                   providers=["CPUExecutionProvider"])
    small = ort.InferenceSession(str(v1), o, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    b = np.random.default_rng(0).random((1, 192, 192, 3), dtype=np.float32)
    for r in range(rounds):
        t = time.perf_counter()
        for _ in range(runs):
            shipped.run(None, {"image": a})
        ta = (time.perf_counter() - t) / runs
        t = time.perf_counter()
        for _ in range(runs):
            small.run(None, {small.get_inputs()[0].name: b})
        tb = (time.perf_counter() - t) / runs
        print(f"one crop, one thread, round {r + 1}: shipped {ta * 1e3:.2f} ms, v1 {tb * 1e3:.2f} ms "
              f"({tb / ta:.2f}x)")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        v1 = Path(tmp) / "face_landmark_v1.blocked.onnx"
        print(f"rewritten for the blocked layout: {blocked_layout_rewrite(Path(sys.argv[1]), v1)}")
        crop_times(v1)
        for label in ("shipped", "v1"):
            runner = accuracy.Runner()
            if label == "v1":
                m = runner.client.engine.mesh
                runner.client.engine.mesh = V1Mesh(V1Session(v1), m.blendshapes, m.blend_idx, m.mirror_perm)
            rows = []
            accuracy.pose(runner, rows)
            accuracy.landmarks(runner, rows)
            for name, value, note in rows:
                print(f"{label}: {name}: {value} ({note})")


if __name__ == "__main__":
    main()
