#include "facelens/nms.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels.hpp"
#include "scalar_inline.hpp"
#include "scratch.hpp"

namespace facelens {
namespace detail {
namespace {

// Monotone map float -> uint32 (ascending float order == ascending integer).
inline uint32_t orderable(float f) {
  f = f + 0.0f;  // -0 -> +0 so that -0 and +0 tie
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

}  // namespace
}  // namespace detail

using namespace detail;

const int64_t* nms(const float* boxes, const float* scores, int64_t n, float iou_threshold,
                   int64_t* count) {
  if (std::isnan(iou_threshold)) throw std::invalid_argument("iou_threshold is NaN");
  if (n < 0 || n > 0x7fffffff) throw std::invalid_argument("invalid number of boxes");
  *count = 0;
  for (int64_t i = 0; i < n; ++i)
    if (std::isnan(scores[i])) throw std::invalid_argument("scores contain NaN");
  for (int64_t i = 0; i < 4 * n; ++i)
    if (std::isnan(boxes[i])) throw std::invalid_argument("boxes contain NaN");
  if (n == 0) return nullptr;

  // Sort by (score desc, index asc) with unique 64-bit keys.
  uint64_t* keys = scratch_as<uint64_t>(kSlotNmsKeys, static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    keys[i] = (static_cast<uint64_t>(~orderable(scores[i])) << 32) | static_cast<uint64_t>(i);
  std::sort(keys, keys + n);

  const size_t cap = static_cast<size_t>(n) + 64;
  float* f = scratch_as<float>(kSlotNmsSoa, cap * 6 + 16);
  NmsSoa s;
  s.x1 = f;
  s.y1 = f + cap;
  s.x2 = f + 2 * cap;
  s.y2 = f + 3 * cap;
  s.area = f + 4 * cap;
  s.idx = reinterpret_cast<int32_t*>(f + 5 * cap);
  for (int64_t j = 0; j < n; ++j) {
    const int32_t i = static_cast<int32_t>(keys[j] & 0xffffffffu);
    const float* b = boxes + 4 * static_cast<int64_t>(i);
    s.x1[j] = b[0];
    s.y1[j] = b[1];
    s.x2[j] = b[2];
    s.y2[j] = b[3];
    const float w = b[2] - b[0];
    const float h = b[3] - b[1];
    s.area[j] = mx(0.f, w) * mx(0.f, h);
    s.idx[j] = i;
  }

  const Kernels& k = kernels();
  int64_t head = 0;
  int64_t end = n;
  while (head < end) {
    const float box[5] = {s.x1[head], s.y1[head], s.x2[head], s.y2[head], s.area[head]};
    ++head;
    if (!(box[4] > 0.f)) continue;  // zero-area boxes never suppress
    end = k.nms_filter(s, head, end, box, iou_threshold);
  }
  // Kept indices are s.idx[0, head); widen to int64 in place of the keys.
  int64_t* out = reinterpret_cast<int64_t*>(keys);
  for (int64_t j = 0; j < head; ++j) out[j] = s.idx[j];
  *count = head;
  return out;
}

}  // namespace facelens
