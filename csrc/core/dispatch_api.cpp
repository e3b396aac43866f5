// dispatch_api.cpp — mm_dispatch and the internal dispatch_builtin (validation is in dispatch.cpp).
#include <cstring>
#include <memory>

#include "entry.h"
#include "objects.h"

namespace mm::core {

int dispatch_builtin(mm_device h, const char* kernel_name, const uint32_t grid[3], const uint32_t threadgroup[3],
                     const Bind* binds, uint32_t n_binds, const uint32_t* threadgroup_memory) {
  static const char* op = "dispatch_builtin";
  return guarded(op, [&] {
    if (!kernel_name || !grid || !threadgroup || (n_binds && !binds))
      return fail(MM_E_INVALID_ARG, "%s: kernel_name, grid, threadgroup or binds is NULL", op);
    if (n_binds > MM_MAX_BUFFERS)
      return fail(MM_E_BINDING, "%s: kernel %s: %u bindings; at most %u", op, kernel_name, n_binds, MM_MAX_BUFFERS);
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    std::shared_ptr<BackendLibrary> lib;
    if (int rc = device_builtin(op, *dev, &lib)) return rc;
    uint32_t index = 0;
    {
      std::lock_guard<std::mutex> lock(dev->mu);
      auto it = dev->builtin_index.find(kernel_name);
      if (it != dev->builtin_index.end()) {
        index = it->second;
      } else {
        if (int rc = find_kernel(op, *lib, kernel_name, &index)) return rc;
        dev->builtin_index.emplace(kernel_name, index);
      }
    }
    // Lay out one desc block: header, bindings, then inline bytes (16-byte aligned).
    uint64_t size = sizeof(mm_dispatch_desc) + uint64_t(n_binds) * sizeof(mm_binding);
    for (uint32_t i = 0; i < n_binds; ++i)
      if (binds[i].bytes) size += (binds[i].length + 15) / 16 * 16;
    if (size > UINT32_MAX)
      return fail(MM_E_INVALID_ARG, "%s: kernel %s: %llu bytes of inline data is too much", op, kernel_name,
                  static_cast<unsigned long long>(size));
    struct alignas(16) Chunk { unsigned char b[16]; };
    alignas(16) unsigned char stack[4096];  // covers the usual params block without a heap allocation
    std::unique_ptr<Chunk[]> heap;
    unsigned char* block = stack;
    if (size > sizeof stack) {
      heap.reset(new Chunk[(size + 15) / 16]);
      block = reinterpret_cast<unsigned char*>(heap.get());
    }
    auto* desc = reinterpret_cast<mm_dispatch_desc*>(block);
    std::memset(desc, 0, sizeof(mm_dispatch_desc));
    desc->size = static_cast<uint32_t>(size);
    std::memcpy(desc->grid, grid, sizeof desc->grid);
    std::memcpy(desc->threadgroup, threadgroup, sizeof desc->threadgroup);
    desc->n_bindings = n_binds;
    if (threadgroup_memory) std::memcpy(desc->threadgroup_memory, threadgroup_memory, sizeof desc->threadgroup_memory);
    uint64_t cursor = sizeof(mm_dispatch_desc) + uint64_t(n_binds) * sizeof(mm_binding);
    for (uint32_t i = 0; i < n_binds; ++i) {
      mm_binding& b = desc->bindings[i];
      b = mm_binding{binds[i].index, MM_BIND_BUFFER, binds[i].buffer, binds[i].dtype, binds[i].offset, binds[i].length};
      if (binds[i].bytes) {
        b.kind = MM_BIND_BYTES;
        b.buffer = 0;
        b.offset = cursor;
        std::memcpy(block + cursor, binds[i].bytes, binds[i].length);
        cursor += (binds[i].length + 15) / 16 * 16;
      }
    }
    return dispatch_validated(op, *dev, *lib, index, desc);
  });
}

}  // namespace mm::core

using namespace mm::core;

extern "C" {

MM_API int mm_dispatch(mm_device h, mm_kernel kh, const mm_dispatch_desc* desc) {
  static const char* op = "mm_dispatch";
  return guarded(op, [&] {
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    auto k = get_as<Kernel>(kh, Tag::Kernel, op);
    if (!k) return MM_E_BAD_HANDLE;
    if (k->dev != dev)
      return fail(MM_E_BAD_HANDLE, "%s: kernel %s (0x%x) belongs to device 0x%x, not to device 0x%x", op,
                  k->info().name.c_str(), kh, k->dev->handle, h);
    return dispatch_validated(op, *dev, *k->impl, k->index, desc);
  });
}

}  // extern "C"
