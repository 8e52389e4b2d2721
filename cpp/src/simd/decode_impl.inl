// Generic SIMD threshold scan (compare + movemask). See resample_impl.inl.
namespace facelens {
namespace detail {
namespace FACELENS_ISA {

using namespace ::vec;

int64_t scan_greater(const float* p, int64_t n, float thr, int32_t* out) {
  const F t = set1(thr);
  int64_t cnt = 0;
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    const M m0 = gt(loadu(p + i), t);
    const M m1 = gt(loadu(p + i + kLanes), t);
    const M m2 = gt(loadu(p + i + 2 * kLanes), t);
    const M m3 = gt(loadu(p + i + 3 * kLanes), t);
    if (!any((m0 | m1) | (m2 | m3))) continue;
    const M ms[4] = {m0, m1, m2, m3};
    for (int q = 0; q < 4; ++q) {
      uint32_t b = bits(ms[q]);
      while (b) {
        out[cnt++] = static_cast<int32_t>(i + q * kLanes + __builtin_ctz(b));
        b &= b - 1;
      }
    }
  }
  for (; i + kLanes <= n; i += kLanes) {
    uint32_t b = bits(gt(loadu(p + i), t));
    while (b) {
      out[cnt++] = static_cast<int32_t>(i + __builtin_ctz(b));
      b &= b - 1;
    }
  }
  for (; i < n; ++i)
    if (p[i] > thr) out[cnt++] = static_cast<int32_t>(i);
  return cnt;
}

}  // namespace FACELENS_ISA
}  // namespace detail
}  // namespace facelens
