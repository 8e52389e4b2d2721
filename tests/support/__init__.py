"""Helpers shared by the tests and the benches: the labelled data, throwaway servers (PostgreSQL, SeaweedFS, the
HTTP endpoint), the command line in a child process and the tracker's reference.

The repository root is the import root (pytest's ``pythonpath``, or ``python -m bench.NAME`` from the root), so
tests, benches and tools import each other by package: ``tests.support``, ``bench.*``, ``tools.labelled``.
"""
