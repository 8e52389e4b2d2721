#include "facelens/decode.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "kernels.hpp"
#include "scratch.hpp"

namespace facelens {

using namespace detail;

const float* decode_centerface(const CenterFaceMaps& m, float score_threshold, float ratio,
                               int image_w, int image_h, int64_t* count) {
  if (std::isnan(score_threshold)) throw std::invalid_argument("score_threshold is NaN");
  if (!(ratio > 0.f) || !std::isfinite(ratio))
    throw std::invalid_argument("ratio must be a finite number > 0");
  if (image_w < 1 || image_h < 1) throw std::invalid_argument("image_w and image_h must be >= 1");
  if (m.h < 0 || m.w < 0) throw std::invalid_argument("invalid map size");
  const int64_t hw = static_cast<int64_t>(m.h) * m.w;
  if (hw > std::numeric_limits<int32_t>::max()) throw std::invalid_argument("heatmap too large");
  *count = 0;
  if (hw == 0) return nullptr;

  int32_t* idx = scratch_as<int32_t>(kSlotDecodeIdx, static_cast<size_t>(hw));
  const int64_t n = kernels().scan_greater(m.heat, hw, score_threshold, idx);

  float* out = scratch_as<float>(kSlotDecodeOut, static_cast<size_t>(n > 0 ? n : 1) * kCenterFaceStride);
  const float W = static_cast<float>(image_w);
  const float H = static_cast<float>(image_h);
  int64_t kept = 0;
  for (int64_t q = 0; q < n; ++q) {
    const int64_t i = idx[q];
    const int y = static_cast<int>(i / m.w);
    const int x = static_cast<int>(i % m.w);
    const float s0 = std::exp(m.scale[i]) * 4.f;
    const float s1 = std::exp(m.scale[hw + i]) * 4.f;
    const float o0 = m.offset[i];
    const float o1 = m.offset[hw + i];
    float x1 = (static_cast<float>(x) + o1 + 0.5f) * 4.f - s1 / 2.f;
    float y1 = (static_cast<float>(y) + o0 + 0.5f) * 4.f - s0 / 2.f;
    x1 = x1 > 0.f ? x1 : 0.f;  // max(0, .) (NaN -> 0, caught by the finiteness test below)
    y1 = y1 > 0.f ? y1 : 0.f;
    float* d = out + kept * kCenterFaceStride;
    d[0] = x1 / ratio;
    d[1] = y1 / ratio;
    d[2] = (x1 + s1) / ratio;
    d[3] = (y1 + s0) / ratio;
    d[4] = m.heat[i];
    bool finite = std::isfinite(d[2]) && std::isfinite(d[3]) && std::isfinite(o0) &&
                  std::isfinite(o1);
    for (int j = 0; j < 5; ++j) {
      const float px = (m.landmarks[(2 * j + 1) * hw + i] * s1 + x1) / ratio;
      const float py = (m.landmarks[(2 * j) * hw + i] * s0 + y1) / ratio;
      d[5 + 2 * j] = px;
      d[6 + 2 * j] = py;
      finite = finite && std::isfinite(px) && std::isfinite(py);
    }
    if (!finite) continue;
    d[0] = d[0] < W ? d[0] : W;
    d[1] = d[1] < H ? d[1] : H;
    d[2] = d[2] < W ? (d[2] > 0.f ? d[2] : 0.f) : W;
    d[3] = d[3] < H ? (d[3] > 0.f ? d[3] : 0.f) : H;
    ++kept;
  }
  *count = kept;
  return out;
}

}  // namespace facelens
