// The row of the dispatch table for the including translation unit's ISA (FACELENS_ISA), once every
// src/simd/*_impl.inl is included.
namespace facelens {
namespace detail {
namespace FACELENS_ISA {

void fill_kernels(Kernels& k) {
  k.resample_vpass_u8 = resample_vpass_u8;
  k.resample_hpass_f32 = resample_hpass_f32;
  k.rgb_u8_to_planes = rgb_u8_to_planes;
  k.scan_greater = scan_greater;
  k.nms_filter = nms_filter;
  k.warp_row = warp_row;
  k.search_scores = search_scores;
}

}  // namespace FACELENS_ISA
}  // namespace detail
}  // namespace facelens
