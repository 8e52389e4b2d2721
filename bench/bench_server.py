"""Endpoint overhead and worker scaling: ``python bench/bench_server.py [--requests N]``.

1. Overhead: one boto3 client calling DetectFaces through the endpoint vs ``facelens.Client.detect_faces`` in
   process, on a ~100 KB JPEG (sample.jpg scaled up), sequentially; medians and their difference.
2. Throughput: ``facelens serve --workers 1`` and ``--workers 2`` (subprocesses, FACELENS_THREADS=1 per worker),
   4 concurrent boto3 clients, requests per second.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import cv2
from botocore.config import Config

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boto(url, read_timeout: float = 60):
    return boto3.client("rekognition", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="y",
                        config=Config(retries={"max_attempts": 1}, read_timeout=read_timeout))


def overhead(image: bytes, n: int) -> None:
    import uvicorn

    from facelens.server.run import uvicorn_settings

    client = facelens.Client(home=tempfile.mkdtemp())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    settings = uvicorn_settings()
    settings.pop("workers")
    server = uvicorn.Server(uvicorn.Config(create_app(client), log_level="warning", **settings))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    rek = boto(f"http://127.0.0.1:{sock.getsockname()[1]}")
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
    server.should_exit = True


@contextlib.contextmanager
def serve_process(env: dict, *args: str):
    """`facelens serve` in a subprocess on a free loopback port with ``env``; yields its URL once it answers, and
    stops it by its pid when the block ends."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "facelens", "serve", "--port", str(port), *args], env=env,
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                boto(url).list_collections()
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(60)


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
