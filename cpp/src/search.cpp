#include "facelens/search.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels.hpp"

namespace facelens {
namespace detail {

namespace {

constexpr int64_t kBlock = 2048;  // rows scored per pass (8 KB of scores, stays in L1)

// A candidate: key is the score turned into "smaller is better" (squared L2,
// or the negated dot product); ties by lower index.
struct Cand {
  float key;
  int64_t index;
};
inline bool better(const Cand& a, const Cand& b) {
  return a.key < b.key || (a.key == b.key && a.index < b.index);
}

}  // namespace
}  // namespace detail

int64_t search_topk(const float* matrix, int64_t n, int64_t d, int64_t stride, const float* query,
                    int64_t k, SearchMetric metric, float bound, int64_t* out_index,
                    float* out_score) {
  using namespace detail;
  if (n < 0) throw std::invalid_argument("n must be >= 0");
  if (k < 0) throw std::invalid_argument("k must be >= 0");
  if (d < 1) throw std::invalid_argument("matrix must have at least one column");
  if (stride < d) throw std::invalid_argument("stride must be >= d");
  if (std::isnan(bound)) throw std::invalid_argument("bound is NaN");
  if (metric != SearchMetric::L2 && metric != SearchMetric::Dot)
    throw std::invalid_argument("unknown metric");
  for (int64_t j = 0; j < d; ++j)
    if (!std::isfinite(query[j])) throw std::invalid_argument("query must be finite");
  const int64_t want = std::min(n, k);
  if (want == 0) return 0;

  const bool l2 = metric == SearchMetric::L2;
  const int imetric = l2 ? 0 : 1;
  // Candidate keys: smaller is better. A row is admissible when key <= limit.
  float limit;
  if (l2) {
    limit = bound < 0.f ? -1.f : (std::isinf(bound) ? INFINITY : bound * bound);
  } else {
    limit = -bound;
  }

  thread_local std::vector<float> scores;
  thread_local std::vector<Cand> heap;  // max-heap on "better": heap.front() is the worst kept
  scores.resize(static_cast<size_t>(std::min(n, kBlock)));
  heap.clear();
  heap.reserve(static_cast<size_t>(want));
  auto worse_first = [](const Cand& a, const Cand& b) { return better(a, b); };

  const Kernels& kern = kernels();
  for (int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const int64_t cnt = std::min(kBlock, n - r0);
    kern.search_scores(matrix + r0 * stride, cnt, d, stride, query, imetric, scores.data());
    for (int64_t i = 0; i < cnt; ++i) {
      const float key = l2 ? scores[i] : -scores[i];
      if (!(key <= limit)) continue;  // beyond the bound, or NaN
      const Cand c{key, r0 + i};
      if (static_cast<int64_t>(heap.size()) < want) {
        heap.push_back(c);
        std::push_heap(heap.begin(), heap.end(), worse_first);
        if (static_cast<int64_t>(heap.size()) == want) limit = std::min(limit, heap.front().key);
      } else if (better(c, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), worse_first);
        heap.back() = c;
        std::push_heap(heap.begin(), heap.end(), worse_first);
        limit = heap.front().key;  // nothing worse than the worst kept can enter any more
      }
    }
  }
  std::sort(heap.begin(), heap.end(), better);
  const int64_t m = static_cast<int64_t>(heap.size());
  for (int64_t i = 0; i < m; ++i) {
    out_index[i] = heap[i].index;
    out_score[i] = l2 ? std::sqrt(heap[i].key) : -heap[i].key;
  }
  return m;
}

}  // namespace facelens
