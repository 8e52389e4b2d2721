// avx512 variant of the affine warp row kernel (compiled with per-file ISA flags).
#include "kernels.hpp"
#include "scalar_inline.hpp"
#include "simd/vec_avx512.hpp"

#define FACELENS_ISA avx512
#include "simd/warp_impl.inl"
