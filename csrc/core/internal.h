// internal.h — the small C++ API other core code (gemm routing, ...) uses on top of the C ABI.
#pragma once

#include <cstdint>

#include "../include/metal_marlin.h"

namespace mm::core {

// Sets the thread-local error message (printf-style, start it with the operation) and returns code.
int fail(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

struct BufferView {
  void* contents;
  uint64_t length;
};
// Validates the buffer handle and that `buf` belongs to `dev`.
int buffer_view(mm_device dev, mm_buffer buf, BufferView* out);

// One binding for dispatch_builtin. bytes != nullptr -> inline constant bytes of `length`.
struct Bind {
  uint32_t index;
  mm_buffer buffer;
  uint64_t offset;
  uint64_t length;
  const void* bytes;
  uint32_t dtype;
};

// Same validation as mm_dispatch; the kernel comes from the builtin library (lookup cached per
// device). threadgroup_memory: 8 entries or null.
int dispatch_builtin(mm_device dev, const char* kernel_name, const uint32_t grid[3],
                     const uint32_t threadgroup[3], const Bind* binds, uint32_t n_binds,
                     const uint32_t* threadgroup_memory);
int builtin_kernel_info(mm_device dev, const char* kernel_name, mm_kernel_info* out);

}  // namespace mm::core
