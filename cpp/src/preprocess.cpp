#include "facelens/preprocess.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels.hpp"
#include "scratch.hpp"

namespace facelens {
namespace detail {
namespace {

// One axis of the separable resampler: output i reads taps consecutive input
// samples starting at start[i] (always inside [0, in_n)), with weights
// w[k * wstride + i] (zero for unused taps).
struct AxisTable {
  int taps = 0;
  int wstride = 0;
  int32_t* start = nullptr;
  float* w = nullptr;
};

constexpr double kAreaEps = 1e-6;  // overlaps below this (in pixels) are dropped

inline int round_up(int v, int m) { return (v + m - 1) / m * m; }

// Output i of an Area downscale by `scale` covers the input interval [a, b); i0..i1 are the input samples it
// overlaps by more than kAreaEps.
struct AreaWindow {
  double a, b;
  int i0, i1;
};

AreaWindow area_window(int i, double scale, int in_n) {
  AreaWindow w;
  w.a = i * scale;
  w.b = std::fmin((i + 1) * scale, static_cast<double>(in_n));
  w.i0 = static_cast<int>(std::floor(w.a));
  w.i1 = static_cast<int>(std::ceil(w.b)) - 1;
  if (w.i1 > in_n - 1) w.i1 = in_n - 1;
  while (w.i0 < w.i1 && (w.i0 + 1.0) - w.a < kAreaEps) ++w.i0;
  while (w.i1 > w.i0 && w.b - w.i1 < kAreaEps) --w.i1;
  return w;
}

AxisTable build_axis(int in_n, int out_n, ResizeFilter filter, int slot_start, int slot_w) {
  AxisTable t;
  t.wstride = round_up(out_n, 16);
  t.start = scratch_as<int32_t>(slot_start, static_cast<size_t>(out_n));
  const double scale = static_cast<double>(in_n) / out_n;
  if (in_n == out_n || in_n == 1) {  // identity / constant: one tap, weight 1
    t.taps = 1;
    t.w = scratch_as<float>(slot_w, static_cast<size_t>(t.wstride));
    for (int i = 0; i < out_n; ++i) {
      t.start[i] = in_n == 1 ? 0 : i;
      t.w[i] = 1.f;
    }
    return t;
  }
  if (filter == ResizeFilter::Area && scale > 1.0) {
    // Pass 1: window sizes.
    int taps = 1;
    for (int i = 0; i < out_n; ++i) {
      const AreaWindow w = area_window(i, scale, in_n);
      if (w.i1 - w.i0 + 1 > taps) taps = w.i1 - w.i0 + 1;
    }
    t.taps = taps;
    t.w = scratch_as<float>(slot_w, static_cast<size_t>(taps) * t.wstride);
    for (int i = 0; i < out_n; ++i) {
      const AreaWindow win = area_window(i, scale, in_n);
      const double a = win.a, b = win.b;
      const int i0 = win.i0, i1 = win.i1;
      int s = i0;
      if (s > in_n - taps) s = in_n - taps;
      t.start[i] = s;
      double sum = 0.0;
      for (int j = i0; j <= i1; ++j) sum += std::fmin(j + 1.0, b) - std::fmax(static_cast<double>(j), a);
      for (int k = 0; k < taps; ++k) {
        const int j = s + k;
        double wk = 0.0;
        if (j >= i0 && j <= i1) wk = (std::fmin(j + 1.0, b) - std::fmax(static_cast<double>(j), a)) / sum;
        t.w[static_cast<size_t>(k) * t.wstride + i] = static_cast<float>(wk);
      }
    }
    return t;
  }
  // Bilinear (cv2.INTER_LINEAR geometry), clamp-to-edge.
  t.taps = 2;
  t.w = scratch_as<float>(slot_w, static_cast<size_t>(2) * t.wstride);
  for (int i = 0; i < out_n; ++i) {
    const double f = (i + 0.5) * scale - 0.5;
    int s = static_cast<int>(std::floor(f));
    double fr = f - s;
    if (s < 0) {
      s = 0;
      fr = 0.0;
    }
    if (s >= in_n - 1) {  // last sample: read (in_n-2, in_n-1) with weights (0, 1)
      s = in_n - 2;
      fr = 1.0;
    }
    t.start[i] = s;
    t.w[i] = static_cast<float>(1.0 - fr);
    t.w[t.wstride + i] = static_cast<float>(fr);
  }
  return t;
}

void check_crop(const ImageU8& img, int cx, int cy, int cw, int ch, int ow, int oh) {
  if (img.data == nullptr || img.width < 1 || img.height < 1 || img.row_stride < 3 * static_cast<std::ptrdiff_t>(img.width))
    throw std::invalid_argument("invalid image");
  if (cw < 1 || ch < 1 || cx < 0 || cy < 0 || cx > img.width - cw || cy > img.height - ch)
    throw std::invalid_argument("crop outside the image");
  if (ow < 1 || oh < 1) throw std::invalid_argument("output size must be >= 1");
}

}  // namespace
}  // namespace detail

using namespace detail;

void resize_to_planes(const ImageU8& img, int crop_x, int crop_y, int crop_w, int crop_h,
                      int out_w, int out_h, ResizeFilter filter_x, ResizeFilter filter_y,
                      float* const dst[3], std::ptrdiff_t dst_stride, const float mul[3],
                      const float add[3]) {
  check_crop(img, crop_x, crop_y, crop_w, crop_h, out_w, out_h);
  const Kernels& k = kernels();
  const AxisTable tx = build_axis(crop_w, out_w, filter_x, kSlotTabXStart, kSlotTabXWeights);
  const AxisTable ty = build_axis(crop_h, out_h, filter_y, kSlotTabYStart, kSlotTabYWeights);
  const bool identity_x = crop_w == out_w;
  auto src_row = [&](int r) {
    return img.data + static_cast<std::ptrdiff_t>(crop_y + r) * img.row_stride + 3 * static_cast<std::ptrdiff_t>(crop_x);
  };
  auto dst_rows = [&](int y, float** rows) {
    for (int c = 0; c < 3; ++c) rows[c] = dst[c] + y * dst_stride;
  };

  if (identity_x && ty.taps == 1) {  // pure copy/convert rows (e.g. no resize at all)
    for (int y = 0; y < out_h; ++y) {
      float* rows[3];
      dst_rows(y, rows);
      k.rgb_u8_to_planes(src_row(ty.start[y]), out_w, rows, mul, add);
    }
    return;
  }

  // Vertical pass first (contiguous bytes, SIMD without gathers), deinterleaved
  // into float planes (or straight into the output when x is not resampled),
  // then the horizontal pass on those planes.
  const int K = ty.taps;
  // Plane stride in floats, a multiple of 16 so that every plane and the pointer table after them stay 64-byte
  // aligned.
  const std::ptrdiff_t ps = round_up(crop_w + 64, 16);
  char* mem = static_cast<char*>(scratch(
      kSlotRing, 3 * ps * sizeof(float) + static_cast<size_t>(K) * (sizeof(const uint8_t*) + sizeof(float)) + 256));
  float* planes = reinterpret_cast<float*>(mem);
  const uint8_t** taps_ptr = reinterpret_cast<const uint8_t**>(planes + 3 * ps);
  float* taps_w = reinterpret_cast<float*>(taps_ptr + K);
  float* P[3] = {planes, planes + ps, planes + 2 * ps};
  for (int c = 0; c < 3; ++c)  // padding read (with zero weight) by the SIMD windows
    for (int q = 0; q < 64; ++q) P[c][crop_w + q] = 0.f;
  const float* const Pc[3] = {P[0], P[1], P[2]};
  const float one[3] = {1.f, 1.f, 1.f};
  const float zero[3] = {0.f, 0.f, 0.f};

  for (int y = 0; y < out_h; ++y) {
    for (int k = 0; k < K; ++k) {
      taps_ptr[k] = src_row(ty.start[y] + k);
      taps_w[k] = ty.w[static_cast<size_t>(k) * ty.wstride + y];
    }
    float* rows[3];
    dst_rows(y, rows);
    if (identity_x) {
      k.resample_vpass_u8(taps_ptr, taps_w, K, crop_w, rows, mul, add);
    } else {
      k.resample_vpass_u8(taps_ptr, taps_w, K, crop_w, P, one, zero);
      k.resample_hpass_f32(Pc, crop_w, tx.start, tx.w, tx.wstride, tx.taps, out_w, rows, mul, add);
    }
  }
}

LetterboxGeometry letterbox_geometry(int width, int height, int out_w, int out_h) {
  if (width < 1 || height < 1) throw std::invalid_argument("image must be at least 1x1");
  if (out_w < 1 || out_h < 1) throw std::invalid_argument("out_w and out_h must be >= 1");
  LetterboxGeometry g;
  g.ratio = std::fmin(static_cast<double>(out_w) / width, static_cast<double>(out_h) / height);
  auto rnd = [](double v, int hi) {
    long r = std::lround(v);
    if (r < 1) r = 1;
    if (r > hi) r = hi;
    return static_cast<int>(r);
  };
  g.resized_w = rnd(width * g.ratio, out_w);
  g.resized_h = rnd(height * g.ratio, out_h);
  g.filter = g.ratio < 0.5 ? ResizeFilter::Area : ResizeFilter::Bilinear;
  return g;
}

LetterboxGeometry letterbox_nchw(const ImageU8& img, int out_w, int out_h, const float mean[3],
                                 const float scale[3], bool swap_rb, float* out) {
  const LetterboxGeometry g = letterbox_geometry(img.width, img.height, out_w, out_h);
  const std::ptrdiff_t plane = static_cast<std::ptrdiff_t>(out_w) * out_h;
  float* dst[3];
  float mul[3], add[3];
  for (int p = 0; p < 3; ++p) {  // pixel channel p -> output plane c
    const int c = swap_rb ? 2 - p : p;
    dst[p] = out + c * plane;
    mul[p] = scale[c];
    add[p] = -mean[c] * scale[c];
  }
  resize_to_planes(img, 0, 0, img.width, img.height, g.resized_w, g.resized_h, g.filter, g.filter,
                   dst, out_w, mul, add);
  // Zero padding (right of and below the resized image).
  for (int c = 0; c < 3; ++c) {
    float* pl = out + c * plane;
    if (g.resized_w < out_w) {
      for (int y = 0; y < g.resized_h; ++y)
        std::memset(pl + static_cast<std::ptrdiff_t>(y) * out_w + g.resized_w, 0,
                    sizeof(float) * (out_w - g.resized_w));
    }
    if (g.resized_h < out_h)
      std::memset(pl + static_cast<std::ptrdiff_t>(g.resized_h) * out_w, 0,
                  sizeof(float) * static_cast<size_t>(out_h - g.resized_h) * out_w);
  }
  return g;
}

}  // namespace facelens
