#include "facelens/select.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "scratch.hpp"

namespace facelens {

int64_t select_largest(const float* boxes, int64_t n, int64_t k, int64_t* out) {
  if (k < 0) throw std::invalid_argument("k must be >= 0");
  if (n < 0 || n > 0x7fffffff) throw std::invalid_argument("invalid number of boxes");
  for (int64_t i = 0; i < 4 * n; ++i)
    if (std::isnan(boxes[i])) throw std::invalid_argument("boxes contain NaN");
  const int64_t m = std::min(n, k);
  if (m == 0) return 0;
  // Unique keys: (area descending, index ascending). Areas are >= +0, so the
  // IEEE bit pattern is monotone; ~bits sorts descending.
  uint64_t* keys = detail::scratch_as<uint64_t>(detail::kSlotSelectKeys, static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* b = boxes + 4 * i;
    const float w = b[2] - b[0];
    const float h = b[3] - b[1];
    float area = (w > 0.f ? w : 0.f) * (h > 0.f ? h : 0.f);
    area = area + 0.0f;  // -0 -> +0
    uint32_t bits;
    std::memcpy(&bits, &area, sizeof(bits));
    keys[i] = (static_cast<uint64_t>(~bits) << 32) | static_cast<uint64_t>(i);
  }
  if (m < n) std::nth_element(keys, keys + m, keys + n);
  std::sort(keys, keys + m);
  for (int64_t j = 0; j < m; ++j) out[j] = static_cast<int64_t>(keys[j] & 0xffffffffu);
  return m;
}

}  // namespace facelens
