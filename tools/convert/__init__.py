"""The model converter behind ``tools/convert_models.py``: one module per model group and one shared helper module.

common.py (paths, pins of the toolchain, checksums, venvs, downloads, ONNX editing, manifest, --check, --bench),
face_chain.py, dlib_resnet.py, face_attributes.py (the "face" group), person_detector.py,
int8.py, and cli.py (the command line and the order of the steps).
"""
