// The SIMD kernels behind the public functions, as one table of function pointers per level (private).
//
// Each level has one translation unit that fills its row: kernels_scalar.cpp (the reference path, baseline
// flags), kernels_avx2.cpp and kernels_avx512.cpp (the generic templates of src/simd/*.inl compiled with that
// level's ISA flags). dispatch.cpp probes the CPU, fills the rows this build has and this CPU runs, and
// kernels() returns the row of the level in use. A public function reads kernels() once and calls through it.
//
// Only plain C types cross these boundaries (no std:: templates), so SIMD translation units never instantiate
// inline library code that the linker could merge into baseline code.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facelens {

enum class SimdLevel : int;

namespace detail {

// Structure-of-arrays working set of the NMS (sorted by score, descending).
struct NmsSoa {
  float* x1;
  float* y1;
  float* x2;
  float* y2;
  float* area;
  int32_t* idx;
};

struct Kernels {
  // Vertical pass of the separable resampler on packed-RGB rows, deinterleaved:
  //   out[c][i] = (sum_k wk[k] * rows[k][3i + c]) * mul[c] + add[c], i in [0, n)
  void (*resample_vpass_u8)(const uint8_t* const* rows, const float* wk, int taps, int n, float* const* out,
                            const float* mul, const float* add);
  // Horizontal pass on float planes p[c] (in_w floats, readable up to in_w + 64):
  //   dst[c][x] = (sum_k w[k*wstride + x] * p[c][start[x] + k]) * mul[c] + add[c]
  void (*resample_hpass_f32)(const float* const* p, int in_w, const int32_t* start, const float* w, int wstride,
                             int taps, int n, float* const* dst, const float* mul, const float* add);
  // Packed RGB bytes -> normalised planes: dst[c][x] = src[3x+c] * mul[c] + add[c].
  void (*rgb_u8_to_planes)(const uint8_t* src, int n, float* const* dst, const float* mul, const float* add);
  // Writes the indices i (ascending) with p[i] > thr; returns their count.
  int64_t (*scan_greater)(const float* p, int64_t n, float thr, int32_t* out);
  // Keeps j in [begin, end) with !(IoU(box, j) > thr), compacted in place from begin.
  // box = {x1, y1, x2, y2, area}. Returns the new end.
  int64_t (*nms_filter)(const NmsSoa& s, int64_t begin, int64_t end, const float* box, float thr);
  // One output row of an affine warp: for x in [0, n), sample (u0 + du*x, v0 + dv*x) with bilinear
  // interpolation, zero outside; out[3x+c] = value_c * mul[c] + add[c]. The SIMD rows need w*h >= 2 and every
  // byte offset of the image to fit in int32.
  void (*warp_row)(const uint8_t* img, int w, int h, int64_t stride, float u0, float du, float v0, float dv, int n,
                   float* out, const float* mul, const float* add);
  // Scores n rows of m (row stride `stride`) against q: squared L2 distances (metric 0) or dot products (1).
  void (*search_scores)(const float* m, int64_t n, int64_t d, int64_t stride, const float* q, int metric,
                        float* out);
};

// Fill one row. Defined by the level's translation unit; a SIMD row is only filled on a CPU that runs it.
namespace scalar {
void fill_kernels(Kernels& k);
}
namespace avx2 {
void fill_kernels(Kernels& k);
}
namespace avx512 {
void fill_kernels(Kernels& k);
}

// The row of the level in use (simd_level()), and the row of a given level (compiled and supported).
const Kernels& kernels();
const Kernels& kernels(SimdLevel level);

}  // namespace detail
}  // namespace facelens
