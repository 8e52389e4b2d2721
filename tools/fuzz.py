"""Coverage-guided fuzzing of what hostile input reaches (atheris = libFuzzer for Python).

    python tools/fuzz.py TARGET [--corpus DIR] [--core PATH] [--detect-every N] [libFuzzer flags...]

Targets (each input is libFuzzer's byte string):

- ``decode``: the bytes as an image through ``images.decode`` (header walk, limits, OpenCV/libjpeg/libpng), then
  the decoded pixels through the core's preprocessing (letterbox, warp, quality) and, every Nth decoded input
  (``--detect-every``, default 1), the whole DetectFaces analysis (all attributes). Allowed outcome: a result or
  one of Rekognition's errors (``facelens.errors.ClientError``).
- ``core``: every ``facelens._core`` entry point with arrays the input describes: dtype (including byte-swapped,
  bool, float16, object), 0-4 dimensions, odd sizes, negative/zero/huge strides (reversed, sliced, transposed,
  broadcast views), NaN/inf values, and extreme scalar arguments. Allowed outcome: a result, ValueError,
  TypeError or MemoryError.
- ``request``: request dictionaries built from the input through the contract (``contract.validate``, image,
  video and notification members), the object store and the endpoint's JSON checks. Allowed outcome: a result,
  ``ClientError`` or ``ParamValidationError``.

Anything else (another exception, a crash, a sanitizer report, a hang past ``-timeout``) is a finding: libFuzzer
stops and writes the input as ``crash-*`` / ``timeout-*``. Python code of facelens is instrumented for coverage;
native code is covered when the core is built with clang's ``-fsanitize=fuzzer-no-link`` (see
``tools/fuzz_long.sh``).

``--core PATH`` loads that build of ``facelens._core`` (e.g. an ASan/UBSan one) instead of the installed one.
``--seed-corpus DIR`` writes the seed corpus (small JPEG/PNG variants of the test photos: sizes, qualities,
progressive, 4:4:4/4:2:0/grey, EXIF orientations, truncations) and exits.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import struct
import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]


def load_core(path: str) -> None:
    """Puts the extension at ``path`` in place of facelens._core before facelens imports it."""
    spec = importlib.util.spec_from_file_location("facelens._core", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["facelens._core"] = module
    spec.loader.exec_module(module)


# -- seed corpus --------------------------------------------------------------------------------------------------
def seed_images():
    """(name, bytes) of small images made from the test photos (the packaged sample, plus up to 6 labelled photos
    from ../shared/data when present)."""
    import cv2
    import numpy as np

    sources = [ROOT / "python" / "facelens" / "data" / "sample.jpg"]
    data = ROOT.parent / "shared" / "data" / "photos"
    if data.is_dir():
        sources += sorted(p for p in data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:6]
    out = []
    for k, src in enumerate(sources):
        img = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if img is None:
            continue
        for side in (96, 160):
            f = side / max(img.shape[:2])
            small = cv2.resize(img, (max(1, int(img.shape[1] * f)), max(1, int(img.shape[0] * f))),
                               interpolation=cv2.INTER_AREA)
            for prog in (0, 1):
                for samp in (cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444):
                    _ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 60, cv2.IMWRITE_JPEG_PROGRESSIVE,
                                                           prog, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, samp])
                    out.append((f"s{k}_{side}_p{prog}_{samp:x}.jpg", buf.tobytes()))
            out.append((f"s{k}_{side}.png", cv2.imencode(".png", small)[1].tobytes()))
            out.append((f"s{k}_{side}_grey.jpg", cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))[1]
                        .tobytes()))
        if k == 0:  # EXIF orientations and truncations of the sample
            base = out[0][1]
            for o in range(1, 9):
                tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1,
                                                                                              o, 0) + b"\x00" * 4
                app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + tiff
                out.append((f"exif{o}.jpg", base[:2] + app1 + base[2:]))
            for cut in (0.3, 0.6, 0.9):
                out.append((f"cut{cut}.jpg", base[: int(len(base) * cut)]))
            rgba = np.dstack([small, np.full(small.shape[:2], 128, np.uint8)])
            out.append(("rgba.png", cv2.imencode(".png", rgba)[1].tobytes()))
            out.append(("deep.png", cv2.imencode(".png", small.astype(np.uint16) * 257)[1].tobytes()))
    return out


def write_seed_corpus(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    items = seed_images()
    for name, data in items:
        (directory / name).write_bytes(data)
    return len(items)


# -- targets ------------------------------------------------------------------------------------------------------
def make_decode_target(detect_every: int):
    from facelens import _core as core
    from facelens import errors, images

    client = None
    count = [0]
    eye = [[1.0, 0.1, 2.0], [-0.2, 0.9, 3.0]]

    def target(data: bytes) -> None:
        nonlocal client
        try:
            img = images.decode(data)
        except errors.ClientError:
            return
        rgb = img.rgb
        core.letterbox_nchw(rgb, 64, 48, (127.5,) * 3, (1 / 128,) * 3, True)
        core.warp_affine(rgb, eye, 32, 32)
        core.face_quality(rgb, (0, 0, rgb.shape[1], rgb.shape[0]), 16)
        count[0] += 1
        if detect_every and count[0] % detect_every == 0:
            if client is None:
                import facelens

                client = facelens.Client(home=tempfile.mkdtemp(prefix="facelens-fuzz-"), threads=1)
            try:
                client.detect_faces(Image={"Bytes": data}, Attributes=["ALL"])
            except errors.ClientError as e:
                if e.code == "InternalServerError":
                    raise RuntimeError(f"DetectFaces answered 500: {e}") from None

    return target


_DTYPES = ["u1", "f4", "f8", "i8", "i4", "f2", "?", "i1", ">f4", ">f8", "u2", "c8", "O", "U3", "V4"]
_SIDES = [0, 1, 2, 3, 5, 7, 8, 16, 31, 64, -1, 65536, 65537, 1 << 31]


def _array(fdp, ndim=None, dtype=None, max_side=12):
    import numpy as np

    if ndim is None:
        ndim = fdp.ConsumeIntInRange(0, 4)
    shape = [fdp.ConsumeIntInRange(0, max_side) for _ in range(ndim)]
    while shape and int(np.prod(shape)) > 4096:  # the harness's own arrays stay small: sizes, not volume, matter
        shape[int(np.argmax(shape))] //= 2
    if dtype is None:
        dtype = _DTYPES[fdp.ConsumeIntInRange(0, len(_DTYPES) - 1)]
    n = int(np.prod(shape)) if shape else 1
    dt = np.dtype(dtype)
    if dt.kind == "O":
        a = np.array([fdp.ConsumeFloat() for _ in range(n)], dtype=object)
    elif dt.kind in "UV":
        a = np.zeros(n, dtype=dt)
    else:
        raw = fdp.ConsumeBytes(n * dt.itemsize)
        raw += bytes(n * dt.itemsize - len(raw))
        a = np.frombuffer(raw, dtype=dt).copy()
        if dt.kind == "f" and n and fdp.ConsumeBool():
            a[fdp.ConsumeIntInRange(0, n - 1)] = [np.nan, np.inf, -np.inf, 1e30][fdp.ConsumeIntInRange(0, 3)]
    a = a.reshape(shape)
    view = fdp.ConsumeIntInRange(0, 6)
    if view == 1 and ndim:
        a = a[tuple(slice(None, None, -1) for _ in range(ndim))]  # negative strides
    elif view == 2 and ndim >= 2:
        a = a.swapaxes(0, 1)
    elif view == 3 and ndim:
        a = a[..., :: max(1, fdp.ConsumeIntInRange(1, 3))]
    elif view == 4 and ndim:
        big = [s * fdp.ConsumeIntInRange(1, 4) if s == 1 else s for s in shape]
        a = np.broadcast_to(a, big)  # zero strides
    elif view == 5:
        a = np.asfortranarray(a)
    elif view == 6 and ndim:
        a = a.tolist()  # a nested list instead of an array
    return a


def _image(fdp):
    import numpy as np

    if fdp.ConsumeIntInRange(0, 3):  # mostly usable images, with odd sizes and views
        h, w = fdp.ConsumeIntInRange(1, 40), fdp.ConsumeIntInRange(1, 40)
        raw = fdp.ConsumeBytes(h * w * 3)
        img = np.frombuffer(raw + bytes(h * w * 3 - len(raw)), np.uint8).reshape(h, w, 3)
        view = fdp.ConsumeIntInRange(0, 4)
        if view == 1:
            img = img[::-1]
        elif view == 2:
            img = img[:, ::-1]
        elif view == 3:
            img = img[:, :, ::-1]
        elif view == 4:
            img = np.broadcast_to(img[:1, :1], (fdp.ConsumeIntInRange(1, 300), fdp.ConsumeIntInRange(1, 300), 3))
        return img
    return _array(fdp, max_side=8)


def _side(fdp):
    return _SIDES[fdp.ConsumeIntInRange(0, len(_SIDES) - 1)] if fdp.ConsumeBool() else fdp.ConsumeIntInRange(1, 80)


def _number(fdp):
    return [fdp.ConsumeFloat, lambda: fdp.ConsumeIntInRange(-3, 3), lambda: float("nan"), lambda: None,
            lambda: "x"][fdp.ConsumeIntInRange(0, 4)]()


TRACE = bool(os.environ.get("FACELENS_FUZZ_TRACE"))  # print each core call (to triage a saved input)
CORE_CALLS = ["letterbox_nchw", "warp_affine", "face_quality", "decode_centerface", "nms", "select_largest",
              "transform_points", "head_pose", "rotation_to_euler", "eye_direction", "search_topk",
              "linear_assignment", "Tracker.update"]


def make_core_target():
    from facelens import _core as core

    def calls(fdp):
        a = lambda **k: _array(fdp, **k)  # noqa: E731
        return [
            lambda: core.letterbox_nchw(_image(fdp), _side(fdp), _side(fdp), a(), a(), fdp.ConsumeBool()),
            lambda: core.warp_affine(_image(fdp), a(), _side(fdp), _side(fdp)),
            lambda: core.face_quality(_image(fdp), a(), _side(fdp)),
            lambda: core.decode_centerface(a(), a(), a(), a(), _number(fdp), _number(fdp), _side(fdp), _side(fdp)),
            lambda: core.nms(a(), a(), _number(fdp)),
            lambda: core.select_largest(a(), fdp.ConsumeIntInRange(-2, 20)),
            lambda: core.transform_points(a(), a()),
            lambda: core.head_pose(a(), a(), a() if fdp.ConsumeBool() else None),
            lambda: core.rotation_to_euler(a()),
            lambda: core.eye_direction(a(ndim=2, max_side=600) if fdp.ConsumeBool() else a(), a(), _number(fdp), a(), a(), _number(fdp), _number(fdp)),
            lambda: core.search_topk(a(), a(), fdp.ConsumeIntInRange(-2, 20),
                                     ["l2", "dot", "cos", ""][fdp.ConsumeIntInRange(0, 3)], _number(fdp)),
            lambda: core.linear_assignment(a()),
            lambda: core.Tracker().update(a(), a(), _number(fdp)),
        ]

    def target(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        table = calls(fdp)
        index = fdp.ConsumeIntInRange(0, len(table) - 1)
        if TRACE:
            print("core call", index, CORE_CALLS[index], flush=True)
        try:
            table[index]()
        except (ValueError, TypeError, MemoryError):
            pass

    return target


def _value(fdp, depth=0):
    kind = fdp.ConsumeIntInRange(0, 9 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-(1 << 40), 1 << 40)
    if kind == 3:
        return fdp.ConsumeFloat()
    if kind == 4:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))
    if kind == 5:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    if kind in (6, 7):
        keys = ["Bucket", "Name", "Version", "S3Object", "Bytes", "SNSTopicArn", "RoleArn", "x"]
        return {keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]: _value(fdp, depth + 1)
                for _ in range(fdp.ConsumeIntInRange(0, 4))}
    return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]


def make_request_target():
    from facelens import contract, errors
    from facelens.objects import ObjectStore
    from facelens.server import app

    store = ObjectStore(Path(tempfile.mkdtemp(prefix="facelens-fuzz-")))
    store.put("photos", "a.jpg", b"\xff\xd8\xff")
    operations = sorted(contract.OPERATIONS)
    allowed = (errors.ClientError, errors.ParamValidationError)

    def target(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        op = contract.OPERATIONS[operations[fdp.ConsumeIntInRange(0, len(operations) - 1)]]
        names = [*list(op.members), "Image", "Video", "NotificationChannel", "Other"]
        params = {names[fdp.ConsumeIntInRange(0, len(names) - 1)]: _value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 5))}
        try:
            request = contract.validate(op.name, params)
            for key, check in (("Image", contract.image_source), ("Video", contract.video_source),
                               ("NotificationChannel", contract.notification_channel)):
                if isinstance(request.get(key), dict):
                    source = check(request[key])
                    s3 = source[1] if key == "Image" and source[0] == "S3Object" else source
                    if key != "NotificationChannel" and isinstance(s3, dict) and "Bucket" in s3:
                        store.read(s3, 1 << 20)
        except allowed:
            pass
        wire = json.dumps(params, default=lambda v: v.hex() if isinstance(v, bytes) else str(v)).encode()
        try:
            app.decode_blobs(json.loads(wire)) if app.json_depth(json.loads(wire)) <= app.MAX_JSON_DEPTH else None
        except app.WireError as e:
            assert 400 <= e.status < 500, e.status

    return target


def instrument_facelens() -> int:
    """Adds coverage to every function and method of the loaded facelens modules (atheris' import hook does not
    reach modules loaded through the editable install's redirecting finder, so they are instrumented in place)."""
    import inspect

    done = set()

    def visit(fn):
        code = getattr(fn, "__code__", None)
        if code is None or id(code) in done:
            return
        atheris.instrument_func(fn)
        done.add(id(fn.__code__))

    for name, module in list(sys.modules.items()):
        if not (name == "facelens" or name.startswith("facelens.")) or module is None:
            continue
        for value in list(vars(module).values()):
            if inspect.isfunction(value) and value.__module__ == name:
                visit(value)
            elif inspect.isclass(value) and value.__module__ == name:
                for attr in list(vars(value).values()):
                    attr = getattr(attr, "__func__", attr)
                    if isinstance(attr, property):
                        for f in (attr.fget, attr.fset):
                            if f is not None:
                                visit(f)
                    elif inspect.isfunction(attr):
                        visit(attr)
    return len(done)


def main(argv=None) -> None:
    argv = list(sys.argv if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?", choices=("decode", "core", "request"))
    ap.add_argument("--core", help="path of a facelens._core build to load instead of the installed one")
    ap.add_argument("--detect-every", type=int, default=1,
                    help="decode target: run DetectFaces on every Nth decoded input (0: never)")
    ap.add_argument("--seed-corpus", type=Path, help="write the seed corpus to this folder and exit")
    args, fuzzer_args = ap.parse_known_args(argv[1:])
    if args.seed_corpus:
        print(f"{write_seed_corpus(args.seed_corpus)} seeds in {args.seed_corpus}")
        return
    if not args.target:
        ap.error("a target is needed")
    if args.core:
        load_core(args.core)
    import cv2  # noqa: F401
    import numpy  # noqa: F401  (imported before instrumentation: only facelens' own code is instrumented)

    import facelens
    import facelens.client
    import facelens.contract
    import facelens.images
    import facelens.objects.local
    import facelens.server.app  # noqa: F401

    instrument_facelens()
    for fn in (_array, _image, _side, _number, _value):  # the input's structure counts as coverage too
        atheris.instrument_func(fn)
    make = {"decode": lambda: make_decode_target(args.detect_every), "core": make_core_target,
            "request": make_request_target}[args.target]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    target = []

    def run(data: bytes) -> None:
        # Built at the first input, not before Setup: instrumented code that runs before Setup registers coverage
        # counters libFuzzer never sees (the run then finds no coverage at all).
        if not target:
            target.append(make())
        target[0](data)

    atheris.Setup([argv[0], *fuzzer_args], run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
