"""``facelens batch detect-faces SOURCE --out RESULTS.jsonl`` and ``facelens batch index-faces COLLECTION SOURCE
--out ...``: a progress bar on stderr, a summary as JSON on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

from ..contract import ATTRIBUTES


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_bar(done: int, total: int, rate: float, width: int = 30) -> str:
    fraction = done / total if total else 1.0
    filled = int(round(width * fraction))
    eta = _duration((total - done) / rate) if rate > 0 else "?"
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * fraction:5.1f}% {done}/{total} images "
            f"{rate:5.1f} images/s ETA {eta} ")


def _show_progress(stream: TextIO = sys.stderr) -> Callable[[int, int, float], None]:
    """The bar's rate counts from the first image done, so the workers' start (loading the networks) does not
    make the first ETAs too long."""
    first: Dict[str, float] = {}

    def show(done: int, total: int, seconds: float) -> None:
        if done == 1:
            first["seconds"] = seconds
        elapsed = seconds - first.get("seconds", seconds)
        rate = (done - 1) / elapsed if done > 1 and elapsed > 0 else 0.0
        stream.write(progress_bar(done, total, rate))
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def _options(args: argparse.Namespace) -> Dict[str, Any]:
    from ..settings import Settings

    settings = Settings.from_env(home=args.home, threads=args.threads, database_url=args.database_url,
                                 object_store=args.object_store)
    return {"workers": args.workers, "ray": args.ray, "cpus_per_worker": args.cpus_per_worker,
            "settings": settings, "progress": None if args.quiet else _show_progress()}


def _run(call: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    from . import ResultsFileError, SourceError, WorkerLost

    try:
        return call()
    except (SourceError, ResultsFileError, WorkerLost, ValueError) as e:
        raise SystemExit(str(e)) from None
    except ImportError as e:
        if "ray" in str(e):
            raise SystemExit("--ray needs Ray: pip install 'facelens[ray]'") from None
        raise


def _attributes(values: Optional[Sequence[str]]) -> List[str]:
    return [a.strip().upper() for v in values or () for a in v.split(",") if a.strip()]


def cmd_detect_faces(args: argparse.Namespace) -> Dict[str, Any]:
    from . import detect_faces

    return _run(lambda: detect_faces(args.source, out=args.out, attributes=_attributes(args.attributes),
                                     **_options(args)))


def cmd_index_faces(args: argparse.Namespace) -> Dict[str, Any]:
    from . import index_faces

    quality = args.quality_filter.upper() if args.quality_filter else None
    return _run(lambda: index_faces(args.source, args.collection, out=args.out,
                                    attributes=_attributes(args.attributes), max_faces=args.max_faces,
                                    quality_filter=quality, **_options(args)))


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Adds ``batch detect-faces`` and ``batch index-faces`` to the ``facelens`` parser's subcommands."""
    p = sub.add_parser("batch", help="DetectFaces / IndexFaces over a folder, glob, list or S3 prefix, "
                                     "one JSON line per image (resumable; local processes or Ray)")
    batch = p.add_subparsers(dest="batch_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("source", metavar="SOURCE",
                       help="a folder, a glob, a text file of paths, or s3://bucket/prefix")
        p.add_argument("--out", required=True, metavar="RESULTS.jsonl",
                       help="results, one JSON line per image; rerunning with the same file skips what it has")
        p.add_argument("--attributes", nargs="+", metavar="ATTR",
                       help="attributes to return (space or comma separated): " + ", ".join(ATTRIBUTES))
        p.add_argument("--workers", type=int, help="worker processes (local) or actors (Ray), each with one "
                                                   "engine (default: CPUs / 4, at least 1; Ray: its CPUs / 4)")
        p.add_argument("--ray", nargs="?", const=True, metavar="ADDRESS",
                       help="run on Ray: the cluster at ADDRESS (auto, ray://HOST:10001), else $RAY_ADDRESS, "
                            "else a local Ray started for the run")
        p.add_argument("--cpus-per-worker", type=int, help="Ray: CPUs (and engine threads) per actor")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    g = batch.add_parser("detect-faces", help="DetectFaces on every image")
    common(g)
    g.set_defaults(func=cmd_detect_faces)

    g = batch.add_parser("index-faces", help="IndexFaces of every image into a collection (ExternalImageId: "
                                             "the file name)")
    g.add_argument("collection", metavar="COLLECTION")
    common(g)
    g.add_argument("--max-faces", type=int, help="MaxFaces per image")
    g.add_argument("--quality-filter", choices=("NONE", "AUTO", "LOW", "MEDIUM", "HIGH"), type=str.upper)
    g.set_defaults(func=cmd_index_faces)
