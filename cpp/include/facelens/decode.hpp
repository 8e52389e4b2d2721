// CenterFace output decoding.
#pragma once

#include <cstdint>

namespace facelens {

struct CenterFaceMaps {
  const float* heat;       // [h, w]
  const float* scale;      // [2, h, w]
  const float* offset;     // [2, h, w]
  const float* landmarks;  // [10, h, w]
  int h;
  int w;
};

// One detection = 15 floats: x1, y1, x2, y2, score, then 5 (x, y) landmarks,
// in image pixels (boxes clipped to [0, image_w] x [0, image_h], points not).
constexpr int kCenterFaceStride = 15;

// Decodes all cells with heat > score_threshold in row-major cell order
// (stride 4 network; coordinates divided by `ratio`). Cells whose decoded
// coordinates are not finite are dropped. Returns a pointer to thread-local
// storage holding `*count` detections (valid until the next call on this
// thread). Throws std::invalid_argument for a NaN threshold or ratio <= 0.
const float* decode_centerface(const CenterFaceMaps& maps, float score_threshold, float ratio,
                               int image_w, int image_h, int64_t* count);

}  // namespace facelens
