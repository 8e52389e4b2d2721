"""Memory and latency under hostile input: ``python -m bench.bench_hostile [--rounds N] [--idle N]``.

1. Peak RSS of a fresh process (VmHWM) that runs DetectFaces with ALL attributes on one worst-case image:
   the largest progressive JPEGs accepted (4:4:4 and 4:2:0 just under the coefficient limit), an 80 MP baseline
   JPEG, and the refused bombs (a progressive 8940x8940 4:2:0 and a progressive 80 MP 4:4:4).
2. ``facelens serve`` (a subprocess) under 4 concurrent clients sending worst-case accepted images for several
   rounds: the server's peak RSS (VmHWM) and its RSS afterwards (VmRSS), from /proc.
3. Request latency with N idle connections held (never sending a byte) against none: medians of ListCollections
   and DetectFaces on sample.jpg.

The images are made here with OpenCV (smooth random colour fields), so nothing large is stored in the repository.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tests.support.endpoint import boto as endpoint_client
from tests.support.endpoint import free_port

import facelens

HERE = Path(__file__).resolve().parent


def field(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 64 + 1, w // 64 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def jpeg(w: int, h: int, sampling: int, progressive: bool, quality: int = 40) -> bytes:
    ok, buf = cv2.imencode(".jpg", field(w, h), [cv2.IMWRITE_JPEG_QUALITY, quality,
                                                 cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive),
                                                 cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling])
    assert ok
    return buf.tobytes()


def images() -> dict:
    s444, s420 = cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420
    return {
        "progressive 4:4:4 5456x4096 (accepted, at the limit)": jpeg(5456, 4096, s444, True),
        "progressive 4:2:0 7744x5776 (accepted, at the limit)": jpeg(7744, 5776, s420, True),
        "baseline 4:4:4 10000x7990 (accepted, 80 MP)": jpeg(10000, 7990, s444, False),
        "progressive 4:2:0 8940x8940 (refused)": jpeg(8940, 8940, s420, True, quality=10),
        "progressive 4:4:4 10000x7990 (refused)": jpeg(10000, 7990, s444, True),
    }


FRESH = """
import sys, tempfile, facelens
c = facelens.Client(home=tempfile.mkdtemp())
c.store.put("bench", "x.jpg", open(sys.argv[1], "rb").read())
try:
    out = "%d faces" % len(c.detect_faces(Image={"S3Object": {"Bucket": "bench", "Name": "x.jpg"}},
                                           Attributes=["ALL"])["FaceDetails"])
except facelens.errors.ClientError as e:
    out = e.code
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]  # ru_maxrss keeps the parent's over exec
print("%.0f %s" % (int(hwm.split()[1]) / 1024, out))
"""


def fresh_process(imgs: dict, tmp: Path) -> None:
    print("\n1. fresh process, DetectFaces ALL: peak RSS")
    print("| image | bytes | answer | peak RSS |\n|---|---|---|---|")
    for name, data in imgs.items():
        path = tmp / "img.jpg"
        path.write_bytes(data)
        out = subprocess.run([sys.executable, "-c", FRESH, str(path)], capture_output=True, text=True, check=True)
        peak, answer = out.stdout.split(" ", 1)
        print(f"| {name} | {len(data) / 1e6:.2f} MB | {answer.strip()} | {peak} MB |")


def proc_mem(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) / 1024
    return out


def boto(url):
    return endpoint_client(url, read_timeout=300)


def start_server(home: str):
    port = free_port()
    env = dict(os.environ, FACELENS_HOME=home)
    proc = subprocess.Popen([sys.executable, "-m", "facelens", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    url = f"http://127.0.0.1:{port}"
    boto(url).list_collections()  # models preloaded at startup; this waits for it
    return proc, url


def serve_concurrent(imgs: dict, rounds: int) -> None:
    accepted = [d for n, d in imgs.items() if "accepted" in n]
    proc, url = start_server(tempfile.mkdtemp())
    try:
        before = proc_mem(proc.pid)

        def worker(i):
            rek = boto(url)
            codes = []
            for r in range(rounds):
                data = accepted[(i + r) % len(accepted)]
                try:
                    rek.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])
                    codes.append("200")
                except rek.exceptions.ClientError as e:
                    codes.append(e.response["Error"]["Code"])
            return codes

        small = [d for d in accepted if len(d) <= 5 * 1024 * 1024]
        accepted[:] = small
        t = time.time()
        with ThreadPoolExecutor(4) as pool:
            codes = [c for batch in pool.map(worker, range(4)) for c in batch]
        elapsed = time.time() - t
        time.sleep(1)
        after = proc_mem(proc.pid)
        print(f"\n2. facelens serve, 4 concurrent clients x {rounds} worst-case accepted images "
              f"({len(small)} kinds, {elapsed:.0f} s): answers {sorted(set(codes))}")
        print(f"   RSS idle after startup {before['VmRSS']:.0f} MB, peak {after['VmHWM']:.0f} MB, "
              f"after the requests {after['VmRSS']:.0f} MB")
    finally:
        proc.terminate()
        proc.wait(60)


def idle_flood(n_idle: int) -> None:
    sample = (Path(facelens.__file__).parent / "data" / "sample.jpg").read_bytes()
    proc, url = start_server(tempfile.mkdtemp())
    port = int(url.rsplit(":", 1)[1])
    try:
        def timed(rek, n=20):
            out = {}
            for op, call in (("ListCollections", lambda: rek.list_collections()),
                             ("DetectFaces", lambda: rek.detect_faces(Image={"Bytes": sample}))):
                call()
                ts = []
                for _ in range(n):
                    t = time.perf_counter()
                    call()
                    ts.append(time.perf_counter() - t)
                out[op] = statistics.median(ts) * 1000
            return out

        quiet = timed(boto(url))
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(n_idle)]
        time.sleep(0.5)
        flooded = timed(boto(url))
        fresh_conn = []
        for _ in range(10):  # a new connection per request, as a client without keep-alive
            t = time.perf_counter()
            boto(url).list_collections()
            fresh_conn.append(time.perf_counter() - t)
        for s in socks:
            s.close()
        print(f"\n3. latency (median of 20) with {n_idle} idle connections held vs none")
        print("| request | no idle connections | with idle connections |\n|---|---|---|")
        for op in quiet:
            print(f"| {op} | {quiet[op]:.1f} ms | {flooded[op]:.1f} ms |")
        print(f"| new client + ListCollections | | {statistics.median(fresh_conn) * 1000:.1f} ms |")
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--only", choices=("fresh", "serve", "idle"))
    args = ap.parse_args()
    imgs = images()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "fresh"):
            fresh_process(imgs, Path(tmp))
        if args.only in (None, "serve"):
            serve_concurrent(imgs, args.rounds)
        if args.only in (None, "idle"):
            idle_flood(args.idle)


if __name__ == "__main__":
    main()
