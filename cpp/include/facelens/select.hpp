// Top-k selection of boxes by area.
#pragma once

#include <cstdint>

namespace facelens {

// Writes the indices of the min(n, k) largest boxes by area
// (max(0, x2 - x1) * max(0, y2 - y1)), largest first, ties by lower index.
// Returns the number written. Throws std::invalid_argument on NaN or k < 0.
int64_t select_largest(const float* boxes, int64_t n, int64_t k, int64_t* out);

}  // namespace facelens
