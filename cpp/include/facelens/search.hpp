// Exhaustive nearest-neighbour search over a contiguous float32 matrix with
// top-k selection (the face-collection search of facelens).
#pragma once

#include <cstdint>

namespace facelens {

enum class SearchMetric : int {
  L2 = 0,   // Euclidean distance, smaller is better
  Dot = 1,  // dot product (cosine similarity for unit vectors), larger is better
};

// matrix: n rows of d floats, row r at matrix + r * stride (stride >= d);
// query: d floats. Scores every row against the query and writes the best
// min(n, k) rows to out_index / out_score, best first; ties are broken by the
// lower row index, so the result is deterministic.
//
//   L2 : score = sqrt(sum_j (m[r][j] - q[j])^2); rows with score > bound are skipped.
//   Dot: score = sum_j m[r][j] * q[j];             rows with score < bound are skipped.
//
// Rows whose score is NaN are skipped. Pass bound = +inf (L2) / -inf (Dot) to
// keep every row. Returns the number of results written (<= k).
// Throws std::invalid_argument for negative n/k, d < 1, stride < d, a NaN
// bound or a non-finite query. Scores use the SIMD level of dispatch.hpp;
// levels agree to float rounding (the summation order differs).
int64_t search_topk(const float* matrix, int64_t n, int64_t d, int64_t stride, const float* query,
                    int64_t k, SearchMetric metric, float bound, int64_t* out_index,
                    float* out_score);

}  // namespace facelens
