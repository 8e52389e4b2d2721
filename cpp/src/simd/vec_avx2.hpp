// Thin vector wrapper for AVX2+FMA (8 x f32 / 8 x i32). Private header, only
// included by kernels_avx2.cpp. Everything has internal linkage
// (anonymous namespace) so that code compiled with -mavx2 can never be merged
// by the linker into baseline code (ODR/COMDAT hazard of per-file ISA flags).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace {
namespace vec {

constexpr int kLanes = 8;

struct F { __m256 v; };
struct I { __m256i v; };
struct M { __m256i v; };  // lane mask: all-ones / all-zeros

inline F loadu(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void storeu(float* p, F a) { _mm256_storeu_ps(p, a.v); }
inline F set1(float x) { return {_mm256_set1_ps(x)}; }
inline F zero() { return {_mm256_setzero_ps()}; }
inline F iota() { return {_mm256_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f)}; }
inline F operator+(F a, F b) { return {_mm256_add_ps(a.v, b.v)}; }
inline F operator-(F a, F b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline F operator*(F a, F b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline F operator/(F a, F b) { return {_mm256_div_ps(a.v, b.v)}; }
// a*b + c with a single rounding.
inline F fmadd(F a, F b, F c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
// Same semantics as x86 minps/maxps: (a < b ? a : b), (a > b ? a : b).
inline F vmin(F a, F b) { return {_mm256_min_ps(a.v, b.v)}; }
inline F vmax(F a, F b) { return {_mm256_max_ps(a.v, b.v)}; }
inline F vfloor(F a) { return {_mm256_floor_ps(a.v)}; }

inline I loadu(const int32_t* p) { return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))}; }
inline void storeu(int32_t* p, I a) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), a.v); }
inline I set1i(int32_t x) { return {_mm256_set1_epi32(x)}; }
inline I iotai() { return {_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)}; }
inline I operator+(I a, I b) { return {_mm256_add_epi32(a.v, b.v)}; }
inline I operator-(I a, I b) { return {_mm256_sub_epi32(a.v, b.v)}; }
inline I operator&(I a, I b) { return {_mm256_and_si256(a.v, b.v)}; }
inline I mullo(I a, I b) { return {_mm256_mullo_epi32(a.v, b.v)}; }
inline I vmini(I a, I b) { return {_mm256_min_epi32(a.v, b.v)}; }
template <int k> inline I srli(I a) { return {_mm256_srli_epi32(a.v, k)}; }
template <int k> inline I slli(I a) { return {_mm256_slli_epi32(a.v, k)}; }
inline I srlv(I a, I n) { return {_mm256_srlv_epi32(a.v, n.v)}; }
inline I cvtt(F a) { return {_mm256_cvttps_epi32(a.v)}; }
inline F cvt(I a) { return {_mm256_cvtepi32_ps(a.v)}; }
// Byte-offset gathers of 32-bit words (scale 1).
inline I gather(const void* base, I off) {
  return {_mm256_i32gather_epi32(static_cast<const int*>(base), off.v, 1)};
}
// Masked-off lanes are not accessed and read as 0.
inline I gather(const void* base, I off, M m) {
  return {_mm256_mask_i32gather_epi32(_mm256_setzero_si256(), static_cast<const int*>(base),
                                      off.v, m.v, 1)};
}

inline M gt(F a, F b) { return {_mm256_castps_si256(_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ))}; }
inline M gt(I a, I b) { return {_mm256_cmpgt_epi32(a.v, b.v)}; }
inline M operator&(M a, M b) { return {_mm256_and_si256(a.v, b.v)}; }
inline M operator|(M a, M b) { return {_mm256_or_si256(a.v, b.v)}; }
inline M mnot(M a) { return {_mm256_xor_si256(a.v, _mm256_set1_epi32(-1))}; }
inline uint32_t bits(M m) {
  return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(m.v)));
}
inline bool any(M m) { return !_mm256_testz_si256(m.v, m.v); }

// 8-lane left-packing permutation table: entry m holds the indices of the set
// bits of m, 4 bits each, lowest first.
struct PackLut {
  uint32_t t[256];
  constexpr PackLut() : t() {
    for (int m = 0; m < 256; ++m) {
      uint32_t v = 0;
      int k = 0;
      for (int i = 0; i < 8; ++i)
        if ((m >> i) & 1) v |= static_cast<uint32_t>(i) << (4 * k++);
      t[m] = v;
    }
  }
};
constexpr PackLut kPackLut{};

struct Packer {
  __m256i idx;
  int count;
};
inline Packer make_packer(M m) {
  const uint32_t b = bits(m);
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  __m256i idx = _mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(kPackLut.t[b])), shifts);
  idx = _mm256_and_si256(idx, _mm256_set1_epi32(7));
  return {idx, __builtin_popcount(b)};
}
// Writes the selected lanes contiguously at dst; writes kLanes values (the
// tail beyond count is garbage), so dst must have room for kLanes floats.
inline void pack_store(float* dst, F a, const Packer& p) {
  _mm256_storeu_ps(dst, _mm256_permutevar8x32_ps(a.v, p.idx));
}
inline void pack_store(int32_t* dst, I a, const Packer& p) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permutevar8x32_epi32(a.v, p.idx));
}

// dst[3*i + 0] = a[i], dst[3*i + 1] = b[i], dst[3*i + 2] = c[i]  (24 floats).
inline void store_interleave3(float* dst, F a, F b, F c) {
  const __m256i i0 = _mm256_setr_epi32(0, 0, 0, 1, 1, 1, 2, 2);
  const __m256i i1 = _mm256_setr_epi32(2, 3, 3, 3, 4, 4, 4, 5);
  const __m256i i2 = _mm256_setr_epi32(5, 5, 6, 6, 6, 7, 7, 7);
  // lane channel pattern: out0 = a b c a b c a b ; out1 = c a b c a b c a ; out2 = b c a b c a b c
  __m256 o0 = _mm256_permutevar8x32_ps(a.v, i0);
  o0 = _mm256_blend_ps(o0, _mm256_permutevar8x32_ps(b.v, i0), 0x92);  // lanes 1,4,7
  o0 = _mm256_blend_ps(o0, _mm256_permutevar8x32_ps(c.v, i0), 0x24);  // lanes 2,5
  __m256 o1 = _mm256_permutevar8x32_ps(a.v, i1);
  o1 = _mm256_blend_ps(o1, _mm256_permutevar8x32_ps(b.v, i1), 0x24);  // lanes 2,5
  o1 = _mm256_blend_ps(o1, _mm256_permutevar8x32_ps(c.v, i1), 0x49);  // lanes 0,3,6
  __m256 o2 = _mm256_permutevar8x32_ps(a.v, i2);
  o2 = _mm256_blend_ps(o2, _mm256_permutevar8x32_ps(b.v, i2), 0x49);  // lanes 0,3,6
  o2 = _mm256_blend_ps(o2, _mm256_permutevar8x32_ps(c.v, i2), 0x92);  // lanes 1,4,7
  _mm256_storeu_ps(dst, o0);
  _mm256_storeu_ps(dst + 8, o1);
  _mm256_storeu_ps(dst + 16, o2);
}


// ---- resampler helpers -----------------------------------------------------
// kLanes bytes -> floats.
inline F load_u8(const uint8_t* p) {
  return {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))))};
}
// 16 bytes -> 16 floats (16 / kLanes vectors).
inline void u8x16_to_f(__m128i v, F* out) {
  out[0] = {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))};
  out[1] = {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpackhi_epi64(v, v)))};
}
inline F gather_f(const float* base, I idx) { return {_mm256_i32gather_ps(base, idx.v, 4)}; }

// Two-register permute: lane i of the result is (a:b)[idx[i]], idx in [0, 2*kLanes).
struct Perm2 {
  __m256i idx;
  __m256 hi;
};
inline Perm2 make_perm2(I idx) {
  return {idx.v, _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx.v, _mm256_set1_epi32(7)))};
}
inline F permute2(const Perm2& p, F a, F b) {
  return {_mm256_blendv_ps(_mm256_permutevar8x32_ps(a.v, p.idx), _mm256_permutevar8x32_ps(b.v, p.idx), p.hi)};
}

// Four-register permute: lane i = (a:b:c:d)[idx[i]], idx in [0, 4*kLanes).
struct Perm4 {
  __m256i idx;
  __m256 b3, b4;
};
inline Perm4 make_perm4(I idx) {
  return {idx.v, _mm256_castsi256_ps(_mm256_slli_epi32(idx.v, 28)),
          _mm256_castsi256_ps(_mm256_slli_epi32(idx.v, 27))};
}
inline F permute4(const Perm4& p, F a, F b, F c, F d) {
  // blendv selects on the sign bit: bit 3 (b3) picks b over a / d over c, bit 4 (b4) the upper pair.
  const __m256 ab = _mm256_blendv_ps(_mm256_permutevar8x32_ps(a.v, p.idx), _mm256_permutevar8x32_ps(b.v, p.idx), p.b3);
  const __m256 cd = _mm256_blendv_ps(_mm256_permutevar8x32_ps(c.v, p.idx), _mm256_permutevar8x32_ps(d.v, p.idx), p.b3);
  return {_mm256_blendv_ps(ab, cd, p.b4)};
}

// src[3*i + c] -> out_c[i] for 3*kLanes floats.
inline void deinterleave3(F x0, F x1, F x2, F* a, F* b, F* c) {
  const __m256 v0 = x0.v, v1 = x1.v, v2 = x2.v;
  const __m256i i0 = _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5);
  const __m256i i1 = _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6);
  const __m256i i2 = _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7);
  __m256 r = _mm256_blend_ps(_mm256_permutevar8x32_ps(v0, i0), _mm256_permutevar8x32_ps(v1, i0), 0x38);
  a->v = _mm256_blend_ps(r, _mm256_permutevar8x32_ps(v2, i0), 0xC0);
  r = _mm256_blend_ps(_mm256_permutevar8x32_ps(v0, i1), _mm256_permutevar8x32_ps(v1, i1), 0x18);
  b->v = _mm256_blend_ps(r, _mm256_permutevar8x32_ps(v2, i1), 0xE0);
  r = _mm256_blend_ps(_mm256_permutevar8x32_ps(v0, i2), _mm256_permutevar8x32_ps(v1, i2), 0x1C);
  c->v = _mm256_blend_ps(r, _mm256_permutevar8x32_ps(v2, i2), 0xE0);
}

// Horizontal sum of one vector (search scoring).
inline float hsum(F a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Horizontal sums of eight vectors: out[i] = sum of the lanes of a[i].
inline void hsum8(const F* a, float* out) {
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

}  // namespace vec
}  // namespace
