// Generic SIMD scoring of matrix rows against one query (search_topk). The
// including translation unit defines FACELENS_ISA and includes its vec_*.hpp, which
// provides `float hsum(vec::F)` (horizontal sum of one vector) and
// `void hsum8(const vec::F*, float*)` (the horizontal sums of eight vectors,
// transposed and added together).
//
// Eight rows are scored at a time: eight independent FMA chains hide the FMA
// latency, the query chunk is loaded once per eight rows and the eight sums are
// reduced together. The search is memory bound at collection sizes (a
// 100k x 128 matrix is 51 MB).
namespace facelens {
namespace detail {
namespace FACELENS_ISA {

using namespace ::vec;

namespace {

template <bool kL2>
inline F term(F m, F q, F acc) {
  if (kL2) {
    const F diff = m - q;
    return fmadd(diff, diff, acc);
  }
  return fmadd(m, q, acc);
}

template <bool kL2>
inline float tail(const float* row, const float* q, int64_t j, int64_t d) {
  float s = 0.f;
  for (; j < d; ++j) {
    if (kL2) {
      const float diff = row[j] - q[j];
      s += diff * diff;
    } else {
      s += row[j] * q[j];
    }
  }
  return s;
}

template <bool kL2>
void score_rows(const float* m, int64_t n, int64_t d, int64_t stride, const float* q, float* out) {
  const int64_t dv = d - d % kLanes;  // vectorised part of each row
  int64_t r = 0;
  for (; r + 8 <= n; r += 8) {
    const float* rows[8];
    for (int i = 0; i < 8; ++i) rows[i] = m + (r + i) * stride;
    F a[8] = {zero(), zero(), zero(), zero(), zero(), zero(), zero(), zero()};
    for (int64_t j = 0; j < dv; j += kLanes) {
      const F qj = loadu(q + j);
      for (int i = 0; i < 8; ++i) a[i] = term<kL2>(loadu(rows[i] + j), qj, a[i]);
    }
    hsum8(a, out + r);  // the eight horizontal sums at once
    if (dv < d)
      for (int i = 0; i < 8; ++i) out[r + i] += tail<kL2>(rows[i], q, dv, d);
  }
  for (; r + 4 <= n; r += 4) {
    const float* r0 = m + r * stride;
    const float* r1 = r0 + stride;
    const float* r2 = r1 + stride;
    const float* r3 = r2 + stride;
    F a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
    for (int64_t j = 0; j < dv; j += kLanes) {
      const F qj = loadu(q + j);
      a0 = term<kL2>(loadu(r0 + j), qj, a0);
      a1 = term<kL2>(loadu(r1 + j), qj, a1);
      a2 = term<kL2>(loadu(r2 + j), qj, a2);
      a3 = term<kL2>(loadu(r3 + j), qj, a3);
    }
    out[r] = hsum(a0) + tail<kL2>(r0, q, dv, d);
    out[r + 1] = hsum(a1) + tail<kL2>(r1, q, dv, d);
    out[r + 2] = hsum(a2) + tail<kL2>(r2, q, dv, d);
    out[r + 3] = hsum(a3) + tail<kL2>(r3, q, dv, d);
  }
  for (; r < n; ++r) {
    const float* row = m + r * stride;
    F a = zero();
    for (int64_t j = 0; j < dv; j += kLanes) a = term<kL2>(loadu(row + j), loadu(q + j), a);
    out[r] = hsum(a) + tail<kL2>(row, q, dv, d);
  }
}

}  // namespace

void search_scores(const float* m, int64_t n, int64_t d, int64_t stride, const float* q, int metric,
                   float* out) {
  if (metric == 0)
    score_rows<true>(m, n, d, stride, q, out);
  else
    score_rows<false>(m, n, d, stride, q, out);
}

}  // namespace FACELENS_ISA
}  // namespace detail
}  // namespace facelens
