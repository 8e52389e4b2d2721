// The scalar reference kernels (baseline flags): every SIMD kernel must give the same results as these, bit for
// bit where the tests say so.
#include <cstddef>

#include "kernels.hpp"
#include "scalar_inline.hpp"

namespace facelens {
namespace detail {
namespace scalar {
namespace {

void resample_vpass_u8(const uint8_t* const* rows, const float* wk, int taps, int n, float* const* out,
                       const float* mul, const float* add) {
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      float acc = static_cast<float>(rows[0][3 * i + c]) * wk[0];
      for (int k = 1; k < taps; ++k) acc = acc + static_cast<float>(rows[k][3 * i + c]) * wk[k];
      out[c][i] = acc * mul[c] + add[c];
    }
  }
}

void resample_hpass_f32(const float* const* p, int /*in_w*/, const int32_t* start, const float* w, int wstride,
                        int taps, int n, float* const* dst, const float* mul, const float* add) {
  for (int x = 0; x < n; ++x) {
    for (int c = 0; c < 3; ++c) {
      float acc = 0.f;
      for (int k = 0; k < taps; ++k) acc = acc + w[static_cast<std::ptrdiff_t>(k) * wstride + x] * p[c][start[x] + k];
      dst[c][x] = acc * mul[c] + add[c];
    }
  }
}

void rgb_u8_to_planes(const uint8_t* src, int n, float* const* dst, const float* mul, const float* add) {
  for (int x = 0; x < n; ++x)
    for (int c = 0; c < 3; ++c) dst[c][x] = static_cast<float>(src[3 * x + c]) * mul[c] + add[c];
}

int64_t scan_greater(const float* p, int64_t n, float thr, int32_t* out) {
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; ++i)
    if (p[i] > thr) out[cnt++] = static_cast<int32_t>(i);
  return cnt;
}

int64_t nms_filter(const NmsSoa& s, int64_t begin, int64_t end, const float* box, float thr) {
  int64_t w = begin;
  for (int64_t r = begin; r < end; ++r) {
    if (iou_with(box, s.x1[r], s.y1[r], s.x2[r], s.y2[r], s.area[r]) > thr) continue;
    if (w != r) {
      s.x1[w] = s.x1[r];
      s.y1[w] = s.y1[r];
      s.x2[w] = s.x2[r];
      s.y2[w] = s.y2[r];
      s.area[w] = s.area[r];
      s.idx[w] = s.idx[r];
    }
    ++w;
  }
  return w;
}

void warp_row(const uint8_t* img, int w, int h, int64_t stride, float u0, float du, float v0, float dv, int n,
              float* out, const float* mul, const float* add) {
  for (int x = 0; x < n; ++x)
    warp_pixel(img, w, h, stride, u0 + du * static_cast<float>(x), v0 + dv * static_cast<float>(x),
               out + 3 * static_cast<std::ptrdiff_t>(x), mul, add);
}

// One sequential float sum per row.
void search_scores(const float* m, int64_t n, int64_t d, int64_t stride, const float* q, int metric, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const float* row = m + r * stride;
    float s = 0.f;
    if (metric == 0) {
      for (int64_t j = 0; j < d; ++j) {
        const float diff = row[j] - q[j];
        s += diff * diff;
      }
    } else {
      for (int64_t j = 0; j < d; ++j) s += row[j] * q[j];
    }
    out[r] = s;
  }
}

}  // namespace

void fill_kernels(Kernels& k) {
  k.resample_vpass_u8 = resample_vpass_u8;
  k.resample_hpass_f32 = resample_hpass_f32;
  k.rgb_u8_to_planes = rgb_u8_to_planes;
  k.scan_greater = scan_greater;
  k.nms_filter = nms_filter;
  k.warp_row = warp_row;
  k.search_scores = search_scores;
}

}  // namespace scalar
}  // namespace detail
}  // namespace facelens
