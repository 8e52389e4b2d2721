// Greedy non-maximum suppression.
#pragma once

#include <cstdint>

namespace facelens {

// boxes: [n, 4] (x1, y1, x2, y2); scores: [n]. Boxes are visited by score
// descending (ties: lower index first); a box is suppressed when its IoU with
// an already kept box is > iou_threshold. IoU = inter / (areaA + areaB - inter)
// with area = max(0, x2 - x1) * max(0, y2 - y1). Boxes with zero area never
// suppress others. Writes the kept indices (in visiting order) to thread-local
// storage and returns it; *count receives their number.
// Throws std::invalid_argument on NaN scores/boxes/threshold.
const int64_t* nms(const float* boxes, const float* scores, int64_t n, float iou_threshold,
                   int64_t* count);

}  // namespace facelens
