// Per-thread growable scratch memory (private header, baseline TUs only).
// Kernels reuse these buffers across calls so that steady-state calls do no
// heap allocation besides the output arrays created by the bindings.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facelens {
namespace detail {

enum ScratchSlot : int {
  kSlotTabXStart = 0,
  kSlotTabXWeights,
  kSlotTabYStart,
  kSlotTabYWeights,
  kSlotRing,
  kSlotNmsKeys,
  kSlotNmsSoa,
  kSlotDecodeIdx,
  kSlotDecodeOut,
  kSlotQualityPlanes,
  kSlotSelectKeys,
  kSlotCount
};

// Returns a 64-byte aligned buffer of at least `bytes` bytes for this thread.
// Contents are unspecified; the pointer is valid until the next call with the
// same slot on the same thread.
void* scratch(int slot, std::size_t bytes);

template <class T>
inline T* scratch_as(int slot, std::size_t count) {
  return static_cast<T*>(scratch(slot, count * sizeof(T) + 64));
}

}  // namespace detail
}  // namespace facelens
