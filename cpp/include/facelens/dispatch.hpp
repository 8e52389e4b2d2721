// Runtime SIMD dispatch.
//
// The library is compiled for the baseline target (x86-64 / armv8-a). Each
// SIMD level is one translation unit compiled with its ISA flags that fills
// that level's row of the kernel table (src/kernels.hpp); the level used at run
// time is chosen from the CPU features and the levels this build compiled:
//
//   x86-64 : "scalar" < "avx2" (AVX2+FMA) < "avx512" (AVX-512 F+BW)
//   other  : "scalar" ("neon" is a name only: there are no NEON kernels yet)
//
// The environment variable FACELENS_SIMD is read at first use: "scalar" forces
// the scalar reference path; any other level name caps the level ("avx2" on an
// AVX-512 machine selects AVX2); "auto" / unset / unknown selects the best.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace facelens {

enum class SimdLevel : int { Scalar = 0, Neon = 1, Avx2 = 2, Avx512 = 3 };

// Level currently used by the kernels.
SimdLevel simd_level();
const char* simd_level_name(SimdLevel level);

// Levels compiled into this build, lowest first (always starts with "scalar").
std::vector<std::string> compiled_levels();

// Levels that are compiled in AND supported by this CPU, lowest first.
std::vector<std::string> supported_levels();

// CPU features relevant to dispatch, e.g. {"avx2", true}.
std::vector<std::pair<std::string, bool>> cpu_features();

// "auto" restores the start-up choice (best level, capped by FACELENS_SIMD); any other
// name must be compiled and supported. Returns false (and changes nothing)
// otherwise. Thread-safe (atomic), intended for tests and benchmarks.
bool set_simd_level(const std::string& name);

}  // namespace facelens
