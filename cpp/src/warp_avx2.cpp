// avx2 variant of the affine warp row kernel (compiled with per-file ISA flags).
#include "kernels.hpp"
#include "scalar_inline.hpp"
#include "simd/vec_avx2.hpp"

#define FACELENS_ISA avx2
#include "simd/warp_impl.inl"
