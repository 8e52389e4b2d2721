#include <algorithm>
#include <cstring>
#include <string>

#include "arrays.hpp"
#include "domains.hpp"
#include "facelens/decode.hpp"
#include "facelens/nms.hpp"
#include "facelens/preprocess.hpp"
#include "facelens/select.hpp"

namespace facelens_py {
namespace {

// A CenterFace output map as [C, h, w] ([1, C, h, w] has its batch axis squeezed; the heat map may be [h, w]).
F32Array as_map(const py::handle& obj, const char* name, py::ssize_t channels, bool allow_2d) {
  F32Array a = as_f32(obj, name);
  if (a.ndim() == 4 && a.shape(0) == 1) a = as_f32(a.squeeze(), name);
  if (allow_2d && a.ndim() == 2) return a;
  if (a.ndim() != 3 || a.shape(0) != channels) {
    std::string exp = "[" + std::to_string(channels) + ", h, w]";
    if (allow_2d) exp += " or [h, w]";
    fail(std::string(name) + " must have shape " + exp + ", got " + shape_str(a));
  }
  return a;
}

auto letterbox_nchw(const py::handle& image, int out_w, int out_h, const py::handle& mean,
                    const py::handle& scale, bool swap_rb) {
  py::array keep;
  const facelens::ImageU8 img = as_image(image, &keep);
  check_out_size(out_w, out_h);
  const auto mn = as_channel_triple(mean, "mean");
  const auto sc = as_channel_triple(scale, "scale");
  py::array_t<float> out({py::ssize_t{1}, py::ssize_t{3}, py::ssize_t{out_h}, py::ssize_t{out_w}});
  float* o = out.mutable_data();
  facelens::LetterboxGeometry g;
  {
    py::gil_scoped_release release;
    g = facelens::letterbox_nchw(img, out_w, out_h, mn.data(), sc.data(), swap_rb, o);
  }
  return py::make_tuple(out, g.ratio);
}

auto decode_centerface(const py::handle& heatmap, const py::handle& scale, const py::handle& offset,
                       const py::handle& landmarks, float score_threshold, float ratio, int image_w,
                       int image_h) {
  F32Array heat = as_map(heatmap, "heatmap", 1, true);
  F32Array sc = as_map(scale, "scale", 2, false);
  F32Array off = as_map(offset, "offset", 2, false);
  F32Array lm = as_map(landmarks, "landmarks", 10, false);
  const py::ssize_t h = heat.shape(heat.ndim() - 2), w = heat.shape(heat.ndim() - 1);
  for (const F32Array* a : {&sc, &off, &lm})
    if (a->shape(1) != h || a->shape(2) != w)
      fail("scale, offset and landmarks must have the same [h, w] as heatmap (" + std::to_string(h) + ", " +
           std::to_string(w) + "), got " + shape_str(*a));
  const facelens::CenterFaceMaps maps{heat.data(), sc.data(), off.data(), lm.data(), static_cast<int>(h),
                                      static_cast<int>(w)};
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
}

py::array_t<int64_t> nms(const py::handle& boxes, const py::handle& scores, float iou_threshold) {
  auto [b, s] = as_boxes_scores(boxes, scores);
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
}

py::array_t<int64_t> select_largest(const py::handle& boxes, int64_t k) {
  F32Array b = as_f32(boxes, "boxes");
  check_shape(b, "boxes", {-1, 4}, "[N, 4]");
  const int64_t n = b.shape(0);
  py::array_t<int64_t> out({static_cast<py::ssize_t>(std::max<int64_t>(0, std::min(n, k)))});
  int64_t* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    facelens::select_largest(b.data(), n, k, o);
  }
  return out;
}

}  // namespace

void bind_detection(py::module_& m) {
  m.def("letterbox_nchw", &letterbox_nchw, py::arg("image"), py::arg("out_w"), py::arg("out_h"),
        py::arg("mean") = py::make_tuple(0.0, 0.0, 0.0), py::arg("scale") = py::make_tuple(1.0, 1.0, 1.0),
        py::arg("swap_rb") = false);
  m.def("decode_centerface", &decode_centerface, py::arg("heatmap"), py::arg("scale"), py::arg("offset"),
        py::arg("landmarks"), py::arg("score_threshold"), py::arg("ratio"), py::arg("image_w"), py::arg("image_h"));
  m.def("nms", &nms, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"));
  m.def("select_largest", &select_largest, py::arg("boxes"), py::arg("k"));
}

}  // namespace facelens_py
