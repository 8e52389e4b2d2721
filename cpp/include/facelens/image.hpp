// Plain image view used by the kernels: packed 8-bit RGB (pixel stride 3),
// arbitrary positive row stride in bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facelens {

struct ImageU8 {
  const uint8_t* data = nullptr;  // pixel (x, y), channel c at data[y*row_stride + 3*x + c]
  int width = 0;
  int height = 0;
  std::ptrdiff_t row_stride = 0;  // bytes, >= 3*width
};

}  // namespace facelens
