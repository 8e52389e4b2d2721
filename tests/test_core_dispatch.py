"""Runtime SIMD dispatch of facelens._core."""
import os
import subprocess
import sys

import pytest

import facelens._core as core

_REQUIRES = {"scalar": [], "neon": ["neon"], "avx2": ["avx2", "fma"], "avx512": ["avx512f", "avx512bw"]}


def _runnable_levels():
    feats = core.cpu_features()
    return [lv for lv in core.compiled_levels() if all(feats.get(f, False) for f in _REQUIRES[lv])]


def _run_level(env_value):
    env = dict(os.environ)
    if env_value is None:
        env.pop("FACELENS_SIMD", None)
    else:
        env["FACELENS_SIMD"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", "import facelens._core as c; print(c.simd_level())"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )
    return out.stdout.strip().splitlines()[-1]


def test_levels_are_consistent():
    compiled = core.compiled_levels()
    assert compiled[0] == "scalar"
    assert set(compiled) <= set(_REQUIRES)
    assert core.supported_levels() == _runnable_levels()
    assert core.simd_level() in core.supported_levels()


def test_cpu_features_is_dict_of_bool():
    feats = core.cpu_features()
    assert isinstance(feats, dict) and feats
    for k, v in feats.items():
        assert isinstance(k, str) and isinstance(v, bool)
    for key in ("avx2", "fma", "avx512f", "avx512bw", "neon"):
        assert key in feats


def test_default_is_best_supported_level():
    if os.environ.get("FACELENS_SIMD"):
        pytest.skip("FACELENS_SIMD set in the environment")
    assert core.simd_level() == _runnable_levels()[-1]


def test_set_simd_level_roundtrip():
    start = core.simd_level()
    try:
        for lv in _runnable_levels():
            core.set_simd_level(lv)
            assert core.simd_level() == lv
    finally:
        core.set_simd_level("auto")
    assert core.simd_level() == start


@pytest.mark.parametrize("name", ["bogus", "", "AVX2", "sse2"])
def test_set_simd_level_rejects_unknown(name):
    with pytest.raises(ValueError):
        core.set_simd_level(name)


def test_set_simd_level_rejects_uncompiled_or_unsupported():
    runnable = set(_runnable_levels())
    for lv in _REQUIRES:
        if lv not in runnable:
            with pytest.raises(ValueError):
                core.set_simd_level(lv)
    assert core.simd_level() in runnable


def test_env_scalar_forces_scalar():
    assert _run_level("scalar") == "scalar"


def test_env_caps_level():
    levels = _runnable_levels()
    for cap in levels:
        assert _run_level(cap) == cap
    if "avx512" in levels:
        assert _run_level("avx2") == "avx2"


def test_env_unknown_or_auto_means_best():
    best = _runnable_levels()[-1]
    assert _run_level("auto") == best
    assert _run_level("definitely-not-a-level") == best
    assert _run_level(None) == best
