// facelens._core: the C++ core's Python bindings, one file per domain. Every function converts and shape-checks
// its arguments while holding the GIL, allocates its outputs, and releases the GIL around the computation.
#include <pybind11/pybind11.h>

#include "domains.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "facelens native core: SIMD image preprocessing and face-analysis kernels.";
  facelens_py::bind_dispatch(m);
  facelens_py::bind_detection(m);
  facelens_py::bind_geometry(m);
  facelens_py::bind_quality(m);
  facelens_py::bind_search(m);
  facelens_py::bind_tracking(m);
}
