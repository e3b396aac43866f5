// metal_backend.mm — core's Backend on Metal: the device and its limits, shared-storage buffers,
// libraries, and dispatch through the command stream. Core validated every call before it gets here.
// Every method runs inside @autoreleasepool (it is an ABI entry's body). No Objective-C exception
// crosses the ABI: on Apple's 64-bit runtime they are C++ exceptions, and core's guarded() wrapper
// around every extern "C" entry catches them.
#include <cstdio>
#include <cstring>

#include "../core/internal.h"
#include "metal_internal.h"
#if defined(MM_METAL_SIM)
#include "sim/sim_api.h"
#define MM_METAL_BACKEND_NAME "metal-sim"
#else
#define MM_METAL_BACKEND_NAME "metal"
#endif

extern "C" const mm_rt_module* const* mm_rt_builtin_modules(uint32_t* count);

namespace mm::metal {

using core::fail;

namespace {

// The newest Apple GPU family the device supports (Apple7 = M1 / A14, the minimum we run on).
const char* family_name(id<MTLDevice> device) {
  if ([device supportsFamily:MTLGPUFamilyApple9]) return "apple9";
  if ([device supportsFamily:MTLGPUFamilyApple8]) return "apple8";
  if ([device supportsFamily:MTLGPUFamilyApple7]) return "apple7";
  return "pre-apple7";
}

class MetalBackend : public core::Backend {
 public:
  MetalBackend(id<MTLDevice> device, id<MTLCommandQueue> queue) : device_(device), stream_(queue) {}

  void info(mm_device_info* out) const override {
    @autoreleasepool {
      std::strncpy(out->backend, MM_METAL_BACKEND_NAME, sizeof out->backend - 1);
      std::snprintf(out->name, sizeof out->name, "%s (%s)", device_.name.UTF8String, family_name(device_));
      NSUInteger tg = device_.maxThreadsPerThreadgroup.width;
      out->max_threads_per_threadgroup = static_cast<uint32_t>(tg < 1024 ? tg : 1024);
      out->max_threadgroup_memory = static_cast<uint32_t>(device_.maxThreadgroupMemoryLength);
      out->simd_width = 32;
      out->threads = 0;  // the GPU's own; no host worker threads
      out->max_buffer_length = device_.maxBufferLength;
      out->recommended_working_set = device_.recommendedMaxWorkingSetSize;
      std::lock_guard<std::mutex> lock(libs_mu_);
      if (auto lib = builtin_.lock()) out->library_cache = lib->cache_state();
    }
  }

  int buffer_alloc(const char* op, uint64_t length, core::BackendBuffer* out) override {
    @autoreleasepool {
      id<MTLBuffer> buf = [device_ newBufferWithLength:length options:MTLResourceStorageModeShared];
      if (buf == nil)
        return fail(MM_E_OUT_OF_MEMORY, "%s: the Metal device could not allocate %llu bytes", op,
                    static_cast<unsigned long long>(length));
      std::memset(buf.contents, 0, length);  // core promises zero-filled buffers
      out->contents = buf.contents;          // shared storage: the host sees the GPU's memory, no copy
      out->length = length;
      out->native = (__bridge_retained void*)buf;
      return MM_OK;
    }
  }

  // Drops our reference only: a command buffer that encoded this buffer holds its own until it
  // completes, so the memory is neither freed nor reused under in-flight work.
  void buffer_free(core::BackendBuffer* buf) override {
    @autoreleasepool {
      id<MTLBuffer> released = (__bridge_transfer id<MTLBuffer>)buf->native;
      (void)released;
      buf->native = nullptr;
      buf->contents = nullptr;
    }
  }

  int builtin_library(const char* op, std::shared_ptr<core::BackendLibrary>* out) override {
    @autoreleasepool {
      uint32_t n_mods = 0, n_src = 0;
      const mm_rt_module* const* mods = mm_rt_builtin_modules(&n_mods);
      const BuiltinSource* srcs = builtin_sources(&n_src);
      if (n_mods != n_src)
        return fail(MM_E_INTERNAL, "%s: %u built-in shader modules but %u embedded sources (rebuild)", op, n_mods, n_src);
      auto lib = std::make_shared<MetalLibrary>();
      for (uint32_t i = 0; i < n_mods; ++i) {
#if defined(MM_METAL_SIM)
        mm_sim_register_module(srcs[i].source, std::strlen(srcs[i].source), mods[i]);
#endif
        if (int rc = compile_into(op, device_, srcs[i].source, mods[i], lib.get())) return rc;
      }
      lib->open_cache(device_, "builtin");
      track(lib, true);
      *out = std::move(lib);
      return MM_OK;
    }
  }

  int load_library(const char* op, const char*, std::shared_ptr<core::BackendLibrary>*) override {
    return fail(MM_E_UNSUPPORTED, "%s: the Metal backend compiles source (mm_library_compile), it loads no CPU module",
                op);
  }

  int compile_library(const char* op, const char* source, std::shared_ptr<core::BackendLibrary>* out) override {
    @autoreleasepool {
      auto lib = std::make_shared<MetalLibrary>();
      if (int rc = compile_into(op, device_, source, registered_module(source), lib.get())) return rc;
      lib->open_cache(device_, "user");
      track(lib, false);
      *out = std::move(lib);
      return MM_OK;
    }
  }

  int dispatch(const char* op, const core::Job& job) override {
    @autoreleasepool {
      const auto& lib = static_cast<const MetalLibrary&>(*job.library);
      const core::KernelInfo& k = lib.kernel(job.kernel);
      id<MTLComputePipelineState> pso = nil;
      if (int rc = lib.pipeline(op, device_, job, &pso)) return rc;
      // The compiled pipeline may allow fewer threads than the kernel declares (register pressure):
      // no kernel of the same family fits better, so refuse rather than let the GPU drop threads.
      const uint64_t threads = uint64_t(job.threadgroup[0]) * job.threadgroup[1] * job.threadgroup[2];
      if (threads > pso.maxTotalThreadsPerThreadgroup)
        return fail(MM_E_LIMIT,
                    "%s: kernel %s: threadgroup %ux%ux%u = %llu threads exceeds the pipeline's "
                    "maxTotalThreadsPerThreadgroup %lu on this device",
                    op, k.name.c_str(), job.threadgroup[0], job.threadgroup[1], job.threadgroup[2],
                    static_cast<unsigned long long>(threads), static_cast<unsigned long>(pso.maxTotalThreadsPerThreadgroup));
      return stream_.encode(op, device_, pso, job);
    }
  }

  // A sync point is where new pipelines reach the on-disk cache: after warm-up there are none, so
  // steady-state syncs write nothing.
  int synchronize(const char* op) override {
    @autoreleasepool {
      int rc = stream_.synchronize(op);
      std::vector<std::shared_ptr<MetalLibrary>> live;
      {
        std::lock_guard<std::mutex> lock(libs_mu_);
        for (const auto& w : libs_)
          if (auto l = w.lock()) live.push_back(std::move(l));
      }
      for (const auto& l : live) l->flush_cache();
      return rc;
    }
  }

  int pending(const char*, uint64_t* out) override {
    @autoreleasepool {
      *out = stream_.pending();
      return MM_OK;
    }
  }

 private:
  // Remembers a library for cache flushes at sync points (weakly: the caller owns it).
  void track(const std::shared_ptr<MetalLibrary>& lib, bool builtin) {
    std::lock_guard<std::mutex> lock(libs_mu_);
    std::erase_if(libs_, [](const std::weak_ptr<MetalLibrary>& w) { return w.expired(); });
    libs_.push_back(lib);
    if (builtin) builtin_ = lib;
  }

  id<MTLDevice> device_;
  CommandStream stream_;
  mutable std::mutex libs_mu_;
  std::vector<std::weak_ptr<MetalLibrary>> libs_;
  std::weak_ptr<MetalLibrary> builtin_;
};

}  // namespace

}  // namespace mm::metal

namespace mm::core {
int make_metal_backend(std::unique_ptr<Backend>* out) {
  static const char* op = "mm_device_open";
  @autoreleasepool {
    id<MTLDevice> device = MTLCreateSystemDefaultDevice();
    if (device == nil) return fail(MM_E_UNSUPPORTED, "%s: no Metal device on this machine", op);
    if (![device supportsFamily:MTLGPUFamilyApple7])
      return fail(MM_E_UNSUPPORTED, "%s: %s is not an Apple7+ GPU (M1 / A14 or later), which the kernels need", op,
                  device.name.UTF8String);
    id<MTLCommandQueue> queue = [device newCommandQueue];
    if (queue == nil) return fail(MM_E_UNSUPPORTED, "%s: %s gave no command queue", op, device.name.UTF8String);
    out->reset(new metal::MetalBackend(device, queue));
    return MM_OK;
  }
}
}  // namespace mm::core
