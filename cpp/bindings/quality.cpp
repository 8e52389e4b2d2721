#include "arrays.hpp"
#include "domains.hpp"
#include "facelens/quality.hpp"

namespace facelens_py {
namespace {

auto face_quality(const py::handle& image, const py::handle& box, int size) {
  py::array keep;
  const facelens::ImageU8 img = as_image(image, &keep);
  const char* box_message = "box must be a sequence of 4 numbers (x1, y1, x2, y2)";
  F64Array bx = as_f64(box, box_message);
  if (bx.size() != 4) fail(box_message);
  float b4[4];
  for (int i = 0; i < 4; ++i) b4[i] = static_cast<float>(bx.data()[i]);
  facelens::FaceQuality q;
  {
    py::gil_scoped_release release;
    q = facelens::face_quality(img, b4, size);
  }
  return py::make_tuple(q.mean_luma, q.laplacian_variance);
}

}  // namespace

void bind_quality(py::module_& m) {
  m.def("face_quality", &face_quality, py::arg("image"), py::arg("box"), py::arg("size") = 64);
}

}  // namespace facelens_py
