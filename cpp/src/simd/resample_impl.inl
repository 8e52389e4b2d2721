// Generic SIMD separable-resampler kernels (gather-free in the common cases).
// Included by kernels_<isa>.cpp after the matching vec_<isa>.hpp, with
// FACELENS_ISA defined to the namespace name (avx2 / avx512).
namespace facelens {
namespace detail {
namespace FACELENS_ISA {
namespace {

using namespace ::vec;

// pshufb controls that split 16 packed RGB pixels (3 x 16 bytes) into planes:
// kRgbShuf[channel][source vector][byte] (0x80 = zero).
struct RgbShuffle {
  uint8_t m[3][3][16];
  constexpr RgbShuffle() : m() {
    for (int ch = 0; ch < 3; ++ch)
      for (int v = 0; v < 3; ++v)
        for (int l = 0; l < 16; ++l) {
          const int pos = 3 * l + ch;
          m[ch][v][l] = static_cast<uint8_t>(pos / 16 == v ? pos % 16 : 0x80);
        }
  }
};
constexpr RgbShuffle kRgbShuf{};

template <int TAPS>
void hpass_planes(const float* const* P, const int32_t* start, const float* w, int wstride,
                  int taps, int n, float* const* dst, const float* mul, const float* add) {
  const int K = TAPS > 0 ? TAPS : taps;
  const F m0 = set1(mul[0]), m1 = set1(mul[1]), m2 = set1(mul[2]);
  const F a0 = set1(add[0]), a1 = set1(add[1]), a2 = set1(add[2]);
  int x = 0;
  for (; x + kLanes <= n; x += kLanes) {
    const I st = loadu(start + x);
    const int base = start[x];
    F c0 = zero(), c1 = zero(), c2 = zero();
    if (start[x + kLanes - 1] - base + K <= 2 * kLanes) {
      // All taps of these kLanes outputs lie in a 2-register window.
      const F p00 = loadu(P[0] + base), p01 = loadu(P[0] + base + kLanes);
      const F p10 = loadu(P[1] + base), p11 = loadu(P[1] + base + kLanes);
      const F p20 = loadu(P[2] + base), p21 = loadu(P[2] + base + kLanes);
      const I idx = st - set1i(base);
      for (int k = 0; k < K; ++k) {
        const Perm2 pm = make_perm2(idx + set1i(k));
        const F wk = loadu(w + static_cast<std::ptrdiff_t>(k) * wstride + x);
        c0 = fmadd(permute2(pm, p00, p01), wk, c0);
        c1 = fmadd(permute2(pm, p10, p11), wk, c1);
        c2 = fmadd(permute2(pm, p20, p21), wk, c2);
      }
    } else if (start[x + kLanes - 1] - base + K <= 4 * kLanes) {  // 4-register window
      const int b1 = base + kLanes, b2 = base + 2 * kLanes, b3 = base + 3 * kLanes;
      const F p00 = loadu(P[0] + base), p01 = loadu(P[0] + b1), p02 = loadu(P[0] + b2), p03 = loadu(P[0] + b3);
      const F p10 = loadu(P[1] + base), p11 = loadu(P[1] + b1), p12 = loadu(P[1] + b2), p13 = loadu(P[1] + b3);
      const F p20 = loadu(P[2] + base), p21 = loadu(P[2] + b1), p22 = loadu(P[2] + b2), p23 = loadu(P[2] + b3);
      const I idx = st - set1i(base);
      for (int k = 0; k < K; ++k) {
        const Perm4 pm = make_perm4(idx + set1i(k));
        const F wk = loadu(w + static_cast<std::ptrdiff_t>(k) * wstride + x);
        c0 = fmadd(permute4(pm, p00, p01, p02, p03), wk, c0);
        c1 = fmadd(permute4(pm, p10, p11, p12, p13), wk, c1);
        c2 = fmadd(permute4(pm, p20, p21, p22, p23), wk, c2);
      }
    } else {  // very wide footprint (area downscale > ~4x): gathers
      for (int k = 0; k < K; ++k) {
        const I ik = st + set1i(k);
        const F wk = loadu(w + static_cast<std::ptrdiff_t>(k) * wstride + x);
        c0 = fmadd(gather_f(P[0], ik), wk, c0);
        c1 = fmadd(gather_f(P[1], ik), wk, c1);
        c2 = fmadd(gather_f(P[2], ik), wk, c2);
      }
    }
    storeu(dst[0] + x, fmadd(c0, m0, a0));
    storeu(dst[1] + x, fmadd(c1, m1, a1));
    storeu(dst[2] + x, fmadd(c2, m2, a2));
  }
  for (; x < n; ++x) {
    for (int c = 0; c < 3; ++c) {
      float acc = 0.f;
      for (int k = 0; k < K; ++k)
        acc = acc + w[static_cast<std::ptrdiff_t>(k) * wstride + x] * P[c][start[x] + k];
      dst[c][x] = acc * mul[c] + add[c];
    }
  }
}

}  // namespace

namespace {

template <int TAPS>
void vpass_t(const uint8_t* const* rows, const float* wk, int taps, int n, float* const* out,
             const float* mul, const float* add) {
  constexpr int kMaxHoist = 4;
  const int K = TAPS > 0 ? TAPS : taps;
  const F m0 = set1(mul[0]), m1 = set1(mul[1]), m2 = set1(mul[2]);
  const F a0 = set1(add[0]), a1 = set1(add[1]), a2 = set1(add[2]);
  F wv[kMaxHoist];
  const uint8_t* rp[kMaxHoist];
  for (int k = 0; k < kMaxHoist; ++k) {
    wv[k] = set1(k < K ? wk[k] : 0.f);
    rp[k] = k < K ? rows[k] : rows[0];
  }
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const std::ptrdiff_t o = 3 * static_cast<std::ptrdiff_t>(i);
    F v[3];
    for (int q = 0; q < 3; ++q) {
      const std::ptrdiff_t oq = o + q * kLanes;
      F acc = load_u8(rp[0] + oq) * wv[0];
      if (TAPS > 0) {
        for (int k = 1; k < TAPS; ++k) acc = fmadd(load_u8(rp[k] + oq), wv[k], acc);
      } else {
        for (int k = 1; k < K; ++k) acc = fmadd(load_u8(rows[k] + oq), set1(wk[k]), acc);
      }
      v[q] = acc;
    }
    F r, g, b;
    deinterleave3(v[0], v[1], v[2], &r, &g, &b);
    storeu(out[0] + i, fmadd(r, m0, a0));
    storeu(out[1] + i, fmadd(g, m1, a1));
    storeu(out[2] + i, fmadd(b, m2, a2));
  }
  for (; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {
      float acc = static_cast<float>(rows[0][3 * i + c]) * wk[0];
      for (int k = 1; k < K; ++k) acc = acc + static_cast<float>(rows[k][3 * i + c]) * wk[k];
      out[c][i] = acc * mul[c] + add[c];
    }
  }
}

}  // namespace

void resample_vpass_u8(const uint8_t* const* rows, const float* wk, int taps, int n,
                       float* const* out, const float* mul, const float* add) {
  switch (taps) {
    case 1: vpass_t<1>(rows, wk, taps, n, out, mul, add); break;
    case 2: vpass_t<2>(rows, wk, taps, n, out, mul, add); break;
    case 3: vpass_t<3>(rows, wk, taps, n, out, mul, add); break;
    case 4: vpass_t<4>(rows, wk, taps, n, out, mul, add); break;
    default: vpass_t<0>(rows, wk, taps, n, out, mul, add); break;
  }
}

void resample_hpass_f32(const float* const* p, int in_w, const int32_t* start, const float* w,
                        int wstride, int taps, int n, float* const* dst, const float* mul,
                        const float* add) {
  (void)in_w;
  switch (taps) {
    case 1: hpass_planes<1>(p, start, w, wstride, taps, n, dst, mul, add); break;
    case 2: hpass_planes<2>(p, start, w, wstride, taps, n, dst, mul, add); break;
    case 3: hpass_planes<3>(p, start, w, wstride, taps, n, dst, mul, add); break;
    case 4: hpass_planes<4>(p, start, w, wstride, taps, n, dst, mul, add); break;
    default: hpass_planes<0>(p, start, w, wstride, taps, n, dst, mul, add); break;
  }
}

void rgb_u8_to_planes(const uint8_t* src, int n, float* const* dst, const float* mul,
                      const float* add) {
  constexpr int kV = 16 / kLanes;
  const F m0 = set1(mul[0]), m1 = set1(mul[1]), m2 = set1(mul[2]);
  const F a0 = set1(add[0]), a1 = set1(add[1]), a2 = set1(add[2]);
  __m128i sh[3][3];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 3; ++v) sh[c][v] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kRgbShuf.m[c][v]));
  int x = 0;
  for (; x + 16 <= n; x += 16) {
    const uint8_t* p = src + 3 * static_cast<std::ptrdiff_t>(x);
    const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    const __m128i vc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32));
    F f[3][kV];
    for (int c = 0; c < 3; ++c) {
      const __m128i bytes = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(va, sh[c][0]), _mm_shuffle_epi8(vb, sh[c][1])),
                                         _mm_shuffle_epi8(vc, sh[c][2]));
      u8x16_to_f(bytes, f[c]);
    }
    for (int q = 0; q < kV; ++q) {
      storeu(dst[0] + x + q * kLanes, fmadd(f[0][q], m0, a0));
      storeu(dst[1] + x + q * kLanes, fmadd(f[1][q], m1, a1));
      storeu(dst[2] + x + q * kLanes, fmadd(f[2][q], m2, a2));
    }
  }
  for (; x < n; ++x)
    for (int c = 0; c < 3; ++c) dst[c][x] = static_cast<float>(src[3 * x + c]) * mul[c] + add[c];
}

}  // namespace FACELENS_ISA
}  // namespace detail
}  // namespace facelens
