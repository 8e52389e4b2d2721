// Python bindings for the facelens native core (module facelens._core).
// The only translation unit that includes pybind11. Every function validates
// its inputs (ValueError), allocates its outputs while holding the GIL and
// releases the GIL around the computation.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>

#include "facelens/decode.hpp"
#include "facelens/dispatch.hpp"
#include "facelens/nms.hpp"
#include "facelens/pose.hpp"
#include "facelens/gaze.hpp"
#include "facelens/preprocess.hpp"
#include "facelens/quality.hpp"
#include "facelens/search.hpp"
#include "facelens/select.hpp"
#include "facelens/track.hpp"
#include "facelens/warp.hpp"

namespace py = pybind11;
using facelens::ImageU8;

namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;
using F64Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

constexpr int kMaxSide = 1 << 16;
// Output pixels of one letterbox/warp call (4096 x 4096; 192 MB of float32): the networks take 960 px at most, and
// a larger request is a mistake that would otherwise allocate and fill up to 48 GB.
constexpr int64_t kMaxOutPixels = int64_t{1} << 24;

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  if (a.ndim() == 1) s << ",";
  s << ")";
  return s.str();
}

[[noreturn]] void fail(const std::string& msg) { throw py::value_error(msg); }

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

// uint8 [H, W, 3] image. Arrays with pixel stride 3 and channel stride 1 are
// used in place (any positive row stride, e.g. crops); others are copied.
ImageU8 as_image(const py::handle& obj, py::array* keep, const char* name = "image") {
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
  ImageU8 img;
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

// A float64 view of ``obj`` (None or anything numpy cannot convert: ValueError ``message``).
F64Array as_f64(const py::handle& obj, const std::string& message) {
  return ensure_array<double>(obj, message);
}

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

// Boxes [N, 4] (x1, y1, x2, y2) and their scores [N], as float32 views.
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

template <size_t N>
std::array<float, N> parse_floats(const py::handle& obj, const char* name, bool broadcast) {
  F64Array a = as_f64(obj, std::string(name) + " must be a sequence of " + std::to_string(N) + " numbers");
  std::array<float, N> v{};
  if (a.size() == 1 && broadcast && a.ndim() <= 1) {
    v.fill(static_cast<float>(a.data()[0]));
  } else if (a.ndim() == 1 && a.size() == static_cast<py::ssize_t>(N)) {
    for (size_t i = 0; i < N; ++i) v[i] = static_cast<float>(a.data()[i]);
  } else {
    fail(std::string(name) + " must be a sequence of " + std::to_string(N) + " numbers");
  }
  for (float x : v)
    if (!std::isfinite(x)) fail(std::string(name) + " must be finite");
  return v;
}

void check_side(int v, const char* name) {
  if (v < 1 || v > kMaxSide)
    fail(std::string(name) + " must be in [1, " + std::to_string(kMaxSide) + "], got " + std::to_string(v));
}

void check_out_size(int out_w, int out_h) {
  check_side(out_w, "out_w");
  check_side(out_h, "out_h");
  if (int64_t{out_w} * out_h > kMaxOutPixels)
    fail("out_w x out_h must be at most " + std::to_string(kMaxOutPixels) + " pixels, got " +
         std::to_string(out_w) + "x" + std::to_string(out_h));
}

std::array<float, 6> parse_affine(const py::handle& obj) {
  F32Array M = as_f32(obj, "M");
  check_shape(M, "M", {2, 3}, "[2, 3]");
  std::array<float, 6> m;
  std::memcpy(m.data(), M.data(), sizeof(float) * 6);
  for (float x : m)
    if (!std::isfinite(x)) fail("M must be finite");
  return m;
}

// Accepts [C, h, w] or [1, C, h, w] (batch dim of 1 squeezed).
F32Array as_map(const py::handle& obj, const char* name, py::ssize_t channels, bool allow_2d) {
  F32Array a = as_f32(obj, name);
  if (a.ndim() == 4 && a.shape(0) == 1) a = ensure_array<float>(a.squeeze(), std::string(name) + " could not be squeezed");
  if (allow_2d && a.ndim() == 2) return a;
  if (a.ndim() != 3 || a.shape(0) != channels) {
    std::string exp = "[" + std::to_string(channels) + ", h, w]";
    if (allow_2d) exp += " or [h, w]";
    fail(std::string(name) + " must have shape " + exp + ", got " + shape_str(a));
  }
  return a;
}

}  // namespace

namespace {

// facelens.Tracker: the C++ tracker plus the per-detection boxes of the last
// update. The mutex serialises calls from Python threads (update runs without
// the GIL).
struct PyTracker {
  explicit PyTracker(const facelens::TrackerParams& p) : tracker(p) {}
  facelens::Tracker tracker;
  std::vector<float> last_boxes;
  std::mutex mu;
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "facelens native core: SIMD image preprocessing and face-analysis kernels.";

  // ------------------------------------------------------------------ dispatch
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

  // ----------------------------------------------------------------- letterbox
  m.def(
      "letterbox_nchw",
      [](const py::handle& image, int out_w, int out_h, const py::handle& mean,
         const py::handle& scale, bool swap_rb) {
        py::array keep;
        const ImageU8 img = as_image(image, &keep);
        check_out_size(out_w, out_h);
        const auto mn = parse_floats<3>(mean, "mean", true);
        const auto sc = parse_floats<3>(scale, "scale", true);
        py::array_t<float> out({py::ssize_t{1}, py::ssize_t{3}, py::ssize_t{out_h}, py::ssize_t{out_w}});
        float* o = out.mutable_data();
        facelens::LetterboxGeometry g;
        {
          py::gil_scoped_release release;
          g = facelens::letterbox_nchw(img, out_w, out_h, mn.data(), sc.data(), swap_rb, o);
        }
        return py::make_tuple(out, g.ratio);
      },
      py::arg("image"), py::arg("out_w"), py::arg("out_h"),
      py::arg("mean") = py::make_tuple(0.0, 0.0, 0.0), py::arg("scale") = py::make_tuple(1.0, 1.0, 1.0),
      py::arg("swap_rb") = false);

  // -------------------------------------------------------------------- decode
  m.def(
      "decode_centerface",
      [](const py::handle& heatmap, const py::handle& scale, const py::handle& offset,
         const py::handle& landmarks, float score_threshold, float ratio, int image_w, int image_h) {
        F32Array heat = as_map(heatmap, "heatmap", 1, true);
        F32Array sc = as_map(scale, "scale", 2, false);
        F32Array off = as_map(offset, "offset", 2, false);
        F32Array lm = as_map(landmarks, "landmarks", 10, false);
        const py::ssize_t h = heat.shape(heat.ndim() - 2), w = heat.shape(heat.ndim() - 1);
        for (const F32Array* a : {&sc, &off, &lm})
          if (a->shape(1) != h || a->shape(2) != w)
            fail("scale, offset and landmarks must have the same [h, w] as heatmap (" +
                 std::to_string(h) + ", " + std::to_string(w) + "), got " + shape_str(*a));
        if (std::isnan(score_threshold)) fail("score_threshold is NaN");
        if (!(ratio > 0.f) || !std::isfinite(ratio)) fail("ratio must be a finite number > 0");
        if (image_w < 1 || image_h < 1) fail("image_w and image_h must be >= 1");
        facelens::CenterFaceMaps maps{heat.data(), sc.data(), off.data(), lm.data(),
                                      static_cast<int>(h), static_cast<int>(w)};
        const float* det = nullptr;
        int64_t n = 0;
        {
          py::gil_scoped_release release;
          det = facelens::decode_centerface(maps, score_threshold, ratio, image_w, image_h, &n);
        }
        py::array_t<float> boxes({static_cast<py::ssize_t>(n), py::ssize_t{4}});
        py::array_t<float> scores({static_cast<py::ssize_t>(n)});
        py::array_t<float> points({static_cast<py::ssize_t>(n), py::ssize_t{5}, py::ssize_t{2}});
        float* b = boxes.mutable_data();
        float* s = scores.mutable_data();
        float* p = points.mutable_data();
        {
          py::gil_scoped_release release;
          for (int64_t i = 0; i < n; ++i) {
            const float* d = det + i * facelens::kCenterFaceStride;
            std::memcpy(b + 4 * i, d, 4 * sizeof(float));
            s[i] = d[4];
            std::memcpy(p + 10 * i, d + 5, 10 * sizeof(float));
          }
        }
        return py::make_tuple(boxes, scores, points);
      },
      py::arg("heatmap"), py::arg("scale"), py::arg("offset"), py::arg("landmarks"),
      py::arg("score_threshold"), py::arg("ratio"), py::arg("image_w"), py::arg("image_h"));

  // ----------------------------------------------------------------------- nms
  m.def(
      "nms",
      [](const py::handle& boxes, const py::handle& scores, float iou_threshold) {
        auto [b, s] = as_boxes_scores(boxes, scores);
        if (std::isnan(iou_threshold)) fail("iou_threshold is NaN");
        const int64_t n = b.shape(0);
        const int64_t* keep = nullptr;
        int64_t k = 0;
        {
          py::gil_scoped_release release;
          keep = facelens::nms(b.data(), s.data(), n, iou_threshold, &k);
        }
        py::array_t<int64_t> out({static_cast<py::ssize_t>(k)});
        if (k) std::memcpy(out.mutable_data(), keep, sizeof(int64_t) * k);
        return out;
      },
      py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"));

  // ------------------------------------------------------------ select_largest
  m.def(
      "select_largest",
      [](const py::handle& boxes, int64_t k) {
        F32Array b = as_f32(boxes, "boxes");
        check_shape(b, "boxes", {-1, 4}, "[N, 4]");
        if (k < 0) fail("k must be >= 0");
        const int64_t n = b.shape(0);
        py::array_t<int64_t> out({static_cast<py::ssize_t>(std::min(n, k))});
        int64_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          facelens::select_largest(b.data(), n, k, o);
        }
        return out;
      },
      py::arg("boxes"), py::arg("k"));

  // -------------------------------------------------------------- warp_affine
  m.def(
      "warp_affine",
      [](const py::handle& image, const py::handle& M, int out_w, int out_h,
         const py::handle& mean, const py::handle& scale) {
        py::array keep;
        const ImageU8 img = as_image(image, &keep);
        const auto m6 = parse_affine(M);
        check_out_size(out_w, out_h);
        const auto mn = parse_floats<3>(mean, "mean", true);
        const auto sc = parse_floats<3>(scale, "scale", true);
        py::array_t<float> out({py::ssize_t{out_h}, py::ssize_t{out_w}, py::ssize_t{3}});
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          facelens::warp_affine(img, m6.data(), out_w, out_h, mn.data(), sc.data(), o);
        }
        return out;
      },
      py::arg("image"), py::arg("M"), py::arg("out_w"), py::arg("out_h"),
      py::arg("mean") = py::make_tuple(0.0, 0.0, 0.0), py::arg("scale") = py::make_tuple(1.0, 1.0, 1.0));

  // --------------------------------------------------------- transform_points
  m.def(
      "transform_points",
      [](const py::handle& points, const py::handle& M) {
        F32Array p = as_f32(points, "points");
        if (p.ndim() != 2 || (p.shape(1) != 2 && p.shape(1) != 3))
          fail("points must have shape [N, 2] or [N, 3], got " + shape_str(p));
        const auto m6 = parse_affine(M);
        const int64_t n = p.shape(0);
        const int d = static_cast<int>(p.shape(1));
        py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(d)});
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          facelens::transform_points(p.data(), n, d, m6.data(), o);
        }
        return out;
      },
      py::arg("points"), py::arg("M"));

  // ------------------------------------------------------------- face_quality
  m.def(
      "face_quality",
      [](const py::handle& image, const py::handle& box, int size) {
        py::array keep;
        const ImageU8 img = as_image(image, &keep);
        F64Array bx = as_f64(box, "box must be a sequence of 4 numbers (x1, y1, x2, y2)");
        if (bx.size() != 4) fail("box must be a sequence of 4 numbers (x1, y1, x2, y2)");
        float b4[4];
        for (int i = 0; i < 4; ++i) b4[i] = static_cast<float>(bx.data()[i]);
        if (size < 3 || size > 4096) fail("size must be in [3, 4096]");
        facelens::FaceQuality q;
        {
          py::gil_scoped_release release;
          q = facelens::face_quality(img, b4, size);
        }
        return py::make_tuple(q.mean_luma, q.laplacian_variance);
      },
      py::arg("image"), py::arg("box"), py::arg("size") = 64);

  // ---------------------------------------------------------------- head_pose
  m.def(
      "head_pose",
      [](const py::handle& points, const py::handle& reference, const py::handle& weights) {
        F32Array p = as_f32(points, "points");
        F32Array r = as_f32(reference, "reference");
        check_shape(p, "points", {-1, 3}, "[N, 3]");
        check_shape(r, "reference", {-1, 3}, "[N, 3]");
        if (p.shape(0) != r.shape(0))
          fail("points and reference must have the same number of rows, got " + shape_str(p) +
               " and " + shape_str(r));
        const int64_t n = p.shape(0);
        if (n < 3) fail("head_pose needs at least 3 points, got " + std::to_string(n));
        F32Array w;
        if (!weights.is_none()) {
          w = as_f32(weights, "weights");
          check_shape(w, "weights", {n}, "[N]");
        }
        facelens::Similarity sim;
        {
          py::gil_scoped_release release;
          sim = facelens::umeyama(p.data(), r.data(), weights.is_none() ? nullptr : w.data(), n);
        }
        py::array_t<float> R({py::ssize_t{3}, py::ssize_t{3}});
        py::array_t<float> t({py::ssize_t{3}});
        for (int i = 0; i < 9; ++i) R.mutable_data()[i] = static_cast<float>(sim.R[i]);
        for (int i = 0; i < 3; ++i) t.mutable_data()[i] = static_cast<float>(sim.t[i]);
        return py::make_tuple(R, sim.scale, t);
      },
      py::arg("points"), py::arg("reference"), py::arg("weights") = py::none());

  // -------------------------------------------------------- rotation_to_euler
  m.def(
      "rotation_to_euler",
      [](const py::handle& R) {
        F64Array a = as_f64(R, "R must be a [3, 3] array");
        check_shape(a, "R", {3, 3}, "[3, 3]");
        double r9[9];
        for (int i = 0; i < 9; ++i) {
          r9[i] = a.data()[i];
          if (!std::isfinite(r9[i])) fail("R must be finite");
        }
        facelens::Euler e;
        {
          py::gil_scoped_release release;
          e = facelens::rotation_to_euler(r9);
        }
        return py::make_tuple(e.yaw, e.pitch, e.roll);
      },
      py::arg("R"));

  // ------------------------------------------------------------- eye_direction
  m.def(
      "eye_direction",
      [](const py::handle& points, const py::handle& R, double scale, const py::handle& t,
         const py::handle& eyeballs, double radius, double presence, double prior_yaw, double prior_pitch,
         double prior_weight, double geo_pitch_offset) {
        F32Array p = as_f32(points, "points");
        F32Array r = as_f32(R, "R");
        F32Array tr = as_f32(t, "t");
        F32Array eb = as_f32(eyeballs, "eyeballs");
        check_shape(p, "points", {-1, 3}, "[N, 3]");
        check_shape(r, "R", {3, 3}, "[3, 3]");
        check_shape(tr, "t", {3}, "[3]");
        check_shape(eb, "eyeballs", {2, 3}, "[2, 3]");
        facelens::GazeInput in;
        in.points = p.data();
        in.n_points = static_cast<std::size_t>(p.shape(0));
        in.rotation = r.data();
        in.scale = static_cast<float>(scale);
        in.translation = tr.data();
        in.eyeballs = eb.data();
        in.radius = static_cast<float>(radius);
        in.presence = static_cast<float>(presence);
        in.prior_yaw = static_cast<float>(prior_yaw);
        in.prior_pitch = static_cast<float>(prior_pitch);
        in.prior_weight = static_cast<float>(prior_weight);
        in.geo_pitch_offset = static_cast<float>(geo_pitch_offset);
        facelens::GazeResult out;
        bool ok;
        {
          py::gil_scoped_release release;
          ok = facelens::eye_direction(in, out);
        }
        if (!ok)
          fail("eye_direction needs >= 478 finite landmarks, scale > 0 and radius > 0");
        return py::make_tuple(out.yaw, out.pitch, out.confidence, out.eye_in_head_yaw, out.eye_in_head_pitch,
                              out.openness);
      },
      py::arg("points"), py::arg("R"), py::arg("scale"), py::arg("t"), py::arg("eyeballs"),
      py::arg("radius") = 1.2, py::arg("presence") = 1.0, py::arg("prior_yaw") = 0.0,
      py::arg("prior_pitch") = 0.0, py::arg("prior_weight") = 0.0, py::arg("geo_pitch_offset") = 0.0);

  // -------------------------------------------------------------- search_topk
  m.def(
      "search_topk",
      [](const py::handle& matrix, const py::handle& query, int64_t k, const std::string& metric,
         const py::object& bound) {
        F32Array mat = as_f32(matrix, "matrix");
        F32Array q = as_f32(query, "query");
        check_shape(mat, "matrix", {-1, -1}, "[N, D]");
        check_shape(q, "query", {-1}, "[D]");
        const int64_t n = mat.shape(0), d = mat.shape(1);
        if (q.shape(0) != d)
          fail("query must have the matrix's " + std::to_string(d) + " columns, got " + shape_str(q));
        if (d < 1) fail("matrix must have at least one column");
        if (k < 0) fail("k must be >= 0");
        facelens::SearchMetric met;
        if (metric == "l2") {
          met = facelens::SearchMetric::L2;
        } else if (metric == "dot") {
          met = facelens::SearchMetric::Dot;
        } else {
          fail("metric must be 'l2' or 'dot', got '" + metric + "'");
        }
        float b = met == facelens::SearchMetric::L2 ? INFINITY : -INFINITY;
        if (!bound.is_none()) {
          const double v = PyFloat_AsDouble(bound.ptr());  // any real number (numpy scalars included)
          if (v == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            fail("bound must be a number or None");
          }
          b = static_cast<float>(v);
          if (std::isnan(b)) fail("bound is NaN");
        }
        const float* qd = q.data();
        for (int64_t j = 0; j < d; ++j)
          if (!std::isfinite(qd[j])) fail("query must be finite");
        const int64_t cap = std::min(n, k);
        py::array_t<int64_t> idx({static_cast<py::ssize_t>(cap)});
        py::array_t<float> score({static_cast<py::ssize_t>(cap)});
        int64_t got = 0;
        {
          py::gil_scoped_release release;
          got = facelens::search_topk(mat.data(), n, d, d, qd, k, met, b, idx.mutable_data(),
                                      score.mutable_data());
        }
        if (got < cap) {
          idx.resize({static_cast<py::ssize_t>(got)});
          score.resize({static_cast<py::ssize_t>(got)});
        }
        return py::make_tuple(idx, score);
      },
      py::arg("matrix"), py::arg("query"), py::arg("k"), py::arg("metric") = "l2",
      py::arg("bound") = py::none());

  // ------------------------------------------------------------------ tracker
  m.def(
      "linear_assignment",
      [](const py::handle& cost) {
        F64Array c = as_f64(cost, "cost must be a [rows, cols] array convertible to float64");
        check_shape(c, "cost", {-1, -1}, "[rows, cols]");
        const int64_t rows = c.shape(0), cols = c.shape(1);
        const double* cd = c.data();
        for (int64_t i = 0; i < rows * cols; ++i)
          if (!std::isfinite(cd[i])) fail("cost must be finite");
        py::array_t<int64_t> out({static_cast<py::ssize_t>(rows)});
        int64_t* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          facelens::linear_assignment(cd, rows, cols, o);
        }
        return out;
      },
      py::arg("cost"),
      "Minimum-cost rectangular assignment; int64 [rows] column of each row, -1 if unassigned.");

  py::class_<PyTracker>(m, "Tracker")
      .def(py::init([](double iou_threshold, double max_age_s, int64_t min_hits, double center_threshold,
                       double new_track_score) {
             facelens::TrackerParams p;
             p.iou_threshold = iou_threshold;
             p.max_age_s = max_age_s;
             p.min_hits = min_hits;
             p.center_threshold = center_threshold;
             p.new_track_score = new_track_score;
             return new PyTracker(p);
           }),
           py::arg("iou_threshold") = 0.3, py::arg("max_age_s") = 1.0, py::arg("min_hits") = 2,
           py::arg("center_threshold") = 0.6, py::arg("new_track_score") = 0.0)
      .def(
          "update",
          [](PyTracker& self, const py::handle& boxes, const py::handle& scores, double dt_s) {
            auto [b, s] = as_boxes_scores(boxes, scores);
            if (!std::isfinite(dt_s) || dt_s < 0.0)
              fail("dt_s must be finite and >= 0, got " + std::to_string(dt_s));
            const int64_t n = b.shape(0);
            const float* bd = b.data();
            const float* sd = s.data();
            for (int64_t i = 0; i < 4 * n; ++i)
              if (!std::isfinite(bd[i])) fail("boxes must be finite");
            for (int64_t i = 0; i < n; ++i)
              if (!std::isfinite(sd[i])) fail("scores must be finite");
            py::array_t<int64_t> out({static_cast<py::ssize_t>(n)});
            int64_t* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(self.mu);
              self.last_boxes.resize(4 * n);
              self.tracker.update(bd, sd, n, dt_s, o, self.last_boxes.data());
            }
            return out;
          },
          py::arg("boxes"), py::arg("scores"), py::arg("dt_s"))
      .def("filtered_boxes",
           [](PyTracker& self) {
             std::lock_guard<std::mutex> lock(self.mu);
             const py::ssize_t n = static_cast<py::ssize_t>(self.last_boxes.size() / 4);
             py::array_t<float> out({n, py::ssize_t{4}});
             if (n) std::memcpy(out.mutable_data(), self.last_boxes.data(), sizeof(float) * 4 * n);
             return out;
           })
      .def("live_tracks",
           [](PyTracker& self) {
             std::lock_guard<std::mutex> lock(self.mu);
             const auto& ts = self.tracker.tracks();
             const py::ssize_t n = static_cast<py::ssize_t>(ts.size());
             py::array_t<int64_t> idx({n});
             py::array_t<float> bx({n, py::ssize_t{4}});
             py::array_t<double> age({n});
             for (py::ssize_t i = 0; i < n; ++i) {
               double b4[4];
               facelens::Tracker::box_of(ts[i], b4);
               idx.mutable_data()[i] = ts[i].index;
               for (int k = 0; k < 4; ++k) bx.mutable_data()[4 * i + k] = static_cast<float>(b4[k]);
               age.mutable_data()[i] = ts[i].since_update_s;
             }
             return py::make_tuple(idx, bx, age);
           })
      .def("reset",
           [](PyTracker& self) {
             std::lock_guard<std::mutex> lock(self.mu);
             self.tracker.reset();
             self.last_boxes.clear();
           })
      .def_property_readonly("tracks_confirmed",
                             [](PyTracker& self) {
                               std::lock_guard<std::mutex> lock(self.mu);
                               return self.tracker.tracks_confirmed();
                             })
      .def_property_readonly("frame_count",
                             [](PyTracker& self) {
                               std::lock_guard<std::mutex> lock(self.mu);
                               return self.tracker.frame_count();
                             })
      .def_property_readonly("time_s",
                             [](PyTracker& self) {
                               std::lock_guard<std::mutex> lock(self.mu);
                               return self.tracker.time_s();
                             })
      .def_property_readonly("iou_threshold", [](PyTracker& self) { return self.tracker.params().iou_threshold; })
      .def_property_readonly("max_age_s", [](PyTracker& self) { return self.tracker.params().max_age_s; })
      .def_property_readonly("min_hits", [](PyTracker& self) { return self.tracker.params().min_hits; })
      .def_property_readonly("center_threshold",
                             [](PyTracker& self) { return self.tracker.params().center_threshold; })
      .def_property_readonly("new_track_score",
                             [](PyTracker& self) { return self.tracker.params().new_track_score; })
      .def("__repr__", [](PyTracker& self) {
        std::lock_guard<std::mutex> lock(self.mu);
        const auto& p = self.tracker.params();
        std::ostringstream s;
        s << "Tracker(iou_threshold=" << p.iou_threshold << ", max_age_s=" << p.max_age_s
          << ", min_hits=" << p.min_hits << ", center_threshold=" << p.center_threshold
          << ", new_track_score=" << p.new_track_score << "; frames=" << self.tracker.frame_count()
          << ", live=" << self.tracker.tracks().size() << ", confirmed=" << self.tracker.tracks_confirmed()
          << ")";
        return s.str();
      });
}
