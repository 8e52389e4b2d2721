"""facelens beside the peers it is measured against, in one run: ``python -m bench.bench_peers --peers-python PY``.

PY is an interpreter of a throw-away venv holding the peers (never facelens dependencies):
``python -m venv /tmp/peers && /tmp/peers/bin/pip install deface onnx==1.16.2 "protobuf<5" mediapipe==0.10.21
onnxruntime opencv-python-headless dlib-bin face_recognition_models Click Pillow && /tmp/peers/bin/pip install
--no-deps face_recognition`` (dlib-bin is dlib's prebuilt wheel; face_recognition's own requirement names the
``dlib`` sdist, which would be compiled).

Each contender runs in its own process (facelens in this interpreter, the peers in PY), 2 onnxruntime/TFLite
threads each, and the rounds are interleaved (A, B, C, A, B, C, ...) so that a busy neighbour slows all alike.
Every call starts from the JPEG bytes of a 640x480 photo (bench_detect.py's: one face, six faces):

- facelens: ``Client().detect_faces`` with DEFAULT (and with precision="fp32");
- CenterFace (deface as shipped): deface 1.5's ``CenterFace`` with its own onnxruntime session of its
  centerface.onnx (fp32, CPU provider, onnxruntime's default threads) on the decoded frame, threshold 0.5;
- CenterFace alone: the same code with its session on facelens's fp32 centerface.onnx (the same weights with the
  initializers taken out of the graph inputs, which lets onnxruntime fold the batch norms), 2 threads, no
  spinning: the network at its best in fp32 plus deface's resize and decode;
- MediaPipe: the FaceMesh solution of mediapipe 0.10.21 (BlazeFace + 478-point landmarks with irises,
  ``static_image_mode``, up to 8 faces) on the decoded frame;
- face_recognition 1.3 (dlib 20): ``face_locations`` (its default HOG detector, one upsampling) and
  ``face_landmarks`` (68 points) on the decoded frame; dlib's HOG runs on one thread.

Printed: the median ms of each and its ratio to CenterFace alone, wall clock and CPU time (the process's, all its
threads: on a shared machine the CPU time moves less with the neighbours' load than the wall clock does).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.bench_detect import PHOTOS, _jpeg_640x480

WORKER = r'''
import json, sys, time
import numpy as np
kind = sys.argv[1]
if kind.startswith("facelens"):
    import facelens
    client = facelens.Client(precision=kind.split(":")[1])
    def run(data):
        return len(client.detect_faces(Image={"Bytes": data})["FaceDetails"])
else:
    import os
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    import cv2
    if kind.startswith("centerface"):
        from deface.centerface import CenterFace
        cf = CenterFace(in_shape=(640, 480), backend="onnxrt", override_execution_provider="CPUExecutionProvider")
        if kind.startswith("centerface:facelens-file"):
            import onnxruntime
            so = onnxruntime.SessionOptions()
            so.intra_op_num_threads = 2
            so.add_session_config_entry("session.intra_op.allow_spinning", "1" if kind.endswith("spin") else "0")
            cf.sess = onnxruntime.InferenceSession(sys.argv[2], so, providers=["CPUExecutionProvider"])
            cf.onnx_input_name, cf.onnx_output_names = "input", ["heatmap", "scale", "offset", "landmarks"]
        def run(data):
            frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            dets, _ = cf(frame, threshold=0.5)
            return len(dets)
    elif kind == "face_recognition":
        import face_recognition
        def run(data):
            frame = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            boxes = face_recognition.face_locations(frame)  # HOG, one upsampling: its default
            face_recognition.face_landmarks(frame, boxes)  # 68 points
            return len(boxes)
    else:
        import mediapipe as mp
        mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=8, refine_landmarks=True)
        def run(data):
            frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            res = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            return len(res.multi_face_landmarks or [])
for line in sys.stdin:
    path, n = line.split()
    data = open(path, "rb").read()
    faces = run(data)
    times, cpu = [], []
    for _ in range(int(n)):
        c = time.process_time(); t = time.perf_counter(); run(data)
        times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    print(json.dumps({"faces": faces, "ms": [x * 1000 for x in times], "cpu_ms": [x * 1000 for x in cpu]}),
          flush=True)
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers-python", required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calls", type=int, default=5)
    args = ap.parse_args()
    tmp = Path("/tmp/facelens-bench-peers")
    tmp.mkdir(exist_ok=True)
    files = {}
    for photo, rel in PHOTOS.items():
        files[photo] = tmp / f"{photo}.jpg"
        files[photo].write_bytes(_jpeg_640x480(rel))
    contenders = {"facelens int8": (sys.executable, "facelens:int8"),
                  "facelens fp32": (sys.executable, "facelens:fp32"),
                  "CenterFace (deface as shipped)": (args.peers_python, "centerface"),
                  "CenterFace alone": (args.peers_python, "centerface:facelens-file"),
                  "CenterFace alone, spinning": (args.peers_python, "centerface:facelens-file:spin"),
                  "MediaPipe FaceMesh": (args.peers_python, "mediapipe"),
                  "face_recognition (dlib HOG)": (args.peers_python, "face_recognition")}
    from facelens.models import registry

    fp32_file = str(registry.path("centerface.onnx"))
    procs = {name: subprocess.Popen([py, "-c", WORKER, kind, fp32_file], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True) for name, (py, kind) in contenders.items()}
    try:
        for photo, path in files.items():
            times = {name: [] for name in procs}
            cpu = {name: [] for name in procs}
            faces = {}
            for _ in range(args.rounds):
                for name, p in procs.items():
                    p.stdin.write(f"{path} {args.calls}\n")
                    p.stdin.flush()
                    line = p.stdout.readline()
                    while line and not line.startswith("{"):  # a library's own print
                        line = p.stdout.readline()
                    out = json.loads(line)
                    faces[name] = out["faces"]
                    times[name] += out["ms"]
                    cpu[name] += out["cpu_ms"]
            ref = statistics.median(times["CenterFace alone"])
            cpu_ref = statistics.median(cpu["CenterFace alone"])
            print(f"\n{photo} (640x480 JPEG), median of {args.rounds * args.calls} calls each, interleaved "
                  "(wall clock; CPU time of the process, all its threads):")
            for name, t in times.items():
                m, c = statistics.median(t), statistics.median(cpu[name])
                print(f"  {name:30s} {m:7.1f} ms  {m / ref:5.2f}x CenterFace alone   CPU {c:7.1f} ms  "
                      f"{c / cpu_ref:5.2f}x  ({faces[name]} faces)")
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait(30)


if __name__ == "__main__":
    main()
