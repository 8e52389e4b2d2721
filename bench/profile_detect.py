"""Where one DetectFaces call spends its time, stage by stage (decode, detector, crops + mesh, pose, quality, rest).

    python -m bench.profile_detect [--precision int8|fp32] [--repeats 30]

The stages are timed by wrapping the functions the pipeline calls (the sum over the call of each wrapped
function); "Python and response" is the call's time less every timed stage. Images: the 640x480 JPEGs of
bench_detect.py (one face: fr_obama.jpg, six: if_t1.jpg). Median over ``--repeats`` calls after a warm-up.
"""

import argparse
import time
from collections import defaultdict

import numpy as np

import facelens
from bench.bench_detect import PHOTOS, _jpeg_640x480
from facelens import _core, images, pipeline


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--precision", default=None)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    client = facelens.Client(precision=args.precision)
    engine = client.engine
    spent = defaultdict(float)

    def timed(label, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[label] += time.perf_counter() - t
        return wrapper

    images.decode = timed("decode", images.decode)
    real = engine.detector.session
    engine.detector.session = type("Timed", (), {"run": staticmethod(timed("detector network", real.run)),
                                                 "get_inputs": real.get_inputs})()
    engine.detector._detect = timed("detector (pre/post)", engine.detector._detect)
    engine.mesh.session.run = timed("mesh network", engine.mesh.session.run)
    # the crops are cut inside the pool tasks that run them: this timer holds both
    engine.mesh.session.run_items = timed("mesh network", engine.mesh.session.run_items)
    engine.mesh.run = timed("mesh (crops + network)", engine.mesh.run)
    pipeline._core = type("CoreTimed", (), {})()
    for name in dir(_core):
        if not name.startswith("_"):
            fn = getattr(_core, name)
            label = {"head_pose": "pose", "rotation_to_euler": "pose", "face_quality": "quality"}.get(name, "core")
            setattr(pipeline._core, name, timed(label, fn) if callable(fn) else fn)

    print(f"precision {engine.precision}, {engine.threads or 'default'} threads; median ms of {args.repeats} calls")
    for photo, rel in PHOTOS.items():
        data = _jpeg_640x480(rel)
        client.detect_faces(Image={"Bytes": data})
        rows = defaultdict(list)
        for _ in range(args.repeats):
            spent.clear()
            t = time.perf_counter()
            client.detect_faces(Image={"Bytes": data})
            total = time.perf_counter() - t
            for k, v in spent.items():
                rows[k].append(v * 1000)
            inner = (spent["decode"] + spent["detector (pre/post)"] + spent["mesh (crops + network)"]
                     + spent["pose"] + spent["quality"])
            rows["total"].append(total * 1000)
            rows["Python and response"].append((total - inner) * 1000)
        det = np.median(rows["detector (pre/post)"])
        net = np.median(rows["detector network"])
        mesh = np.median(rows["mesh (crops + network)"])
        mnet = np.median(rows["mesh network"])
        print(f"\n{photo}: total {np.median(rows['total']):.1f}")
        print(f"  decode                      {np.median(rows['decode']):6.1f}")
        print(f"  detector network            {net:6.1f}")
        print(f"  detector letterbox/decode   {det - net:6.1f}")
        print(f"  mesh network and crops      {mnet:6.1f}")
        print(f"  mesh ROI and point mapping  {mesh - mnet:6.1f}")
        print(f"  pose                        {np.median(rows['pose']):6.1f}")
        print(f"  quality                     {np.median(rows['quality']):6.1f}")
        print(f"  Python and response         {np.median(rows['Python and response']):6.1f}")


if __name__ == "__main__":
    main()
