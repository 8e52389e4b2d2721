// Generic SIMD affine-warp row kernel (bilinear, zero border) with masked
// gathers. See resample_impl.inl.
namespace facelens {
namespace detail {
namespace FACELENS_ISA {

using namespace ::vec;

// Preconditions (checked by the caller): w*h >= 2 and every valid byte offset
// y*stride + 3*x + 3 fits in int32.
void warp_row(const uint8_t* img, int w, int h, int64_t stride, float u0, float du, float v0,
              float dv, int n, float* out, const float* mul, const float* add) {
  const F lo = set1(-2.f);
  const F hu = set1(static_cast<float>(w) + 1.f);
  const F hv = set1(static_cast<float>(h) + 1.f);
  const F one = set1(1.f);
  const F fdu = set1(du), fdv = set1(dv), fu0 = set1(u0), fv0 = set1(v0);
  const I iW = set1i(w), iWm1 = set1i(w - 1), iH = set1i(h), iHm1 = set1i(h - 1);
  const I im1 = set1i(-1), im2 = set1i(-2), ione = set1i(1), ithree = set1i(3);
  const I iS = set1i(static_cast<int32_t>(stride));
  const I m8 = set1i(0xff);
  const F mul0 = set1(mul[0]), mul1 = set1(mul[1]), mul2 = set1(mul[2]);
  const F add0 = set1(add[0]), add1 = set1(add[1]), add2 = set1(add[2]);
  int x = 0;
  for (; x + kLanes <= n; x += kLanes) {
    const F xf = iota() + set1(static_cast<float>(x));
    const F u = vmin(vmax(fmadd(xf, fdu, fu0), lo), hu);
    const F v = vmin(vmax(fmadd(xf, fdv, fv0), lo), hv);
    const F x0f = vfloor(u), y0f = vfloor(v);
    const F fx = u - x0f, fy = v - y0f;
    const F gx = one - fx, gy = one - fy;
    const I x0 = cvtt(x0f), y0 = cvtt(y0f);
    const M vx0 = gt(x0, im1) & gt(iW, x0);
    const M vx1 = gt(x0, im2) & gt(iWm1, x0);
    const M vy0 = gt(y0, im1) & gt(iH, y0);
    const M vy1 = gt(y0, im2) & gt(iHm1, y0);
    const I o00 = mullo(y0, iS) + mullo(x0, ithree);
    const I offs[4] = {o00, o00 + ithree, o00 + iS, o00 + iS + ithree};
    const M valid[4] = {vx0 & vy0, vx1 & vy0, vx0 & vy1, vx1 & vy1};
    const F wts[4] = {gx * gy, fx * gy, gx * fy, fx * fy};
    F r = zero(), g = zero(), b = zero();
    for (int c = 0; c < 4; ++c) {
      // Read the 4 bytes ending one past the pixel (or starting at it for
      // offset 0) so that the last pixel of the image is never over-read.
      const I s = vmini(offs[c], ione);
      const I px = srlv(gather(img, offs[c] - s, valid[c]), slli<3>(s));
      r = fmadd(cvt(px & m8), wts[c], r);
      g = fmadd(cvt(srli<8>(px) & m8), wts[c], g);
      b = fmadd(cvt(srli<16>(px) & m8), wts[c], b);
    }
    store_interleave3(out + 3 * static_cast<std::ptrdiff_t>(x), fmadd(r, mul0, add0),
                      fmadd(g, mul1, add1), fmadd(b, mul2, add2));
  }
  for (; x < n; ++x)
    warp_pixel(img, w, h, stride, u0 + du * static_cast<float>(x), v0 + dv * static_cast<float>(x),
               out + 3 * static_cast<std::ptrdiff_t>(x), mul, add);
}

}  // namespace FACELENS_ISA
}  // namespace detail
}  // namespace facelens
