// The AVX-512 (F+BW) kernels: the generic SIMD templates of src/simd/*_impl.inl instantiated with vec_avx512.hpp and
// compiled with this level's ISA flags (CMake sets them on this file only). Only called on a CPU that runs them.
#include "kernels.hpp"
#include "scalar_inline.hpp"
#include "simd/vec_avx512.hpp"

#define FACELENS_ISA avx512
#include "simd/resample_impl.inl"
#include "simd/decode_impl.inl"
#include "simd/nms_impl.inl"
#include "simd/warp_impl.inl"
#include "simd/search_impl.inl"
#include "simd/fill_kernels.inl"
