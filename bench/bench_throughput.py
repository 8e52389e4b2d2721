"""Throughput under concurrent callers: ``python -m bench.bench_throughput [--seconds 4] [--precision int8]``.

DetectFaces (DEFAULT) on the 640x480 JPEGs of bench_detect.py (one face: fr_obama.jpg, six: if_t1.jpg), with 1, 2,
4 and 8 callers at once:

- in process: that many threads sharing one ``facelens.Client``;
- through the endpoint: ``facelens serve`` (one worker, the default engine threads) in a subprocess, that many
  boto3 clients on threads of this process.

Each configuration runs for ``--seconds`` after a warm-up; images/s = completed calls / elapsed. The ratio to the
best single-caller rate of the same mode is what the README quotes (the machine is shared, absolute rates drift).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

from tests.support.endpoint import boto, serve_process

import facelens
from bench.bench_detect import PHOTOS, _jpeg_640x480

CALLERS = (1, 2, 4, 8)


def rate(call, callers: int, seconds: float) -> float:
    for _ in range(2):
        call(0)
    done = [0] * callers
    stop = time.perf_counter() + seconds

    def loop(k):
        while time.perf_counter() < stop:
            call(k)
            done[k] += 1

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(callers)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(done) / (time.perf_counter() - t)


def table(label, call_for, seconds):
    for photo, rel in PHOTOS.items():
        data = _jpeg_640x480(rel)
        rates = {n: rate(call_for(data, n), n, seconds) for n in CALLERS}
        best = rates[1]
        cells = "  ".join(f"{n} callers {r:5.1f}/s ({r / best:.2f}x)" for n, r in rates.items())
        print(f"{label:11s} {photo:6s}  {cells}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--precision", default=None)
    ap.add_argument("--in-process-only", action="store_true")
    args = ap.parse_args()

    client = facelens.Client(home=tempfile.mkdtemp(), precision=args.precision)
    print(f"precision {client.engine.precision}; images/s and the ratio to one caller")
    table("in-process", lambda data, n: (lambda k: client.detect_faces(Image={"Bytes": data})), args.seconds)
    if args.in_process_only:
        return

    env = dict(os.environ, FACELENS_HOME=tempfile.mkdtemp())
    if args.precision:
        env["FACELENS_PRECISION"] = args.precision
    with serve_process(env) as url:
        def call_for(data, n):
            clients = [boto(url) for _ in range(n)]
            return lambda k: clients[k].detect_faces(Image={"Bytes": data})

        table("endpoint", call_for, args.seconds)

if __name__ == "__main__":
    main()
