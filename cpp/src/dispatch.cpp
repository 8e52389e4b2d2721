// The SIMD level in use and the table of kernels of each level: the CPU is probed once, each row this build
// compiled and this CPU runs is filled once by its level's translation unit, and choosing a level (at start-up
// from FACELENS_SIMD, or set_simd_level) only selects a row.
#include "facelens/dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels.hpp"

namespace facelens {
namespace {

struct Features {
  bool sse4_1 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool neon = false;
};

Features detect() {
  Features f;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.sse4_1 = __builtin_cpu_supports("sse4.1");
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
#endif
#if defined(__aarch64__) || defined(_M_ARM64) || defined(__ARM_NEON)
  f.neon = true;
#endif
  return f;
}

const Features& features() {
  static const Features f = detect();
  return f;
}

// The levels whose kernels this build has (CMake compiles kernels_<level>.cpp where the compiler supports its
// ISA flags). "neon" names a level that has no kernels yet, so aarch64 runs the scalar row.
bool compiled(SimdLevel l) {
  switch (l) {
    case SimdLevel::Scalar: return true;
    case SimdLevel::Neon: return false;
#ifdef FACELENS_HAVE_AVX2
    case SimdLevel::Avx2: return true;
#endif
#ifdef FACELENS_HAVE_AVX512
    case SimdLevel::Avx512: return true;
#endif
    default: return false;
  }
}

bool supported(SimdLevel l) {
  const Features& f = features();
  switch (l) {
    case SimdLevel::Scalar: return true;
    case SimdLevel::Neon: return f.neon;
    case SimdLevel::Avx2: return f.avx2 && f.fma;
    case SimdLevel::Avx512: return f.avx2 && f.fma && f.avx512f && f.avx512bw;
  }
  return false;
}

constexpr SimdLevel kAll[] = {SimdLevel::Scalar, SimdLevel::Neon, SimdLevel::Avx2,
                              SimdLevel::Avx512};

bool parse(const char* s, SimdLevel* out) {
  for (SimdLevel l : kAll) {
    if (std::strcmp(s, simd_level_name(l)) == 0) {
      *out = l;
      return true;
    }
  }
  return false;
}

SimdLevel best(SimdLevel cap) {
  SimdLevel b = SimdLevel::Scalar;
  for (SimdLevel l : kAll) {
    if (static_cast<int>(l) <= static_cast<int>(cap) && compiled(l) && supported(l)) b = l;
  }
  return b;
}

SimdLevel env_default() {
  const char* env = std::getenv("FACELENS_SIMD");
  SimdLevel cap = SimdLevel::Avx512;
  if (env != nullptr && *env != '\0') {
    SimdLevel req;
    if (parse(env, &req)) cap = req;  // unknown / "auto" -> no cap
  }
  return best(cap);
}

std::atomic<int>& current() {
  static std::atomic<int> level{static_cast<int>(env_default())};
  return level;
}


constexpr int kLevels = 4;

struct KernelTable {
  detail::Kernels row[kLevels];
};

KernelTable build_table() {
  KernelTable t{};
  detail::scalar::fill_kernels(t.row[static_cast<int>(SimdLevel::Scalar)]);
  for (int i = 1; i < kLevels; ++i) t.row[i] = t.row[0];  // a level never selected still holds callable kernels
#ifdef FACELENS_HAVE_AVX2
  if (supported(SimdLevel::Avx2)) detail::avx2::fill_kernels(t.row[static_cast<int>(SimdLevel::Avx2)]);
#endif
#ifdef FACELENS_HAVE_AVX512
  if (supported(SimdLevel::Avx512)) detail::avx512::fill_kernels(t.row[static_cast<int>(SimdLevel::Avx512)]);
#endif
  return t;
}

const KernelTable& table() {
  static const KernelTable t = build_table();
  return t;
}

}  // namespace

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Scalar: return "scalar";
    case SimdLevel::Neon: return "neon";
    case SimdLevel::Avx2: return "avx2";
    case SimdLevel::Avx512: return "avx512";
  }
  return "scalar";
}

SimdLevel simd_level() {
  return static_cast<SimdLevel>(current().load(std::memory_order_relaxed));
}

std::vector<std::string> compiled_levels() {
  std::vector<std::string> out;
  for (SimdLevel l : kAll)
    if (compiled(l)) out.emplace_back(simd_level_name(l));
  return out;
}

std::vector<std::string> supported_levels() {
  std::vector<std::string> out;
  for (SimdLevel l : kAll)
    if (compiled(l) && supported(l)) out.emplace_back(simd_level_name(l));
  return out;
}

std::vector<std::pair<std::string, bool>> cpu_features() {
  const Features& f = features();
  return {{"sse4_1", f.sse4_1},     {"avx", f.avx},           {"avx2", f.avx2},
          {"fma", f.fma},           {"avx512f", f.avx512f},   {"avx512bw", f.avx512bw},
          {"avx512vl", f.avx512vl}, {"avx512dq", f.avx512dq}, {"neon", f.neon}};
}

bool set_simd_level(const std::string& name) {
  if (name == "auto") {
    current().store(static_cast<int>(env_default()), std::memory_order_relaxed);
    return true;
  }
  SimdLevel l;
  if (!parse(name.c_str(), &l) || !compiled(l) || !supported(l)) return false;
  current().store(static_cast<int>(l), std::memory_order_relaxed);
  return true;
}

namespace detail {

const Kernels& kernels(SimdLevel level) { return table().row[static_cast<int>(level)]; }

const Kernels& kernels() { return kernels(simd_level()); }

}  // namespace detail
}  // namespace facelens
