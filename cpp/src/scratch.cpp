#include "scratch.hpp"

#include <cstdlib>
#include <new>

namespace facelens {
namespace detail {
namespace {

void aligned_free(void* p) {
#if defined(_MSC_VER)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

struct Buffer {
  void* raw = nullptr;
  std::size_t cap = 0;
};

struct Arena {
  Buffer slots[kSlotCount];
  ~Arena() {
    for (Buffer& b : slots) aligned_free(b.raw);
  }
};

thread_local Arena tls_arena;

}  // namespace

void* scratch(int slot, std::size_t bytes) {
  Buffer& b = tls_arena.slots[slot];
  if (bytes > b.cap) {
    std::size_t cap = b.cap ? b.cap : 4096;
    while (cap < bytes) cap *= 2;
    void* p = nullptr;
#if defined(_MSC_VER)
    p = _aligned_malloc(cap, 64);
#else
    if (posix_memalign(&p, 64, cap) != 0) p = nullptr;
#endif
    if (p == nullptr) throw std::bad_alloc();
    aligned_free(b.raw);
    b.raw = p;
    b.cap = cap;
  }
  return b.raw;
}

}  // namespace detail
}  // namespace facelens
