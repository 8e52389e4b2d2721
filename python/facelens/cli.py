"""The ``facelens`` command: Rekognition responses as JSON on stdout, errors on stderr with a non-zero exit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from .contract import ATTRIBUTES
from .response import json_default

if TYPE_CHECKING:
    from .client import Client

EXIT_CLIENT_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def _image_arg(args: argparse.Namespace) -> dict:
    if args.image and (args.bucket or args.name):
        raise SystemExit("give either an image file or --bucket/--name, not both")
    if args.image:
        if args.image == "-":
            return {"Bytes": sys.stdin.buffer.read()}
        try:
            with open(args.image, "rb") as f:
                return {"Bytes": f.read()}
        except OSError as e:
            raise SystemExit(f"facelens: cannot read {args.image}: {e.strerror}") from None
    if args.bucket and args.name:
        return {"S3Object": {"Bucket": args.bucket, "Name": args.name}}
    raise SystemExit("give an image file (or -) or --bucket and --name")


def _attributes(values: List[str]) -> List[str]:
    out: List[str] = []
    for v in values:
        out.extend(a.strip().upper() for a in v.split(",") if a.strip())
    return out


def _client(args: argparse.Namespace) -> Client:
    from .client import Client

    return Client(home=args.home, threads=args.threads, database_url=getattr(args, "database_url", None),
                  object_store=getattr(args, "object_store", None))


def cmd_detect_faces(args: argparse.Namespace) -> dict:
    params: Dict[str, Any] = {"Image": _image_arg(args)}
    if args.attributes:
        params["Attributes"] = _attributes(args.attributes)
    if args.draw:
        params["Attributes"] = _with_eye_direction(params.get("Attributes"))
    client = _client(args)
    result = client.detect_faces(**params)
    if args.draw:
        _draw(client, params["Image"], result, args.draw)
    return result


def _with_eye_direction(attributes: Optional[List[str]]) -> List[str]:
    """Attributes for a --draw request: what was asked for plus EYE_DIRECTION (for the gaze arrows)."""
    attributes = list(attributes or ["DEFAULT"])
    if "ALL" not in attributes and "EYE_DIRECTION" not in attributes:
        attributes.append("EYE_DIRECTION")
    return attributes


def _draw(client: Client, image: dict, result: dict, path: str) -> None:
    """Writes ``image`` with ``result``'s faces drawn on it (draw.py) to ``path`` (PNG, or what its suffix says)."""
    import cv2

    from .draw import draw_faces

    decoded = client.runtime.load_image(image)
    rgb = decoded.rgb
    if rgb.shape[1] != decoded.width or rgb.shape[0] != decoded.height:  # reduced on decode: back to full size
        rgb = cv2.resize(rgb, (decoded.width, decoded.height), interpolation=cv2.INTER_LINEAR)
    bgr = draw_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), result, bgr=True)
    if not cv2.imwrite(path, bgr):
        raise SystemExit(f"facelens: cannot write {path}")


def _all_pages(client: Client, operation: str, **params: Any) -> dict:
    """Every page of a paginated operation merged by its paginator (no NextToken)."""
    return client.get_paginator(operation).paginate(**params).build_full_result()


def _given(**params: Any) -> dict:
    """The request members the command line gave (options left out are not sent)."""
    return {k: v for k, v in params.items() if v is not None}


def _tag_pairs(pairs: List[str]) -> dict:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"facelens: a tag is KEY=VALUE; got {pair!r}")
        tags[key] = value
    return tags


def cmd_index_faces(args: argparse.Namespace) -> dict:
    params = {"CollectionId": args.collection, "Image": _image_arg(args)}
    if args.external_image_id is not None:
        params["ExternalImageId"] = args.external_image_id
    if args.max_faces is not None:
        params["MaxFaces"] = args.max_faces
    if args.quality_filter:
        params["QualityFilter"] = args.quality_filter.upper()
    if args.attributes:
        params["DetectionAttributes"] = _attributes(args.attributes)
    client = _client(args)
    result = client.index_faces(**params)
    if args.draw:
        _draw(client, params["Image"], result, args.draw)
    return result


def _search_params(args: argparse.Namespace) -> dict:
    params = {"CollectionId": args.collection}
    if args.threshold is not None:
        params["FaceMatchThreshold"] = args.threshold
    if args.max_faces is not None:
        params["MaxFaces"] = args.max_faces
    return params


def cmd_search_faces_by_image(args: argparse.Namespace) -> dict:
    params = _search_params(args)
    params["Image"] = _image_arg(args)
    if args.quality_filter:
        params["QualityFilter"] = args.quality_filter.upper()
    return _client(args).search_faces_by_image(**params)


def cmd_search_faces(args: argparse.Namespace) -> dict:
    return _client(args).search_faces(FaceId=args.face_id, **_search_params(args))


def _image_file(path: str) -> dict:
    """{"Bytes": ...} of an image file, or of stdin for ``-``."""
    if path == "-":
        return {"Bytes": sys.stdin.buffer.read()}
    try:
        with open(path, "rb") as f:
            return {"Bytes": f.read()}
    except OSError as e:
        raise SystemExit(f"facelens: cannot read {path}: {e.strerror}") from None


def cmd_compare_faces(args: argparse.Namespace) -> dict:
    if args.source == "-" and args.target == "-":
        raise SystemExit("only one of SOURCE and TARGET can be - (stdin)")
    params = {"SourceImage": _image_file(args.source), "TargetImage": _image_file(args.target)}
    if args.threshold is not None:
        params["SimilarityThreshold"] = args.threshold
    if args.quality_filter:
        params["QualityFilter"] = args.quality_filter.upper()
    return _client(args).compare_faces(**params)


def cmd_create_collection(args: argparse.Namespace) -> dict:
    return _client(args).create_collection(CollectionId=args.collection)


def cmd_delete_collection(args: argparse.Namespace) -> dict:
    return _client(args).delete_collection(CollectionId=args.collection)


def cmd_describe_collection(args: argparse.Namespace) -> dict:
    return _client(args).describe_collection(CollectionId=args.collection)


def cmd_list_collections(args: argparse.Namespace) -> dict:
    return _all_pages(_client(args), "list_collections")


def cmd_list_faces(args: argparse.Namespace) -> dict:
    return _all_pages(_client(args), "list_faces", CollectionId=args.collection)


def cmd_delete_faces(args: argparse.Namespace) -> dict:
    return _client(args).delete_faces(CollectionId=args.collection, FaceIds=args.face_ids)


def _progress_bar(progress: dict, width: int = 30) -> str:
    percent = float(progress.get("Percent") or 0.0)
    filled = int(round(width * min(max(percent, 0.0), 100.0) / 100))
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {percent:5.1f}% "
            f"{progress.get('FramesDone', 0)}/{progress.get('FramesTotal', '?')} frames "
            f"{progress.get('JobStatus', '')}")


def _wait_with_progress(client: Client, job_id: str, poll: float = 0.2) -> None:
    """Shows a progress bar on stderr (video_job_progress) until the job is no longer IN_PROGRESS."""
    import time

    while True:
        progress = client.video_job_progress(job_id)
        sys.stderr.write(_progress_bar(progress))
        sys.stderr.flush()
        if progress.get("JobStatus") != "IN_PROGRESS":
            sys.stderr.write("\n")
            return
        time.sleep(poll)


# Video job types: CLI name -> (Start method, Get method, items key, SortBy choices of Get)
VIDEO_JOBS = {
    "face-detection": ("start_face_detection", "get_face_detection", ()),
    "person-tracking": ("start_person_tracking", "get_person_tracking", ("INDEX", "TIMESTAMP")),
    "face-search": ("start_face_search", "get_face_search", ("INDEX", "TIMESTAMP")),
    "celebrity-recognition": ("start_celebrity_recognition", "get_celebrity_recognition", ("ID", "TIMESTAMP")),
}


def _start_video_job(kind: str) -> Callable[[argparse.Namespace], dict]:
    start, get, _ = VIDEO_JOBS[kind]

    def command(args: argparse.Namespace) -> dict:
        params = {"Video": {"S3Object": {"Bucket": args.bucket, "Name": args.name}}}
        if getattr(args, "attributes", None):
            params["FaceAttributes"] = args.attributes.upper()
        if getattr(args, "collection_id", None):
            params["CollectionId"] = args.collection_id
        if getattr(args, "face_match_threshold", None) is not None:
            params["FaceMatchThreshold"] = args.face_match_threshold
        if args.job_tag:
            params["JobTag"] = args.job_tag
        if args.client_request_token:
            params["ClientRequestToken"] = args.client_request_token
        client = _client(args)
        started = getattr(client, start)(**params)
        if not args.wait:
            return started
        _wait_with_progress(client, started["JobId"])
        return _all_pages(client, get, JobId=started["JobId"])

    return command


def _get_video_job(kind: str) -> Callable[[argparse.Namespace], dict]:
    _, get, _ = VIDEO_JOBS[kind]

    def command(args: argparse.Namespace) -> dict:
        params = {"JobId": args.job_id}
        if getattr(args, "sort_by", None):
            params["SortBy"] = args.sort_by
        return _all_pages(_client(args), get, **params)

    return command


# -- celebrities -----------------------------------------------------------------------------------------------
def _read_files(paths: List[str]) -> List[bytes]:
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                out.append(f.read())
        except OSError as e:
            raise SystemExit(f"facelens: cannot read {path}: {e.strerror}") from None
    return out


def cmd_celebrities_add(args: argparse.Namespace) -> dict:
    gallery = _client(args).celebrities
    celebrity_id = gallery.add(args.celebrity_name, images=_read_files(args.images), urls=args.url or None,
                               known_gender=args.gender)
    return gallery.get(celebrity_id)


def cmd_celebrities_add_images(args: argparse.Namespace) -> dict:
    return _client(args).celebrities.add_images(args.celebrity_id, _read_files(args.images))


def cmd_celebrities_list(args: argparse.Namespace) -> dict:
    return {"Celebrities": _client(args).celebrities.list()}


def cmd_celebrities_get(args: argparse.Namespace) -> dict:
    return _client(args).celebrities.get(args.celebrity_id)


def cmd_celebrities_remove(args: argparse.Namespace) -> dict:
    _client(args).celebrities.remove(args.celebrity_id)
    return {"Id": args.celebrity_id, "Removed": True}


def cmd_recognize_celebrities(args: argparse.Namespace) -> dict:
    return _client(args).recognize_celebrities(Image=_image_arg(args))


def cmd_get_celebrity_info(args: argparse.Namespace) -> dict:
    return _client(args).get_celebrity_info(Id=args.celebrity_id)


def cmd_info(args: argparse.Namespace) -> dict:
    from . import __version__, _core
    from .models import registry
    from .settings import Settings

    models = registry.manifest().get("models", {})
    names = list(models) if isinstance(models, dict) else [m["file"] for m in models]
    settings = Settings.from_env(home=args.home, threads=args.threads, database_url=args.database_url,
                                 object_store=args.object_store)
    database = settings.database_url
    if "@" in database:  # a password stays out of the output
        scheme, rest = database.split("://", 1)
        database = f"{scheme}://{rest.split('@', 1)[0].split(':')[0]}@{rest.split('@', 1)[1]}"
    return {
        "Version": __version__,
        "SimdLevel": _core.simd_level(),
        "CompiledLevels": list(_core.compiled_levels()),
        "CpuFeatures": dict(_core.cpu_features()),
        "Models": names,
        "Home": str(settings.home),
        "Database": database,
        "ObjectStore": settings.object_store,
        "Threads": settings.threads,
    }


def cmd_serve(args: argparse.Namespace) -> int:
    """Runs the HTTP endpoint until SIGTERM/SIGINT; returns the exit code (no JSON output)."""
    import os

    from .server.run import serve

    # the server's worker processes build their clients from the environment (facelens.settings)
    for value, variable in ((args.home, "FACELENS_HOME"), (args.threads, "FACELENS_THREADS"),
                            (args.database_url, "FACELENS_DATABASE_URL"), (args.object_store, "FACELENS_OBJECT_STORE")):
        if value:
            os.environ[variable] = str(value)
    return serve(host=args.host, port=args.port, workers=args.workers, access_key_id=args.access_key_id,
                 secret_access_key=args.secret_access_key)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelens", description="Amazon Rekognition's face API, run locally.")
    parser.add_argument("--home", help="facelens data folder (default $FACELENS_HOME or ~/.facelens)")
    parser.add_argument("--threads", type=int, help="threads per model call")
    parser.add_argument("--database-url", help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
                        "(default $FACELENS_DATABASE_URL or sqlite under the home)")
    parser.add_argument("--object-store", choices=("local", "s3"),
                        help="where S3Object is read from (default $FACELENS_OBJECT_STORE or local)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("detect-faces", help="DetectFaces on an image file or a stored object")
    p.add_argument("image", nargs="?", help="JPEG or PNG file, or - for stdin")
    p.add_argument("--bucket", help="bucket of the local object store ($FACELENS_HOME/s3/<bucket>)")
    p.add_argument("--name", help="object name in the bucket")
    p.add_argument(
        "--attributes", nargs="+", metavar="ATTR",
        help="attributes to return (space or comma separated): " + ", ".join(ATTRIBUTES),
    )
    p.add_argument("--draw", metavar="OUT.png",
                   help="also write the image with boxes, landmarks, head-pose axes and gaze arrows "
                        "(adds EYE_DIRECTION)")
    p.set_defaults(func=cmd_detect_faces)

    def image_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("image", nargs="?", help="JPEG or PNG file, or - for stdin")
        p.add_argument("--bucket", help="bucket of the local object store ($FACELENS_HOME/s3/<bucket>)")
        p.add_argument("--name", help="object name in the bucket")

    p = sub.add_parser("index-faces", help="IndexFaces: add an image's faces to a collection")
    p.add_argument("collection", metavar="COLLECTION")
    image_args(p)
    p.add_argument("--external-image-id", help="ExternalImageId stored with the faces")
    p.add_argument("--max-faces", type=int, help="MaxFaces: index at most N faces, largest first")
    p.add_argument("--quality-filter", help="QualityFilter: NONE, AUTO (default), LOW, MEDIUM, HIGH")
    p.add_argument("--attributes", nargs="+", metavar="ATTR", help="DetectionAttributes (DEFAULT or ALL)")
    p.add_argument("--draw", metavar="OUT.png", help="also write the image with the indexed faces drawn on it")
    p.set_defaults(func=cmd_index_faces)

    p = sub.add_parser("search-faces-by-image", help="SearchFacesByImage: faces like the image's largest face")
    p.add_argument("collection", metavar="COLLECTION")
    image_args(p)
    p.add_argument("--threshold", type=float, help="FaceMatchThreshold (default 80)")
    p.add_argument("--max-faces", type=int, help="MaxFaces (default 80)")
    p.add_argument("--quality-filter", help="QualityFilter: NONE (default), AUTO, LOW, MEDIUM, HIGH")
    p.set_defaults(func=cmd_search_faces_by_image)

    p = sub.add_parser("search-faces", help="SearchFaces: faces like one of the collection's faces")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("face_id", metavar="FACE_ID")
    p.add_argument("--threshold", type=float, help="FaceMatchThreshold (default 80)")
    p.add_argument("--max-faces", type=int, help="MaxFaces (default 80)")
    p.set_defaults(func=cmd_search_faces)

    p = sub.add_parser("compare-faces", help="CompareFaces: the largest face of SOURCE against the faces of TARGET")
    p.add_argument("source", metavar="SOURCE", help="JPEG or PNG file (its largest face is compared), or - for stdin")
    p.add_argument("target", metavar="TARGET", help="JPEG or PNG file (its 100 largest faces), or - for stdin")
    p.add_argument("--threshold", type=float, help="SimilarityThreshold (default 80)")
    p.add_argument("--quality-filter", help="QualityFilter: NONE (default), AUTO, LOW, MEDIUM, HIGH")
    p.set_defaults(func=cmd_compare_faces)

    for name, func, what in (("create-collection", cmd_create_collection, "CreateCollection"),
                             ("delete-collection", cmd_delete_collection, "DeleteCollection"),
                             ("describe-collection", cmd_describe_collection, "DescribeCollection")):
        p = sub.add_parser(name, help=what)
        p.add_argument("collection", metavar="ID")
        p.set_defaults(func=func)

    p = sub.add_parser("list-collections", help="ListCollections (every page)")
    p.set_defaults(func=cmd_list_collections)

    p = sub.add_parser("list-faces", help="ListFaces (every page)")
    p.add_argument("collection", metavar="ID")
    p.set_defaults(func=cmd_list_faces)

    p = sub.add_parser("delete-faces", help="DeleteFaces")
    p.add_argument("collection", metavar="ID")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
    p.set_defaults(func=cmd_delete_faces)

    # -- users and tags
    p = sub.add_parser("create-user", help="CreateUser")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("user_id", metavar="USER_ID")
    p.add_argument("--client-request-token")
    p.set_defaults(func=lambda a: _client(a).create_user(**_given(CollectionId=a.collection, UserId=a.user_id,
                                                                  ClientRequestToken=a.client_request_token)))
    p = sub.add_parser("delete-user", help="DeleteUser (its faces stay in the collection)")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("user_id", metavar="USER_ID")
    p.set_defaults(func=lambda a: _client(a).delete_user(CollectionId=a.collection, UserId=a.user_id))
    p = sub.add_parser("list-users", help="ListUsers (every page)")
    p.add_argument("collection", metavar="COLLECTION")
    p.set_defaults(func=lambda a: _all_pages(_client(a), "list_users", CollectionId=a.collection))
    for name, method, what in (("associate-faces", "associate_faces", "AssociateFaces"),
                               ("disassociate-faces", "disassociate_faces", "DisassociateFaces")):
        p = sub.add_parser(name, help=what)
        p.add_argument("collection", metavar="COLLECTION")
        p.add_argument("user_id", metavar="USER_ID")
        p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
        if method == "associate_faces":
            p.add_argument("--threshold", type=float, help="UserMatchThreshold (default 75)")
        p.set_defaults(func=lambda a, method=method: getattr(_client(a), method)(**_given(
            CollectionId=a.collection, UserId=a.user_id, FaceIds=a.face_ids,
            UserMatchThreshold=getattr(a, "threshold", None))))
    p = sub.add_parser("search-users", help="SearchUsers by a face (--face-id) or a user (--user-id)")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--face-id")
    p.add_argument("--user-id")
    p.add_argument("--threshold", type=float, help="UserMatchThreshold (default 80)")
    p.add_argument("--max-users", type=int, help="MaxUsers (default 80)")
    p.set_defaults(func=lambda a: _client(a).search_users(**_given(
        CollectionId=a.collection, FaceId=a.face_id, UserId=a.user_id, UserMatchThreshold=a.threshold,
        MaxUsers=a.max_users)))
    p = sub.add_parser("search-users-by-image", help="SearchUsersByImage: users like the image's largest face")
    p.add_argument("collection", metavar="COLLECTION")
    image_args(p)
    p.add_argument("--threshold", type=float, help="UserMatchThreshold (default 80)")
    p.add_argument("--max-users", type=int, help="MaxUsers (default 80)")
    p.add_argument("--quality-filter", help="QualityFilter: NONE (default), AUTO, LOW, MEDIUM, HIGH")
    p.set_defaults(func=lambda a: _client(a).search_users_by_image(**_given(
        CollectionId=a.collection, Image=_image_arg(a), UserMatchThreshold=a.threshold, MaxUsers=a.max_users,
        QualityFilter=a.quality_filter.upper() if a.quality_filter else None)))
    p = sub.add_parser("tag-resource", help="TagResource: KEY=VALUE tags on a collection ARN")
    p.add_argument("arn", metavar="ARN")
    p.add_argument("tags", nargs="+", metavar="KEY=VALUE")
    p.set_defaults(func=lambda a: _client(a).tag_resource(ResourceArn=a.arn, Tags=_tag_pairs(a.tags)))
    p = sub.add_parser("untag-resource", help="UntagResource")
    p.add_argument("arn", metavar="ARN")
    p.add_argument("keys", nargs="+", metavar="KEY")
    p.set_defaults(func=lambda a: _client(a).untag_resource(ResourceArn=a.arn, TagKeys=a.keys))
    p = sub.add_parser("list-tags-for-resource", help="ListTagsForResource")
    p.add_argument("arn", metavar="ARN")
    p.set_defaults(func=lambda a: _client(a).list_tags_for_resource(ResourceArn=a.arn))

    for kind, (_start, _get, sorts) in VIDEO_JOBS.items():
        operation = "".join(w.capitalize() for w in kind.split("-"))
        p = sub.add_parser(f"start-{kind}", help=f"Start{operation} on a stored video; --wait for the results")
        p.add_argument("--bucket", required=True, help="bucket of the local object store ($FACELENS_HOME/s3/<bucket>)")
        p.add_argument("--name", required=True, help="video object name in the bucket")
        if kind == "face-detection":
            p.add_argument("--attributes", choices=["DEFAULT", "ALL", "default", "all"], help="FaceAttributes")
        if kind == "face-search":
            p.add_argument("--collection-id", required=True, help="CollectionId to search")
            p.add_argument("--face-match-threshold", type=float, help="FaceMatchThreshold (default 80)")
        p.add_argument("--job-tag", help="JobTag")
        p.add_argument("--client-request-token", help="ClientRequestToken (idempotency)")
        p.add_argument("--wait", action="store_true",
                       help=f"show a progress bar on stderr, then print every page of Get{operation} merged")
        p.set_defaults(func=_start_video_job(kind))

        p = sub.add_parser(f"get-{kind}", help=f"Get{operation} (every page merged)")
        p.add_argument("job_id", metavar="JOB_ID")
        if sorts:
            p.add_argument("--sort-by", choices=sorts, help="SortBy (default TIMESTAMP)")
        p.set_defaults(func=_get_video_job(kind))

    # -- celebrities
    p = sub.add_parser("celebrities", help="the celebrity gallery RecognizeCelebrities matches against")
    gallery = p.add_subparsers(dest="celebrities_command", required=True)
    g = gallery.add_parser("add", help="add a celebrity from one or more reference photos (largest face of each)")
    g.add_argument("celebrity_name", metavar="NAME")
    g.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG reference photos")
    g.add_argument("--url", action="append", metavar="URL", help="a Url of the celebrity (repeatable)")
    g.add_argument("--gender", choices=["Male", "Female", "Nonbinary", "Unlisted"], help="KnownGender")
    g.set_defaults(func=cmd_celebrities_add)
    g = gallery.add_parser("add-images", help="add reference photos to a celebrity")
    g.add_argument("celebrity_id", metavar="ID")
    g.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG or PNG reference photos")
    g.set_defaults(func=cmd_celebrities_add_images)
    g = gallery.add_parser("list", help="every celebrity of the gallery")
    g.set_defaults(func=cmd_celebrities_list)
    g = gallery.add_parser("get", help="one celebrity of the gallery")
    g.add_argument("celebrity_id", metavar="ID")
    g.set_defaults(func=cmd_celebrities_get)
    g = gallery.add_parser("remove", help="remove a celebrity from the gallery")
    g.add_argument("celebrity_id", metavar="ID")
    g.set_defaults(func=cmd_celebrities_remove)

    p = sub.add_parser("recognize-celebrities", help="RecognizeCelebrities: the gallery's celebrities in an image")
    image_args(p)
    p.set_defaults(func=cmd_recognize_celebrities)

    p = sub.add_parser("get-celebrity-info", help="GetCelebrityInfo: Name, Urls, KnownGender of a celebrity Id")
    p.add_argument("celebrity_id", metavar="ID")
    p.set_defaults(func=cmd_get_celebrity_info)

    p = sub.add_parser("serve", help="Rekognition's HTTP endpoint for boto3 (endpoint_url=http://HOST:PORT)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8087, help="port (default 8087)")
    p.add_argument("--workers", type=int, default=1, help="worker processes, each with its own models (default 1)")
    p.add_argument("--access-key-id", help="require SigV4 signatures with this key (or $FACELENS_ACCESS_KEY_ID)")
    p.add_argument("--secret-access-key", help="its secret (or $FACELENS_SECRET_ACCESS_KEY)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("info", help="version, SIMD level and models")
    p.set_defaults(func=cmd_info)

    from .batch.cli import add_commands as add_batch_commands

    add_batch_commands(sub)
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
    except SystemExit as e:  # usage errors from the helpers (_image_arg, _draw): a message, exit 2
        if not isinstance(e.code, str):
            raise
        message = e.code if e.code.startswith("facelens:") else f"facelens: {e.code}"
        print(message, file=sys.stderr)
        return EXIT_CLIENT_ERROR
    try:
        json.dump(result, sys.stdout, indent=2, default=json_default)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `facelens ... | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
