#include "facelens/warp.hpp"

#include <cmath>
#include <stdexcept>

#include "facelens/dispatch.hpp"
#include "kernels.hpp"

namespace facelens {

using namespace detail;

void warp_affine(const ImageU8& img, const float M[6], int out_w, int out_h, const float mean[3],
                 const float scale[3], float* out) {
  if (img.data == nullptr || img.width < 1 || img.height < 1 ||
      img.row_stride < 3 * static_cast<std::ptrdiff_t>(img.width))
    throw std::invalid_argument("invalid image");
  if (out_w < 1 || out_h < 1) throw std::invalid_argument("out_w and out_h must be >= 1");
  for (int i = 0; i < 6; ++i)
    if (!std::isfinite(M[i])) throw std::invalid_argument("M must be finite");
  float mul[3], add[3];
  for (int c = 0; c < 3; ++c) {
    mul[c] = scale[c];
    add[c] = -mean[c] * scale[c];
  }
  const int64_t span = (static_cast<int64_t>(img.height) + 2) * img.row_stride + 3 * int64_t{img.width} + 8;
  // The SIMD rows gather with int32 byte offsets from a 2-pixel-or-larger image; others take the scalar row.
  const bool simd_ok = static_cast<int64_t>(img.width) * img.height >= 2 && span < 0x7fffffffLL;
  const Kernels& k = simd_ok ? kernels() : kernels(SimdLevel::Scalar);
  const float du = M[0], dv = M[3];
  for (int y = 0; y < out_h; ++y) {
    const float u0 = static_cast<float>(static_cast<double>(M[1]) * y + M[2]);
    const float v0 = static_cast<float>(static_cast<double>(M[4]) * y + M[5]);
    float* row = out + static_cast<std::ptrdiff_t>(y) * out_w * 3;
    k.warp_row(img.data, img.width, img.height, img.row_stride, u0, du, v0, dv, out_w, row, mul, add);
  }
}

void transform_points(const float* points, int64_t n, int d, const float M[6], float* out) {
  if (d != 2 && d != 3) throw std::invalid_argument("points must have 2 or 3 columns");
  for (int i = 0; i < 6; ++i)
    if (!std::isfinite(M[i])) throw std::invalid_argument("M must be finite");
  const double a = M[0], b = M[1], c = M[2], e = M[3], f = M[4], g = M[5];
  const double zs = std::sqrt(std::fabs(a * f - b * e));
  for (int64_t i = 0; i < n; ++i) {
    const double x = points[i * d], y = points[i * d + 1];
    out[i * d] = static_cast<float>(a * x + b * y + c);
    out[i * d + 1] = static_cast<float>(e * x + f * y + g);
    if (d == 3) out[i * d + 2] = static_cast<float>(points[i * d + 2] * zs);
  }
}

}  // namespace facelens
