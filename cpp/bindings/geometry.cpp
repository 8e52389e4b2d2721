#include <cmath>
#include <cstddef>
#include <string>

#include "arrays.hpp"
#include "domains.hpp"
#include "facelens/gaze.hpp"
#include "facelens/pose.hpp"
#include "facelens/warp.hpp"

namespace facelens_py {
namespace {

py::array_t<float> warp_affine(const py::handle& image, const py::handle& M, int out_w, int out_h,
                               const py::handle& mean, const py::handle& scale) {
  py::array keep;
  const facelens::ImageU8 img = as_image(image, &keep);
  const auto m6 = as_affine(M);
  check_out_size(out_w, out_h);
  const auto mn = as_channel_triple(mean, "mean");
  const auto sc = as_channel_triple(scale, "scale");
  py::array_t<float> out({py::ssize_t{out_h}, py::ssize_t{out_w}, py::ssize_t{3}});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    facelens::warp_affine(img, m6.data(), out_w, out_h, mn.data(), sc.data(), o);
  }
  return out;
}

py::array_t<float> transform_points(const py::handle& points, const py::handle& M) {
  F32Array p = as_f32(points, "points");
  if (p.ndim() != 2 || (p.shape(1) != 2 && p.shape(1) != 3))
    fail("points must have shape [N, 2] or [N, 3], got " + shape_str(p));
  const auto m6 = as_affine(M);
  const int64_t n = p.shape(0);
  const int d = static_cast<int>(p.shape(1));
  py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(d)});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    facelens::transform_points(p.data(), n, d, m6.data(), o);
  }
  return out;
}

auto head_pose(const py::handle& points, const py::handle& reference, const py::handle& weights) {
  F32Array p = as_f32(points, "points");
  F32Array r = as_f32(reference, "reference");
  check_shape(p, "points", {-1, 3}, "[N, 3]");
  check_shape(r, "reference", {-1, 3}, "[N, 3]");
  if (p.shape(0) != r.shape(0))
    fail("points and reference must have the same number of rows, got " + shape_str(p) + " and " + shape_str(r));
  const int64_t n = p.shape(0);
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
}

auto rotation_to_euler(const py::handle& R) {
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
}

auto eye_direction(const py::handle& points, const py::handle& R, double scale, const py::handle& t,
                   const py::handle& eyeballs, double radius, double presence, double prior_yaw,
                   double prior_pitch, double prior_weight, double geo_pitch_offset) {
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
  if (!ok) fail("eye_direction needs >= 478 finite landmarks, scale > 0 and radius > 0");
  return py::make_tuple(out.yaw, out.pitch, out.confidence, out.eye_in_head_yaw, out.eye_in_head_pitch,
                        out.openness);
}

}  // namespace

void bind_geometry(py::module_& m) {
  m.def("warp_affine", &warp_affine, py::arg("image"), py::arg("M"), py::arg("out_w"), py::arg("out_h"),
        py::arg("mean") = py::make_tuple(0.0, 0.0, 0.0), py::arg("scale") = py::make_tuple(1.0, 1.0, 1.0));
  m.def("transform_points", &transform_points, py::arg("points"), py::arg("M"));
  m.def("head_pose", &head_pose, py::arg("points"), py::arg("reference"), py::arg("weights") = py::none());
  m.def("rotation_to_euler", &rotation_to_euler, py::arg("R"));
  m.def("eye_direction", &eye_direction, py::arg("points"), py::arg("R"), py::arg("scale"), py::arg("t"),
        py::arg("eyeballs"), py::arg("radius") = 1.2, py::arg("presence") = 1.0, py::arg("prior_yaw") = 0.0,
        py::arg("prior_pitch") = 0.0, py::arg("prior_weight") = 0.0, py::arg("geo_pitch_offset") = 0.0);
}

}  // namespace facelens_py
