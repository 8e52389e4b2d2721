// Generic SIMD NMS filter step: IoU of one box against the remaining ones and
// in-place left-packing of the survivors. See resample_impl.inl.
namespace facelens {
namespace detail {
namespace FACELENS_ISA {

using namespace ::vec;

int64_t nms_filter(const NmsSoa& s, int64_t begin, int64_t end, const float* box, float thr) {
  const F bx1 = set1(box[0]), by1 = set1(box[1]), bx2 = set1(box[2]), by2 = set1(box[3]);
  const F barea = set1(box[4]);
  const F t = set1(thr);
  const F z = zero();
  constexpr uint32_t kAll = (kLanes == 32) ? 0xffffffffu : ((1u << kLanes) - 1u);
  int64_t w = begin;
  int64_t r = begin;
  for (; r + kLanes <= end; r += kLanes) {
    const F x1 = loadu(s.x1 + r), y1 = loadu(s.y1 + r);
    const F x2 = loadu(s.x2 + r), y2 = loadu(s.y2 + r);
    const F ar = loadu(s.area + r);
    // Same operation order as scalar iou_with() so both paths agree bit for bit.
    const F iw = vmax(z, vmin(bx2, x2) - vmax(bx1, x1));
    const F ih = vmax(z, vmin(by2, y2) - vmax(by1, y1));
    const F inter = iw * ih;
    const F uni = (barea + ar) - inter;
    const M keep = mnot(gt(inter / uni, t));
    const uint32_t kb = bits(keep);
    if (kb == kAll && w == r) {  // nothing suppressed so far: data already in place
      w += kLanes;
      continue;
    }
    if (kb == 0) continue;
    const Packer p = make_packer(keep);
    const I id = loadu(s.idx + r);
    pack_store(s.x1 + w, x1, p);
    pack_store(s.y1 + w, y1, p);
    pack_store(s.x2 + w, x2, p);
    pack_store(s.y2 + w, y2, p);
    pack_store(s.area + w, ar, p);
    pack_store(s.idx + w, id, p);
    w += p.count;
  }
  for (; r < end; ++r) {
    if (iou_with(box, s.x1[r], s.y1[r], s.x2[r], s.y2[r], s.area[r]) > thr) continue;
    s.x1[w] = s.x1[r];
    s.y1[w] = s.y1[r];
    s.x2[w] = s.x2[r];
    s.y2[w] = s.y2[r];
    s.area[w] = s.area[r];
    s.idx[w] = s.idx[r];
    ++w;
  }
  return w;
}

}  // namespace FACELENS_ISA
}  // namespace detail
}  // namespace facelens
