// backend.h — what core needs from a backend (CPU runtime now, Metal later).
// Core validates every call before it reaches a backend, so backends trust their inputs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../include/metal_marlin.h"

namespace mm::core {

// Reflection of one [[buffer(i)]] argument, backend-neutral (mirrors mm_arg_info).
struct ArgInfo {
  uint32_t index = 0;
  uint32_t kind = MM_ARG_NONE;
  uint32_t access = 0;
  uint32_t dtype = MM_DTYPE_ANY;
  uint32_t elem_bytes = 0;
  uint32_t line = 0;
  std::string type_name;
  std::string arg_name;
};

struct KernelInfo {
  std::string name;
  std::string file;
  uint32_t line = 0;
  std::vector<ArgInfo> args;  // sorted by index, at most one per index
  uint32_t n_threadgroup_args = 0;
  uint32_t static_tg_bytes = 0;
  uint32_t max_threads_per_threadgroup = 1024;
};

// A backend's kernels. Index i is the kernel identity core hands back in a Job.
class BackendLibrary {
 public:
  virtual ~BackendLibrary() = default;
  virtual uint32_t kernel_count() const = 0;
  virtual const KernelInfo& kernel(uint32_t i) const = 0;
};

// Memory of one buffer: host address (shared storage) and the backend's object (MTLBuffer, or null).
struct BackendBuffer {
  void* contents = nullptr;
  void* native = nullptr;
  uint64_t length = 0;
};

// One binding after validation. `data` = contents + offset, or an aligned copy of inline bytes.
struct JobBinding {
  uint32_t kind = 0;       // 0 = unbound, MM_BIND_BUFFER or MM_BIND_BYTES
  void* data = nullptr;
  void* native = nullptr;  // backend buffer object for MM_BIND_BUFFER
  uint64_t offset = 0;     // bytes into `native`
  uint64_t length = 0;     // visible bytes
};

// A fully validated dispatch.
struct Job {
  const BackendLibrary* library = nullptr;
  uint32_t kernel = 0;
  uint32_t grid[3] = {1, 1, 1};
  uint32_t threadgroup[3] = {1, 1, 1};
  JobBinding bindings[MM_MAX_BUFFERS];
  uint32_t threadgroup_memory[MM_MAX_THREADGROUP_ARGS] = {};
  uint64_t function_constants[MM_MAX_FUNCTION_CONSTANTS] = {};
  uint32_t function_constants_defined = 0;
};

// Every method returns 0 or MM_E_* and sets the message with core::fail (prefixed by `op`).
class Backend {
 public:
  virtual ~Backend() = default;
  // Fills backend, name, limits and threads of `out`; core fills the counters.
  virtual void info(mm_device_info* out) const = 0;
  virtual int buffer_alloc(const char* op, uint64_t length, BackendBuffer* out) = 0;
  virtual void buffer_free(BackendBuffer* buf) = 0;
  virtual int builtin_library(const char* op, std::shared_ptr<BackendLibrary>* out) = 0;
  virtual int load_library(const char* op, const char* path, std::shared_ptr<BackendLibrary>* out) = 0;
  virtual int compile_library(const char* op, const char* source, std::shared_ptr<BackendLibrary>* out) = 0;
  virtual int dispatch(const char* op, const Job& job) = 0;
  // Waits for submitted work; returns (and clears) the first deferred error.
  virtual int synchronize(const char* op) = 0;
  // Submits encoded work without waiting; *out = submitted batches not completed yet.
  virtual int pending(const char* op, uint64_t* out) {
    (void)op;
    *out = 0;  // synchronous backends have nothing in flight
    return 0;
  }
  // Trace mode (instrumented CPU builds): JSON of the dispatches traced since the last call.
  virtual int trace_take(const char* op, std::string* out) {
    (void)out;
    return unsupported_trace(op);
  }

 private:
  static int unsupported_trace(const char* op);
};

// Factories. threads >= 1. make_metal_backend exists only in builds with MM_HAVE_METAL.
int make_cpu_backend(uint32_t threads, std::unique_ptr<Backend>* out);
// CPU backend of an instrumented build in trace or race mode ("trace" / "race"); MM_E_UNSUPPORTED
// when this library was not built with -DMM_INSTRUMENT (lib/build mode "instrument").
int make_cpu_backend_instrumented(const char* op, uint32_t threads, const char* mode, std::unique_ptr<Backend>* out);
#if defined(MM_HAVE_METAL) || defined(MM_METAL_SIM)
// Returns MM_E_UNSUPPORTED (with a message) when no Apple7+ GPU is present. In the metal-sim build
// (MM_METAL_SIM) the device is the simulated driver's.
int make_metal_backend(std::unique_ptr<Backend>* out);
#endif

}  // namespace mm::core
