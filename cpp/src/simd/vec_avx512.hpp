// Thin vector wrapper for AVX-512 F+BW (16 x f32 / 16 x i32). Private header,
// only included by kernels_avx512.cpp; internal linkage only (see
// vec_avx2.hpp for why).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace {
namespace vec {

constexpr int kLanes = 16;

struct F { __m512 v; };
struct I { __m512i v; };
struct M { __mmask16 v; };

inline F loadu(const float* p) { return {_mm512_loadu_ps(p)}; }
inline void storeu(float* p, F a) { _mm512_storeu_ps(p, a.v); }
inline F set1(float x) { return {_mm512_set1_ps(x)}; }
inline F zero() { return {_mm512_setzero_ps()}; }
inline F iota() {
  return {_mm512_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f, 12.f, 13.f,
                         14.f, 15.f)};
}
inline F operator+(F a, F b) { return {_mm512_add_ps(a.v, b.v)}; }
inline F operator-(F a, F b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline F operator*(F a, F b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline F operator/(F a, F b) { return {_mm512_div_ps(a.v, b.v)}; }
inline F fmadd(F a, F b, F c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline F vmin(F a, F b) { return {_mm512_min_ps(a.v, b.v)}; }
inline F vmax(F a, F b) { return {_mm512_max_ps(a.v, b.v)}; }
inline F vfloor(F a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)}; }

inline I loadu(const int32_t* p) { return {_mm512_loadu_si512(p)}; }
inline void storeu(int32_t* p, I a) { _mm512_storeu_si512(p, a.v); }
inline I set1i(int32_t x) { return {_mm512_set1_epi32(x)}; }
inline I iotai() { return {_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)}; }
inline I operator+(I a, I b) { return {_mm512_add_epi32(a.v, b.v)}; }
inline I operator-(I a, I b) { return {_mm512_sub_epi32(a.v, b.v)}; }
inline I operator&(I a, I b) { return {_mm512_and_si512(a.v, b.v)}; }
inline I mullo(I a, I b) { return {_mm512_mullo_epi32(a.v, b.v)}; }
inline I vmini(I a, I b) { return {_mm512_min_epi32(a.v, b.v)}; }
template <int k> inline I srli(I a) { return {_mm512_srli_epi32(a.v, k)}; }
template <int k> inline I slli(I a) { return {_mm512_slli_epi32(a.v, k)}; }
inline I srlv(I a, I n) { return {_mm512_srlv_epi32(a.v, n.v)}; }
inline I cvtt(F a) { return {_mm512_cvttps_epi32(a.v)}; }
inline F cvt(I a) { return {_mm512_cvtepi32_ps(a.v)}; }
inline I gather(const void* base, I off) { return {_mm512_i32gather_epi32(off.v, base, 1)}; }
inline I gather(const void* base, I off, M m) {
  return {_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m.v, off.v, base, 1)};
}

inline M gt(F a, F b) { return {_mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ)}; }
inline M gt(I a, I b) { return {_mm512_cmpgt_epi32_mask(a.v, b.v)}; }
inline M operator&(M a, M b) { return {static_cast<__mmask16>(a.v & b.v)}; }
inline M operator|(M a, M b) { return {static_cast<__mmask16>(a.v | b.v)}; }
inline M mnot(M a) { return {static_cast<__mmask16>(~a.v)}; }
inline uint32_t bits(M m) { return static_cast<uint32_t>(m.v); }
inline bool any(M m) { return m.v != 0; }

struct Packer {
  __mmask16 m;
  int count;
};
inline Packer make_packer(M m) { return {m.v, __builtin_popcount(static_cast<unsigned>(m.v))}; }
// Register-form compress + full store (the memory form is microcoded and very
// slow on some AMD parts). Writes kLanes values.
inline void pack_store(float* dst, F a, const Packer& p) {
  _mm512_storeu_ps(dst, _mm512_maskz_compress_ps(p.m, a.v));
}
inline void pack_store(int32_t* dst, I a, const Packer& p) {
  _mm512_storeu_si512(dst, _mm512_maskz_compress_epi32(p.m, a.v));
}

struct Interleave3Tables {
  int32_t idx[3][16];
  uint16_t mb[3];
  uint16_t mc[3];
  constexpr Interleave3Tables() : idx(), mb(), mc() {
    for (int k = 0; k < 3; ++k) {
      for (int l = 0; l < 16; ++l) {
        const int j = 16 * k + l;
        idx[k][l] = j / 3;
        if (j % 3 == 1) mb[k] = static_cast<uint16_t>(mb[k] | (1u << l));
        if (j % 3 == 2) mc[k] = static_cast<uint16_t>(mc[k] | (1u << l));
      }
    }
  }
};
constexpr Interleave3Tables kIl3{};

// dst[3*i + 0] = a[i], dst[3*i + 1] = b[i], dst[3*i + 2] = c[i]  (48 floats).
inline void store_interleave3(float* dst, F a, F b, F c) {
  for (int k = 0; k < 3; ++k) {
    const __m512i idx = _mm512_loadu_si512(kIl3.idx[k]);
    __m512 o = _mm512_permutexvar_ps(idx, a.v);
    o = _mm512_mask_blend_ps(kIl3.mb[k], o, _mm512_permutexvar_ps(idx, b.v));
    o = _mm512_mask_blend_ps(kIl3.mc[k], o, _mm512_permutexvar_ps(idx, c.v));
    _mm512_storeu_ps(dst + 16 * k, o);
  }
}


// ---- resampler helpers -----------------------------------------------------
inline F load_u8(const uint8_t* p) {
  return {_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))))};
}
inline void u8x16_to_f(__m128i v, F* out) { out[0] = {_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v))}; }
inline F gather_f(const float* base, I idx) { return {_mm512_i32gather_ps(idx.v, base, 4)}; }

struct Perm2 {
  __m512i idx;
};
inline Perm2 make_perm2(I idx) { return {idx.v}; }
inline F permute2(const Perm2& p, F a, F b) { return {_mm512_permutex2var_ps(a.v, p.idx, b.v)}; }

struct Perm4 {
  __m512i idx;
  __mmask16 hi;
};
inline Perm4 make_perm4(I idx) {
  return {idx.v, _mm512_test_epi32_mask(idx.v, _mm512_set1_epi32(32))};
}
inline F permute4(const Perm4& p, F a, F b, F c, F d) {
  return {_mm512_mask_blend_ps(p.hi, _mm512_permutex2var_ps(a.v, p.idx, b.v),
                               _mm512_permutex2var_ps(c.v, p.idx, d.v))};
}

struct Deinterleave3Tables {
  int32_t a[3][16];
  int32_t b[3][16];
  constexpr Deinterleave3Tables() : a(), b() {
    for (int c = 0; c < 3; ++c) {
      for (int l = 0; l < 16; ++l) {
        const int pos = 3 * l + c;
        a[c][l] = pos < 32 ? pos : 0;
        b[c][l] = pos < 32 ? l : 16 + (pos - 32);
      }
    }
  }
};
constexpr Deinterleave3Tables kDi3{};

inline void deinterleave3(F x0, F x1, F x2, F* a, F* b, F* c) {
  const __m512 v0 = x0.v, v1 = x1.v, v2 = x2.v;
  F* outs[3] = {a, b, c};
  for (int ch = 0; ch < 3; ++ch) {
    const __m512 t = _mm512_permutex2var_ps(v0, _mm512_loadu_si512(kDi3.a[ch]), v1);
    outs[ch]->v = _mm512_permutex2var_ps(t, _mm512_loadu_si512(kDi3.b[ch]), v2);
  }
}

// Horizontal sum of one vector (search scoring).
inline float hsum(F a) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a.v),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a.v), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Horizontal sums of eight vectors: out[i] = sum of the lanes of a[i] (each folded to 256 bits first).
inline void hsum8(const F* a, float* out) {
  __m256 h[8];
  for (int i = 0; i < 8; ++i)
    h[i] = _mm256_add_ps(_mm512_castps512_ps256(a[i].v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[i].v), 1)));
  const __m256 t0 = _mm256_hadd_ps(h[0], h[1]);
  const __m256 t1 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 t2 = _mm256_hadd_ps(h[4], h[5]);
  const __m256 t3 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);
  const __m256 u1 = _mm256_hadd_ps(t2, t3);
  const __m256 lo = _mm256_permute2f128_ps(u0, u1, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(u0, u1, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
}

}  // namespace vec
}  // namespace
