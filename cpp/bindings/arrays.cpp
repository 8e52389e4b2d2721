#include "arrays.hpp"

#include <cmath>
#include <cstring>
#include <sstream>

namespace facelens_py {
namespace {

constexpr int kMaxSide = 1 << 16;
// Output pixels of one letterbox/warp call (4096 x 4096; 192 MB of float32): the networks take 960 px at most, and
// a larger request is a mistake that would otherwise allocate and fill up to 48 GB.
constexpr int64_t kMaxOutPixels = int64_t{1} << 24;

// ``obj`` as a C-contiguous array of T (converted or copied when needed). A copy that cannot be allocated
// raises MemoryError, anything numpy cannot convert raises ValueError ``message``. (pybind11's
// array_t::ensure returns a null array in both cases, which must never reach data().)
template <class T>
py::array_t<T, py::array::c_style | py::array::forcecast> ensure_array(const py::handle& obj,
                                                                      const std::string& message) {
  using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;
  if (obj.is_none()) fail(message);
  const auto& api = py::detail::npy_api::get();
  PyObject* raw = api.PyArray_FromAny_(obj.ptr(), py::dtype::of<T>().release().ptr(), 0, 0,
                                       py::detail::npy_api::NPY_ARRAY_ENSUREARRAY_ | py::array::c_style | py::array::forcecast,
                                       nullptr);
  if (raw == nullptr) {
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) throw py::error_already_set();  // numpy's message, kept
    PyErr_Clear();
    fail(message);
  }
  return py::reinterpret_steal<Array>(raw);
}

void check_side(int v, const char* name) {
  if (v < 1 || v > kMaxSide)
    fail(std::string(name) + " must be in [1, " + std::to_string(kMaxSide) + "], got " + std::to_string(v));
}

}  // namespace

void fail(const std::string& msg) { throw py::value_error(msg); }

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

facelens::ImageU8 as_image(const py::handle& obj, py::array* keep, const char* name) {
  py::array arr = py::array::ensure(obj);
  if (!arr) fail(std::string(name) + " must be a numpy array");
  const py::dtype dt = arr.dtype();
  if (dt.kind() != 'u' || dt.itemsize() != 1)
    fail(std::string(name) + " must have dtype uint8, got " + std::string(py::str(dt)));
  if (arr.ndim() != 3 || arr.shape(2) != 3)
    fail(std::string(name) + " must have shape [H, W, 3], got " + shape_str(arr));
  if (arr.shape(0) < 1 || arr.shape(1) < 1)
    fail(std::string(name) + " must be at least 1x1, got " + shape_str(arr));
  if (arr.shape(0) >= (py::ssize_t{1} << 30) || arr.shape(1) >= (py::ssize_t{1} << 29))
    fail(std::string(name) + " is too large");
  const py::ssize_t H = arr.shape(0), W = arr.shape(1);
  auto usable = [&](const py::array& a) {
    const py::ssize_t s1 = W == 1 ? 3 : a.strides(1);
    const py::ssize_t s0 = H == 1 ? 3 * W : a.strides(0);
    return a.strides(2) == 1 && s1 == 3 && s0 >= 3 * W;
  };
  if (!usable(arr)) arr = ensure_array<uint8_t>(arr, std::string(name) + " could not be copied");
  facelens::ImageU8 img;
  img.data = static_cast<const uint8_t*>(arr.data());
  img.width = static_cast<int>(W);
  img.height = static_cast<int>(H);
  img.row_stride = H == 1 ? 3 * W : arr.strides(0);
  *keep = arr;
  return img;
}

F32Array as_f32(const py::handle& obj, const char* name) {
  if (obj.is_none()) fail(std::string(name) + " must be an array, got None");
  return ensure_array<float>(obj, std::string(name) + " must be convertible to a float32 array");
}

F64Array as_f64(const py::handle& obj, const std::string& message) { return ensure_array<double>(obj, message); }

void check_shape(const py::array& a, const char* name, std::initializer_list<py::ssize_t> shape,
                 const char* expected) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  if (ok) {
    py::ssize_t i = 0;
    for (py::ssize_t s : shape) {
      if (s >= 0 && a.shape(i) != s) ok = false;
      ++i;
    }
  }
  if (!ok) fail(std::string(name) + " must have shape " + expected + ", got " + shape_str(a));
}

std::pair<F32Array, F32Array> as_boxes_scores(const py::handle& boxes, const py::handle& scores) {
  F32Array b = as_f32(boxes, "boxes");
  F32Array s = as_f32(scores, "scores");
  check_shape(b, "boxes", {-1, 4}, "[N, 4]");
  check_shape(s, "scores", {-1}, "[N]");
  if (s.shape(0) != b.shape(0))
    fail("boxes and scores must have the same length, got " + std::to_string(b.shape(0)) + " and " +
         std::to_string(s.shape(0)));
  return {b, s};
}

std::array<float, 3> as_channel_triple(const py::handle& obj, const char* name) {
  const std::string message = std::string(name) + " must be a sequence of 3 numbers";
  F64Array a = as_f64(obj, message);
  std::array<float, 3> v{};
  if (a.size() == 1 && a.ndim() <= 1) {
    v.fill(static_cast<float>(a.data()[0]));
  } else if (a.ndim() == 1 && a.size() == 3) {
    for (size_t i = 0; i < 3; ++i) v[i] = static_cast<float>(a.data()[i]);
  } else {
    fail(message);
  }
  for (float x : v)
    if (!std::isfinite(x)) fail(std::string(name) + " must be finite");
  return v;
}

void check_out_size(int out_w, int out_h) {
  check_side(out_w, "out_w");
  check_side(out_h, "out_h");
  if (int64_t{out_w} * out_h > kMaxOutPixels)
    fail("out_w x out_h must be at most " + std::to_string(kMaxOutPixels) + " pixels, got " +
         std::to_string(out_w) + "x" + std::to_string(out_h));
}

std::array<float, 6> as_affine(const py::handle& obj) {
  F32Array M = as_f32(obj, "M");
  check_shape(M, "M", {2, 3}, "[2, 3]");
  std::array<float, 6> m;
  std::memcpy(m.data(), M.data(), sizeof(float) * 6);
  return m;
}

}  // namespace facelens_py
