// Fused resize + normalise + HWC->CHW (detector input preparation).
//
// Conventions: pixel centres at (x + 0.5, y + 0.5); resampling is separable
// with clamp-to-edge borders.
//   Bilinear: source coordinate f = (x + 0.5) * in/out - 0.5, identical to
//             cv2.resize(..., interpolation=cv2.INTER_LINEAR) but computed in
//             float (no 8-bit rounding of the result).
//   Area:     output pixel x averages the input interval [x*s, (x+1)*s),
//             s = in/out >= 1, weighted by overlap (cv2.INTER_AREA). When an
//             axis is upscaled (s < 1) Area falls back to Bilinear on that axis.
#pragma once

#include <cstddef>

#include "facelens/image.hpp"

namespace facelens {

enum class ResizeFilter : int { Bilinear = 0, Area = 1 };

struct LetterboxGeometry {
  double ratio;  // min(out_w / W, out_h / H)
  int resized_w;  // clamp(lround(W * ratio), 1, out_w)
  int resized_h;  // clamp(lround(H * ratio), 1, out_h)
  ResizeFilter filter;  // Area when ratio < 0.5 (downscale by more than 2x), else Bilinear
};

LetterboxGeometry letterbox_geometry(int width, int height, int out_w, int out_h);

// Resizes `img` to fit out_w x out_h (aspect preserved, top-left aligned) and
// writes a float32 [3, out_h, out_w] tensor:
//   out[c][y][x] = (pixel[c'] - mean[c]) * scale[c],  c' = swap_rb ? 2 - c : c
// inside the resized region, 0.0f elsewhere. Single pass over the output.
// Throws std::invalid_argument on invalid sizes.
LetterboxGeometry letterbox_nchw(const ImageU8& img, int out_w, int out_h, const float mean[3],
                                 const float scale[3], bool swap_rb, float* out);

// Separable resize of the crop [crop_x, crop_x + crop_w) x [crop_y, crop_y + crop_h)
// of `img` to out_w x out_h, written as three float planes:
//   dst[c][y * dst_stride + x] = resampled channel c * mul[c] + add[c].
void resize_to_planes(const ImageU8& img, int crop_x, int crop_y, int crop_w, int crop_h,
                      int out_w, int out_h, ResizeFilter filter_x, ResizeFilter filter_y,
                      float* const dst[3], std::ptrdiff_t dst_stride, const float mul[3],
                      const float add[3]);

}  // namespace facelens
