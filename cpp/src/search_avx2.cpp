// avx2 variant of the search scoring step (compiled with per-file ISA flags).
#include <cstdint>

#include "simd/vec_avx2.hpp"

namespace {
inline float hsum(vec::F a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Horizontal sums of eight vectors: out[i] = sum of the lanes of a[i].
inline void hsum8(const vec::F* a, float* out) {
  const __m256 t0 = _mm256_hadd_ps(a[0].v, a[1].v);
  const __m256 t1 = _mm256_hadd_ps(a[2].v, a[3].v);
  const __m256 t2 = _mm256_hadd_ps(a[4].v, a[5].v);
  const __m256 t3 = _mm256_hadd_ps(a[6].v, a[7].v);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);  // per 128-bit half: partial sums of a0..a3
  const __m256 u1 = _mm256_hadd_ps(t2, t3);  // of a4..a7
  const __m256 lo = _mm256_permute2f128_ps(u0, u1, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(u0, u1, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
}
}  // namespace

#define FACELENS_ISA avx2
#include "simd/search_impl.inl"
