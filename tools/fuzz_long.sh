#!/usr/bin/env bash
# The long fuzzing run: the core built with ASan + UBSan (every report aborts) and clang's coverage
# instrumentation, so libFuzzer (atheris) is guided by the native code's edges as well as facelens' Python code.
#
#   tools/fuzz_long.sh [OUT_DIR]        # OUT_DIR default /tmp/facelens-fuzz
#
# The three targets run side by side, each until its run count or FUZZ_SECONDS (default 3600) is reached.
# Environment: CORE_RUNS (default 1000000), REQUEST_RUNS (1000000), DECODE_RUNS (1000000), FUZZ_SECONDS,
# DETECT_EVERY (25), TARGETS (default "core request decode"), PYTHON (default: python3 on PATH, with facelens
# and atheris installed).
# Needs clang-14 and its compiler-rt (Debian: apt-get install clang-14 libclang-rt-14-dev). Findings are written
# as crash-*/oom-*/timeout-* files in OUT_DIR/<target>/; each target's log is OUT_DIR/<target>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-/tmp/facelens-fuzz}"
PYTHON="${PYTHON:-python3}"
CORE_RUNS="${CORE_RUNS:-1000000}"
REQUEST_RUNS="${REQUEST_RUNS:-1000000}"
DECODE_RUNS="${DECODE_RUNS:-1000000}"
SECONDS_EACH="${FUZZ_SECONDS:-3600}"
DETECT_EVERY="${DETECT_EVERY:-25}"
RT="$(clang-14 -print-resource-dir)/lib/linux"
mkdir -p "$OUT"

# 1. The core with sanitizers and coverage (FACELENS_SANITIZE is the CMake option for the sanitizers).
cmake -S "$ROOT" -B "$OUT/build" -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFACELENS_SANITIZE=address,undefined \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" \
  -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$PYTHON")" >/dev/null
cmake --build "$OUT/build" --target _core -j2 >/dev/null
CORE="$(ls "$OUT"/build/_core*.so)"

# 2. ASan's runtime and libFuzzer in one preloadable library (the recipe of atheris' native-extension guide: ASan's
# archive without its .preinit_array object, and the libFuzzer archive that ships in the atheris wheel). atheris
# then uses the preloaded libFuzzer, which sees the core's coverage counters.
SITE="$("$PYTHON" -c 'import atheris, os; print(os.path.dirname(os.path.dirname(atheris.__file__)))')"
cp "$RT/libclang_rt.asan-x86_64.a" "$OUT/asan_nopreinit.a"
ar d "$OUT/asan_nopreinit.a" asan_preinit.cpp.o
clang++-14 -shared -o "$OUT/asan_with_fuzzer.so" -Wl,--whole-archive "$OUT/asan_nopreinit.a" \
  "$RT/libclang_rt.asan_cxx-x86_64.a" "$SITE/libclang_rt.fuzzer_no_main.a" -Wl,--no-whole-archive \
  -ldl -lrt -lpthread -lm -lstdc++

export LD_PRELOAD="$OUT/asan_with_fuzzer.so"
# Python's own allocations are not leaks to report; a failed allocation must come back as MemoryError.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONWARNINGS=ignore

"$PYTHON" "$ROOT/tools/fuzz.py" --seed-corpus "$OUT/seeds" >/dev/null
run() {  # target, corpus folders, then libFuzzer flags after --
  local target="$1"; shift
  local dirs=()
  while [ "$1" != "--" ]; do dirs+=("$1"); shift; done
  shift
  mkdir -p "$OUT/$target"
  if ! (cd "$OUT/$target" && "$PYTHON" "$ROOT/tools/fuzz.py" "$target" --core "$CORE" "$@" -rss_limit_mb=3000 \
          -timeout=60 -print_final_stats=1 "${dirs[@]}") >"$OUT/$target.log" 2>&1; then
    echo "$target: finding, see $OUT/$target.log"
  fi
  grep -E "^(Done|stat::number_of_executed_units)" "$OUT/$target.log" | sed "s/^/$target: /"
}
mkdir -p "$OUT/core/corpus" "$OUT/request/corpus" "$OUT/decode/corpus"
for target in ${TARGETS:-core request decode}; do
  case "$target" in
    core) run core "$OUT/core/corpus" -- -runs="$CORE_RUNS" -max_total_time="$SECONDS_EACH" & ;;
    request) run request "$OUT/request/corpus" -- -runs="$REQUEST_RUNS" -max_total_time="$SECONDS_EACH" & ;;
    decode) run decode "$OUT/decode/corpus" "$OUT/seeds" -- --detect-every "$DETECT_EVERY" -runs="$DECODE_RUNS" \
              -max_total_time="$SECONDS_EACH" -max_len=65536 & ;;
  esac
done
wait
