// avx512 variant of the CenterFace heat-map scan (compiled with per-file ISA flags).
#include "kernels.hpp"
#include "simd/vec_avx512.hpp"

#define FACELENS_ISA avx512
#include "simd/decode_impl.inl"
