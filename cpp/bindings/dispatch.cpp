#include <pybind11/stl.h>

#include <string>

#include "arrays.hpp"
#include "domains.hpp"
#include "facelens/dispatch.hpp"

namespace facelens_py {

void bind_dispatch(py::module_& m) {
  m.def("simd_level", [] { return std::string(facelens::simd_level_name(facelens::simd_level())); },
        "SIMD level used by the kernels: 'avx512', 'avx2', 'neon' or 'scalar'.");
  m.def("compiled_levels", &facelens::compiled_levels, "SIMD levels compiled into this build.");
  m.def("supported_levels", &facelens::supported_levels,
        "SIMD levels compiled into this build and supported by this CPU.");
  m.def(
      "cpu_features",
      [] {
        py::dict d;
        for (const auto& kv : facelens::cpu_features()) d[py::str(kv.first)] = kv.second;
        return d;
      },
      "CPU features relevant to dispatch, e.g. {'avx2': True, ...}.");
  m.def(
      "set_simd_level",
      [](const std::string& name) {
        if (!facelens::set_simd_level(name))
          fail("unknown or unsupported SIMD level '" + name + "'; supported: 'auto' or one of " +
               std::string(py::str(py::cast(facelens::supported_levels()))));
      },
      py::arg("name"), "Force a SIMD level ('auto' restores the default). For tests/benchmarks.");
}

}  // namespace facelens_py
