// abi_test_util.h — check macros and helpers shared by abi_test.cpp and abi_test_dispatch.cpp.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../csrc/core/internal.h"
#include "../../csrc/include/metal_marlin.h"

inline int g_pass = 0, g_fail = 0;
inline const char* g_test = "";

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    if (cond) {                                                                             \
      ++g_pass;                                                                             \
    } else {                                                                                \
      ++g_fail;                                                                             \
      std::printf("FAIL %s (line %d): %s\n  last error: %s\n", g_test, __LINE__, #cond, mm_last_error()); \
    }                                                                                       \
  } while (0)

// rc must equal code and the message must contain every fragment.
#define CHECK_ERR(expr, code, ...)                                                         \
  do {                                                                                     \
    int rc_ = (expr);                                                                      \
    bool ok_ = rc_ == (code);                                                              \
    for (const char* f_ : {__VA_ARGS__}) ok_ = ok_ && std::strstr(mm_last_error(), f_);    \
    if (ok_) {                                                                             \
      ++g_pass;                                                                            \
    } else {                                                                               \
      ++g_fail;                                                                            \
      std::printf("FAIL %s (line %d): %s returned %d (want %d)\n  message: %s\n", g_test, __LINE__, #expr, rc_, \
                  (code), mm_last_error());                                                \
    }                                                                                      \
  } while (0)

inline bool contains(const char* s, const char* f) { return s && std::strstr(s, f); }

// Builds a dispatch desc block: header, bindings, inline bytes.
struct Desc {
  std::vector<mm_binding> binds;
  std::vector<unsigned char> bytes;
  uint32_t grid[3] = {1, 1, 1}, tg[3] = {1, 1, 1}, tgmem[8] = {};
  std::vector<uint64_t> storage;  // 8-byte aligned block handed to mm_dispatch

  Desc& buffer(uint32_t index, mm_buffer b, uint32_t dtype = 0, uint64_t offset = 0, uint64_t length = 0) {
    binds.push_back({index, MM_BIND_BUFFER, b, dtype, offset, length});
    return *this;
  }
  Desc& inline_bytes(uint32_t index, const void* p, uint32_t n, uint32_t dtype = 0) {
    binds.push_back({index, MM_BIND_BYTES, 0, dtype, bytes.size(), n});  // offset fixed in build()
    bytes.insert(bytes.end(), static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + n);
    bytes.resize((bytes.size() + 7) / 8 * 8, 0);
    return *this;
  }
  Desc& dims(uint32_t gx, uint32_t tx, uint32_t gy = 1, uint32_t ty = 1) {
    grid[0] = gx, grid[1] = gy, tg[0] = tx, tg[1] = ty;
    return *this;
  }
  mm_dispatch_desc* build() {
    size_t head = sizeof(mm_dispatch_desc) + binds.size() * sizeof(mm_binding);
    size_t total = head + bytes.size();
    storage.assign((total + 7) / 8, 0);
    auto* d = reinterpret_cast<mm_dispatch_desc*>(storage.data());
    d->size = static_cast<uint32_t>(total);
    std::memcpy(d->grid, grid, sizeof grid);
    std::memcpy(d->threadgroup, tg, sizeof tg);
    std::memcpy(d->threadgroup_memory, tgmem, sizeof tgmem);
    d->n_bindings = static_cast<uint32_t>(binds.size());
    for (size_t i = 0; i < binds.size(); ++i) {
      d->bindings[i] = binds[i];
      if (binds[i].kind == MM_BIND_BYTES) d->bindings[i].offset += head;
    }
    if (!bytes.empty()) std::memcpy(reinterpret_cast<unsigned char*>(d) + head, bytes.data(), bytes.size());
    return d;
  }
};

inline mm_device open_cpu(uint32_t threads = 2) {
  mm_device d = 0;
  if (mm_device_open("cpu", threads, &d) != MM_OK) std::printf("cannot open cpu device: %s\n", mm_last_error());
  return d;
}
inline mm_kernel builtin_kernel(mm_device d, const char* name) {
  mm_library lib = 0;
  mm_kernel k = 0;
  mm_library_builtin(d, &lib);
  mm_kernel_get(lib, name, &k);
  return k;
}
inline mm_buffer alloc_floats(mm_device d, uint32_t n, float base) {
  mm_buffer b = 0;
  mm_buffer_alloc(d, uint64_t(n) * 4, &b);
  auto* p = static_cast<float*>(mm_buffer_contents(b));
  for (uint32_t i = 0; p && i < n; ++i) p[i] = base + float(i);
  return b;
}

