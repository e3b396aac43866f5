// device.cpp — mm_device_*: backend choice, thread count, info, close (which frees all children).
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "entry.h"
#include "objects.h"

namespace mm::core {

namespace {

#if defined(__APPLE__)
#define MM_OS "macos"
#elif defined(__linux__)
#define MM_OS "linux"
#elif defined(_WIN32)
#define MM_OS "windows"
#else
#define MM_OS "unknown-os"
#endif
#if defined(__x86_64__)
#define MM_ARCH "x86_64"
#elif defined(__aarch64__)
#define MM_ARCH "arm64"
#else
#define MM_ARCH "unknown-arch"
#endif

constexpr uint32_t kMaxThreads = 1024;  // sanity cap on CPU worker threads

// threads = 0 -> MM_THREADS, else the core count.
int resolve_threads(const char* op, uint32_t threads, uint32_t* out) {
  if (threads == 0) {
    const char* env = std::getenv("MM_THREADS");
    if (env && *env) {
      char* end = nullptr;
      unsigned long v = std::strtoul(env, &end, 10);
      if (*end != '\0' || v < 1 || v > kMaxThreads)
        return fail(MM_E_INVALID_ARG, "%s: MM_THREADS=\"%s\" is not a thread count in 1..%u", op, env, kMaxThreads);
      threads = static_cast<uint32_t>(v);
    } else {
      threads = std::thread::hardware_concurrency();
      if (threads == 0) threads = 1;
    }
  }
  if (threads > kMaxThreads)
    return fail(MM_E_INVALID_ARG, "%s: threads = %u exceeds the limit %u", op, threads, kMaxThreads);
  *out = threads;
  return MM_OK;
}

int make_backend(const char* op, const char* name, uint32_t threads, std::unique_ptr<Backend>* out) {
  if (std::strcmp(name, "cpu") == 0) return make_cpu_backend(threads, out);
  if (std::strncmp(name, "cpu:", 4) == 0) return make_cpu_backend_instrumented(op, threads, name + 4, out);
  if (std::strcmp(name, "auto") == 0) {
#if defined(MM_HAVE_METAL)
    if (make_metal_backend(out) == MM_OK) return MM_OK;
    // One line, once per process, so a Mac user learns why the GPU was not used.
    static std::once_flag said;
    std::call_once(said, [] { std::fprintf(stderr, "metal-marlin: auto picked cpu: %s\n", mm_last_error()); });
#endif
    return make_cpu_backend(threads, out);
  }
  if (std::strcmp(name, "metal") == 0) {
#if defined(MM_HAVE_METAL)
    return make_metal_backend(out);
#else
    return fail(MM_E_UNSUPPORTED,
                "%s: the metal backend needs macOS with an Apple7+ GPU; this build is " MM_OS "-" MM_ARCH
                " (CPU runtime only)", op);
#endif
  }
  if (std::strcmp(name, "metal-sim") == 0) {
#if defined(MM_METAL_SIM)
    return make_metal_backend(out);
#else
    return fail(MM_E_UNSUPPORTED,
                "%s: backend \"metal-sim\" lives in the metal-sim build of the library (clang-16 and "
                "libblocksruntime-dev; Device.open({ backend: \"metal-sim\" }) loads it), not in this one", op);
#endif
  }
  return fail(MM_E_INVALID_ARG,
              "%s: unknown backend \"%.32s\" (expected \"auto\", \"cpu\", \"metal\" or \"metal-sim\")", op, name);
}

}  // namespace

uint32_t adopt_child(Device& dev, Tag tag, std::shared_ptr<Object> obj, const char* op) {
  std::lock_guard<std::mutex> lock(dev.mu);
  if (dev.closed) {
    fail(MM_E_BAD_HANDLE, "%s: device handle 0x%x is being closed", op, dev.handle);
    return 0;
  }
  uint32_t h = handle_add(tag, std::move(obj), op);
  if (h) dev.children.insert(h);
  return h;
}

void release_child(Device& dev, uint32_t h, Tag tag) {
  std::shared_ptr<Object> obj = handle_take(h, tag);
  std::lock_guard<std::mutex> lock(dev.mu);
  dev.children.erase(h);
}

}  // namespace mm::core

using namespace mm::core;

extern "C" {

MM_API int mm_device_open(const char* backend, uint32_t threads, mm_device* out) {
  static const char* op = "mm_device_open";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = 0;
    if (!backend) return fail(MM_E_INVALID_ARG, "%s: backend is NULL (use \"auto\", \"cpu\" or \"metal\")", op);
    uint32_t n = 0;
    if (int rc = resolve_threads(op, threads, &n)) return rc;
    auto dev = std::make_shared<Device>();
    if (int rc = make_backend(op, backend, n, &dev->backend)) return rc;
    mm_device_info info{};
    info.size = sizeof info;
    dev->backend->info(&info);
    dev->max_buffer_length = info.max_buffer_length;
    dev->max_threads_per_threadgroup = info.max_threads_per_threadgroup;
    dev->max_threadgroup_memory = info.max_threadgroup_memory;
    uint32_t h = handle_add(Tag::Device, dev, op);
    if (!h) return MM_E_OUT_OF_MEMORY;
    dev->handle = h;
    *out = h;
    return MM_OK;
  });
}

MM_API int mm_device_close(mm_device h) {
  static const char* op = "mm_device_close";
  return guarded(op, [&] {
    if (handle_was_freed(h, Tag::Device)) return MM_OK;  // idempotent: closing twice is fine
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    std::vector<uint32_t> children;
    {
      std::lock_guard<std::mutex> lock(dev->mu);
      if (dev->closed) return MM_OK;
      dev->closed = true;
      children.assign(dev->children.begin(), dev->children.end());
      dev->children.clear();
    }
    dev->backend->synchronize(op);  // let submitted work finish before its buffers go
    for (uint32_t c : children) handle_take(c, static_cast<Tag>(c >> 28));
    handle_take(h, Tag::Device);
    return MM_OK;
  });
}

MM_API int mm_device_info_get(mm_device h, mm_device_info* out) {
  static const char* op = "mm_device_info_get";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    if (out->size == 0)
      return fail(MM_E_INVALID_ARG, "%s: out->size is 0; set it to sizeof(mm_device_info) = %zu", op,
                  sizeof(mm_device_info));
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    mm_device_info info{};
    info.size = sizeof info;
    dev->backend->info(&info);
    info.allocated_bytes = dev->allocated_bytes.load();
    info.live_buffers = dev->live_buffers.load();
    uint32_t size = out->size;  // an older caller's smaller block gets the prefix it knows
    std::memcpy(out, &info, size < sizeof info ? size : sizeof info);
    out->size = size;
    return MM_OK;
  });
}

#if !defined(MM_METAL_SIM) && !defined(MM_HAVE_METAL)
MM_API int mm_metal_register_module(const char*, const char*) {
  return fail(MM_E_UNSUPPORTED, "mm_metal_register_module: this build has no Metal backend");
}
#endif

MM_API int mm_device_pending(mm_device h, uint64_t* out) {
  static const char* op = "mm_device_pending";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = 0;
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    return dev->backend->pending(op, out);
  });
}

MM_API int mm_device_synchronize(mm_device h) {
  static const char* op = "mm_device_synchronize";
  return guarded(op, [&] {
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    return dev->backend->synchronize(op);
  });
}

}  // extern "C"
