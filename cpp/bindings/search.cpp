#include <algorithm>
#include <cmath>
#include <string>

#include "arrays.hpp"
#include "domains.hpp"
#include "facelens/search.hpp"

namespace facelens_py {
namespace {

facelens::SearchMetric as_metric(const std::string& metric) {
  if (metric == "l2") return facelens::SearchMetric::L2;
  if (metric == "dot") return facelens::SearchMetric::Dot;
  fail("metric must be 'l2' or 'dot', got '" + metric + "'");
}

// None: no bound (every row is admissible); otherwise any real number, numpy scalars included.
float as_bound(const py::object& bound, facelens::SearchMetric metric) {
  if (bound.is_none()) return metric == facelens::SearchMetric::L2 ? INFINITY : -INFINITY;
  const double v = PyFloat_AsDouble(bound.ptr());
  if (v == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    fail("bound must be a number or None");
  }
  return static_cast<float>(v);
}

auto search_topk(const py::handle& matrix, const py::handle& query, int64_t k, const std::string& metric,
                 const py::object& bound) {
  F32Array mat = as_f32(matrix, "matrix");
  F32Array q = as_f32(query, "query");
  check_shape(mat, "matrix", {-1, -1}, "[N, D]");
  check_shape(q, "query", {-1}, "[D]");
  const int64_t n = mat.shape(0), d = mat.shape(1);
  if (q.shape(0) != d) fail("query must have the matrix's " + std::to_string(d) + " columns, got " + shape_str(q));
  const facelens::SearchMetric met = as_metric(metric);
  const float b = as_bound(bound, met);
  const int64_t cap = std::max<int64_t>(0, std::min(n, k));
  py::array_t<int64_t> idx({static_cast<py::ssize_t>(cap)});
  py::array_t<float> score({static_cast<py::ssize_t>(cap)});
  int64_t got = 0;
  {
    py::gil_scoped_release release;
    got = facelens::search_topk(mat.data(), n, d, d, q.data(), k, met, b, idx.mutable_data(), score.mutable_data());
  }
  if (got < cap) {
    idx.resize({static_cast<py::ssize_t>(got)});
    score.resize({static_cast<py::ssize_t>(got)});
  }
  return py::make_tuple(idx, score);
}

}  // namespace

void bind_search(py::module_& m) {
  m.def("search_topk", &search_topk, py::arg("matrix"), py::arg("query"), py::arg("k"), py::arg("metric") = "l2",
        py::arg("bound") = py::none());
}

}  // namespace facelens_py
