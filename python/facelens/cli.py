"""The ``facelens`` command: Rekognition responses as JSON on stdout, errors on stderr with a non-zero exit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from .contract import ATTRIBUTES

EXIT_CLIENT_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def _image_arg(args) -> dict:
    if args.image and (args.bucket or args.name):
        raise SystemExit("give either an image file or --bucket/--name, not both")
    if args.image:
        if args.image == "-":
            return {"Bytes": sys.stdin.buffer.read()}
        try:
            with open(args.image, "rb") as f:
                return {"Bytes": f.read()}
        except OSError as e:
            raise SystemExit(f"facelens: cannot read {args.image}: {e.strerror}")
    if args.bucket and args.name:
        return {"S3Object": {"Bucket": args.bucket, "Name": args.name}}
    raise SystemExit("give an image file (or -) or --bucket and --name")


def _attributes(values: List[str]) -> List[str]:
    out = []
    for v in values:
        out.extend(a.strip().upper() for a in v.split(",") if a.strip())
    return out


def _client(args):
    from .client import Client

    return Client(home=args.home, threads=args.threads)


def cmd_detect_faces(args) -> dict:
    params = {"Image": _image_arg(args)}
    if args.attributes:
        params["Attributes"] = _attributes(args.attributes)
    return _client(args).detect_faces(**params)


def cmd_info(args) -> dict:
    from . import __version__, _core
    from .models import registry

    models = registry.manifest().get("models", {})
    names = list(models) if isinstance(models, dict) else [m["file"] for m in models]
    return {
        "Version": __version__,
        "SimdLevel": _core.simd_level(),
        "CompiledLevels": list(_core.compiled_levels()),
        "CpuFeatures": dict(_core.cpu_features()),
        "Models": names,
    }


def cmd_serve(args) -> int:
    """Runs the HTTP endpoint until SIGTERM/SIGINT; returns the exit code (no JSON output)."""
    import os

    from .server.run import serve

    if args.home:
        os.environ["FACELENS_HOME"] = args.home
    if args.threads:
        os.environ["FACELENS_THREADS"] = str(args.threads)
    return serve(host=args.host, port=args.port, workers=args.workers,
                 access_key_id=args.access_key_id or os.environ.get("FACELENS_ACCESS_KEY_ID"),
                 secret_access_key=args.secret_access_key or os.environ.get("FACELENS_SECRET_ACCESS_KEY"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelens", description="Amazon Rekognition's face API, run locally.")
    parser.add_argument("--home", help="facelens data folder (default $FACELENS_HOME or ~/.facelens)")
    parser.add_argument("--threads", type=int, help="threads per model call")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("detect-faces", help="DetectFaces on an image file or a stored object")
    p.add_argument("image", nargs="?", help="JPEG or PNG file, or - for stdin")
    p.add_argument("--bucket", help="bucket of the local object store ($FACELENS_HOME/s3/<bucket>)")
    p.add_argument("--name", help="object name in the bucket")
    p.add_argument(
        "--attributes", nargs="+", metavar="ATTR",
        help="attributes to return (space or comma separated): " + ", ".join(ATTRIBUTES),
    )
    p.set_defaults(func=cmd_detect_faces)

    p = sub.add_parser("serve", help="Rekognition's HTTP endpoint for boto3 (endpoint_url=http://HOST:PORT)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8087, help="port (default 8087)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own models (default 1)")
    p.add_argument("--access-key-id", help="require SigV4 signatures with this key (or $FACELENS_ACCESS_KEY_ID)")
    p.add_argument("--secret-access-key", help="its secret (or $FACELENS_SECRET_ACCESS_KEY)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("info", help="version, SIMD level and models")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from .errors import ClientError, ModelError, ParamValidationError

    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return args.func(args)
    try:
        result = args.func(args)
    except ClientError as e:
        print(f"facelens: {e}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR if e.http_status >= 500 else EXIT_CLIENT_ERROR
    except (ParamValidationError, ModelError) as e:
        print(f"facelens: {e}", file=sys.stderr)
        return EXIT_CLIENT_ERROR
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
