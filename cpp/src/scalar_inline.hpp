// Scalar per-element helpers shared by the scalar reference kernels and the
// scalar tails of the SIMD kernels. Internal linkage on purpose (anonymous
// namespace): each translation unit gets its own copy compiled with its own
// flags, so no ISA-specific code can leak into baseline code via the linker.
#pragma once

#include <cstdint>

namespace facelens {
namespace detail {
namespace {

// Same semantics as x86 minps/maxps (second operand returned on NaN).
inline float mn(float a, float b) { return a < b ? a : b; }
inline float mx(float a, float b) { return a > b ? a : b; }

// box = {x1, y1, x2, y2, area}
inline float iou_with(const float* box, float x1, float y1, float x2, float y2, float area) {
  const float iw = mx(0.f, mn(box[2], x2) - mx(box[0], x1));
  const float ih = mx(0.f, mn(box[3], y2) - mx(box[1], y1));
  const float inter = iw * ih;
  const float uni = (box[4] + area) - inter;
  return inter / uni;
}

inline void warp_pixel(const uint8_t* img, int w, int h, int64_t stride, float u, float v,
                       float* out, const float* mul, const float* add) {
  u = mn(mx(u, -2.f), static_cast<float>(w) + 1.f);
  v = mn(mx(v, -2.f), static_cast<float>(h) + 1.f);
  const float x0f = __builtin_floorf(u);
  const float y0f = __builtin_floorf(v);
  const float fx = u - x0f;
  const float fy = v - y0f;
  const int x0 = static_cast<int>(x0f);
  const int y0 = static_cast<int>(y0f);
  const float gx = 1.f - fx;
  const float gy = 1.f - fy;
  const float wts[4] = {gx * gy, fx * gy, gx * fy, fx * fy};
  float acc[3] = {0.f, 0.f, 0.f};
  for (int corner = 0; corner < 4; ++corner) {
    const int xx = x0 + (corner & 1);
    const int yy = y0 + (corner >> 1);
    if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
    const uint8_t* p = img + yy * stride + 3 * static_cast<int64_t>(xx);
    const float wt = wts[corner];
    acc[0] = acc[0] + wt * static_cast<float>(p[0]);
    acc[1] = acc[1] + wt * static_cast<float>(p[1]);
    acc[2] = acc[2] + wt * static_cast<float>(p[2]);
  }
  out[0] = acc[0] * mul[0] + add[0];
  out[1] = acc[1] * mul[1] + add[1];
  out[2] = acc[2] * mul[2] + add[2];
}

}  // namespace
}  // namespace detail
}  // namespace facelens
