// Affine warps of images and points.
#pragma once

#include <cstdint>

#include "facelens/image.hpp"

namespace facelens {

// Output pixel (x, y) samples the input at (u, v) = M @ [x, y, 1] where (u, v)
// are input pixel indices (pixel centres at integers), i.e. exactly
// cv2.warpAffine(img, M, (out_w, out_h),
//                flags=INTER_LINEAR | WARP_INVERSE_MAP, borderValue=0),
// but with float bilinear weights. Corners outside the image contribute 0.
//   out[(y*out_w + x)*3 + c] = (value_c - mean[c]) * scale[c]
// M is row-major 2x3 and must be finite.
void warp_affine(const ImageU8& img, const float M[6], int out_w, int out_h, const float mean[3],
                 const float scale[3], float* out);

// points [n, d], d = 2 or 3: (x, y) <- M @ [x, y, 1]; z <- z * sqrt(|det M[:, :2]|).
void transform_points(const float* points, int64_t n, int d, const float M[6], float* out);

}  // namespace facelens
