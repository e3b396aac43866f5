// objects.h — the core-side objects behind handles. Children hold their device (shared_ptr), so a
// backend outlives every buffer and library it created, whatever order handles are released in.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "backend.h"
#include "handles.h"

namespace mm::core {

struct Device : Object {
  std::unique_ptr<Backend> backend;  // declared first: destroyed last
  uint32_t handle = 0;
  uint64_t max_buffer_length = 0;       // limits copied from the backend's info at open
  uint32_t max_threads_per_threadgroup = 1024;
  uint32_t max_threadgroup_memory = 32768;
  std::atomic<uint64_t> allocated_bytes{0};
  std::atomic<uint32_t> live_buffers{0};

  std::mutex mu;                            // guards everything below
  bool closed = false;
  std::unordered_set<uint32_t> children;    // live buffer, library and kernel handles
  std::shared_ptr<BackendLibrary> builtin;  // loaded on first use
  uint32_t builtin_handle = 0;              // handle given out by mm_library_builtin (may be stale)
  std::unordered_map<std::string, uint32_t> builtin_index;  // dispatch_builtin lookup cache
  // Trace text mm_trace_take took but could not deliver (the caller's buffer was too small). Kept
  // here, not in a table keyed by handle, so it dies with the device and never reaches a later one.
  // Empty when none (a trace is at least "[]").
  std::string trace_pending;
};

struct Buffer : Object {
  std::shared_ptr<Device> dev;
  BackendBuffer mem;
  ~Buffer() override {
    if (!dev) return;  // allocation failed: nothing held
    dev->backend->buffer_free(&mem);
    dev->allocated_bytes -= mem.length;
    dev->live_buffers -= 1;
  }
};

struct Library : Object {
  std::shared_ptr<Device> dev;
  std::shared_ptr<BackendLibrary> impl;
  std::mutex mu;
  std::unordered_map<std::string, uint32_t> kernels;  // name -> kernel handle given out
};

struct Kernel : Object {
  std::shared_ptr<Device> dev;
  std::shared_ptr<BackendLibrary> impl;
  uint32_t index = 0;
  const KernelInfo& info() const { return impl->kernel(index); }
};

// Registers a child object and records it in dev->children (fails if the device is closing).
uint32_t adopt_child(Device& dev, Tag tag, std::shared_ptr<Object> obj, const char* op);
// Unregisters a child handle and forgets it in its device; quiet if already gone.
void release_child(Device& dev, uint32_t h, Tag tag);

// The device's builtin library, loaded on first use. Caller must not hold dev.mu.
int device_builtin(const char* op, Device& dev, std::shared_ptr<BackendLibrary>* out);
// Index of kernel `name` in lib, or MM_E_UNKNOWN_KERNEL listing up to 10 names.
int find_kernel(const char* op, const BackendLibrary& lib, const char* name, uint32_t* index);

// Validated dispatch of kernel `index` of `lib` on `dev` (shared by mm_dispatch and dispatch_builtin).
int dispatch_validated(const char* op, Device& dev, const BackendLibrary& lib, uint32_t index,
                       const mm_dispatch_desc* desc);

}  // namespace mm::core
