// avx2 variant of the resampler kernels (compiled with per-file ISA flags).
#include "kernels.hpp"
#include "simd/vec_avx2.hpp"

#define FACELENS_ISA avx2
#include "simd/resample_impl.inl"
