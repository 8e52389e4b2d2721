"""Endpoint overhead and worker scaling: ``python -m bench.bench_server [--requests N]``.

1. Overhead: one boto3 client calling DetectFaces through the endpoint vs ``facelens.Client.detect_faces`` in
   process, on a ~100 KB JPEG (sample.jpg scaled up), sequentially; medians and their difference.
2. Throughput: ``facelens serve --workers 1`` and ``--workers 2`` (subprocesses, FACELENS_THREADS=1 per worker),
   4 concurrent boto3 clients, requests per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
from tests.support.endpoint import ThreadedEndpoint, boto, serve_process

import facelens
from facelens.server import create_app


def jpeg_100k() -> bytes:
    img = cv2.imread(str(Path(facelens.__file__).parent / "data" / "sample.jpg"))
    img = cv2.resize(img, (720, 720), interpolation=cv2.INTER_CUBIC)
    for q in range(95, 40, -5):
        data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()
        if len(data) <= 110_000:
            return data
    return data


def overhead(image: bytes, n: int) -> None:
    client = facelens.Client(home=tempfile.mkdtemp())
    server = ThreadedEndpoint(create_app(client))
    rek = boto(server.url)
    for _ in range(5):
        client.detect_faces(Image={"Bytes": image})
        rek.detect_faces(Image={"Bytes": image})
    local, remote = [], []
    for _ in range(n):  # interleaved so drift hits both alike
        t = time.perf_counter()
        client.detect_faces(Image={"Bytes": image})
        local.append(time.perf_counter() - t)
        t = time.perf_counter()
        rek.detect_faces(Image={"Bytes": image})
        remote.append(time.perf_counter() - t)
    ml, mr = statistics.median(local) * 1e3, statistics.median(remote) * 1e3
    print(f"JPEG {len(image)} bytes, {n} calls each: in-process {ml:.1f} ms, boto3 via endpoint {mr:.1f} ms, "
          f"overhead {mr - ml:.1f} ms (median)")
    server.stop()


def throughput(image: bytes, workers: int, n: int, clients: int = 4) -> float:
    env = dict(os.environ, FACELENS_HOME=tempfile.mkdtemp(), FACELENS_THREADS="1")
    with serve_process(env, "--workers", str(workers)) as url:
        rek = [boto(url) for _ in range(clients)]
        with ThreadPoolExecutor(clients) as pool:  # warm every worker
            list(pool.map(lambda i: rek[i % clients].detect_faces(Image={"Bytes": image}), range(4 * clients)))
            t = time.perf_counter()
            list(pool.map(lambda i: rek[i % clients].detect_faces(Image={"Bytes": image}), range(n)))
            rate = n / (time.perf_counter() - t)
    print(f"--workers {workers}: {rate:.1f} DetectFaces/s ({clients} concurrent clients, {n} requests)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    image = jpeg_100k()
    overhead(image, args.requests)
    throughput(image, 1, args.requests // 2, clients=1)
    one = throughput(image, 1, args.requests)
    two = throughput(image, 2, args.requests)
    print(f"2 workers / 1 worker: {two / one:.2f}x")


if __name__ == "__main__":
    main()
