// backend_cpu.cpp — the CPU backend: host memory buffers, shader modules (linked in or dlopen'ed)
// and dispatch through the fiber Scheduler. Core has validated everything before these calls.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>
#include <vector>

#include "../core/backend.h"
#include "../core/entry.h"
#include "../core/internal.h"
#include "guarded.h"
#include "instrument.h"
#include "progress.h"
#include "rt_abi.h"
#include "scheduler.h"

// The build generates the strong definition listing the shipped shader modules; this weak default
// lets the dylib (and tests) link when there are none yet.
extern "C" __attribute__((weak)) const mm_rt_module* const* mm_rt_builtin_modules(uint32_t* count) {
  if (count) *count = 0;
  return nullptr;
}

namespace mm::cpu {

namespace {

using core::fail;

#if defined(__APPLE__)
constexpr size_t kPage = 16384;  // Apple Silicon page: what newBufferWithBytesNoCopy needs
#else
constexpr size_t kPage = 4096;
#endif
constexpr uint64_t kMaxBuffer = 1ull << 36;

class CpuLibrary : public core::BackendLibrary {
 public:
  ~CpuLibrary() override {
    if (dl_) dlclose(dl_);
  }
  uint32_t kernel_count() const override { return static_cast<uint32_t>(infos_.size()); }
  const core::KernelInfo& kernel(uint32_t i) const override { return infos_[i]; }
  const mm_rt_kernel* rt_kernel(uint32_t i) const { return kernels_[i]; }

  // Checks a module's tables and adds its kernels; MM_E_LOAD names what is malformed.
  int add_module(const char* op, const char* where, const mm_rt_module* m) {
    if (!m) return fail(MM_E_LOAD, "%s: %s: the module getter returned NULL", op, where);
    if (m->version != MM_RT_ABI_VERSION)
      return fail(MM_E_LOAD, "%s: %s: module built for runtime ABI %u, this library speaks %u (rebuild the module)", op,
                  where, m->version, MM_RT_ABI_VERSION);
    if (m->n_kernels && !m->kernels) return fail(MM_E_LOAD, "%s: %s: n_kernels = %u but kernels is NULL", op, where, m->n_kernels);
    for (uint32_t i = 0; i < m->n_kernels; ++i) {
      const mm_rt_kernel& k = m->kernels[i];
      if (!k.name || !k.entry || (k.n_args && !k.args))
        return fail(MM_E_LOAD, "%s: %s: kernel #%u has no name, entry or args table", op, where, i);
      if (k.n_threadgroup_args > MM_MAX_THREADGROUP_ARGS)
        return fail(MM_E_LOAD, "%s: %s: kernel %s declares %u threadgroup args (max %u)", op, where, k.name,
                    k.n_threadgroup_args, MM_MAX_THREADGROUP_ARGS);
      if (!names_.insert(k.name).second)
        return fail(MM_E_LOAD, "%s: %s: kernel name %s is defined twice", op, where, k.name);
      core::KernelInfo info;
      info.name = k.name;
      info.file = k.file ? k.file : (m->source_name ? m->source_name : "");
      info.line = k.line;
      info.n_threadgroup_args = k.n_threadgroup_args;
      info.static_tg_bytes = k.static_tg_bytes;
      info.max_threads_per_threadgroup = k.max_threads_per_threadgroup ? k.max_threads_per_threadgroup : 1024;
      for (uint32_t j = 0; j < k.n_args; ++j) {
        const mm_rt_arg& a = k.args[j];
        if (a.index >= MM_MAX_BUFFERS || (j && a.index <= k.args[j - 1].index))
          return fail(MM_E_LOAD, "%s: %s: kernel %s: args must have increasing indices < %u (arg #%u has %u)", op, where,
                      k.name, MM_MAX_BUFFERS, j, a.index);
        if (a.kind != MM_ARG_DEVICE && a.kind != MM_ARG_CONSTANT)
          return fail(MM_E_LOAD, "%s: %s: kernel %s: buffer(%u) has kind %u (expected device or constant)", op, where,
                      k.name, a.index, a.kind);
        core::ArgInfo ai;
        ai.index = a.index;
        ai.kind = a.kind;
        ai.access = a.access;
        ai.dtype = a.dtype;
        ai.elem_bytes = a.elem_bytes;
        ai.line = a.line;
        ai.type_name = a.type_name ? a.type_name : "";
        ai.arg_name = a.arg_name ? a.arg_name : "";
        info.args.push_back(std::move(ai));
      }
      infos_.push_back(std::move(info));
      kernels_.push_back(&k);
    }
    return MM_OK;
  }
  void keep_handle(void* dl) { dl_ = dl; }

 private:
  void* dl_ = nullptr;  // dlopen handle of a loaded module: closed with the library
  std::vector<core::KernelInfo> infos_;
  std::vector<const mm_rt_kernel*> kernels_;
  std::unordered_set<std::string> names_;
};

uint64_t max_buffer_length() {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || size <= 0) return kMaxBuffer;
  uint64_t half_ram = static_cast<uint64_t>(pages) * static_cast<uint64_t>(size) / 2;  // leave room for the host
  return half_ram < kMaxBuffer ? half_ram : kMaxBuffer;
}

class CpuBackend : public core::Backend {
 public:
  explicit CpuBackend(uint32_t threads, InstrumentMode mode = InstrumentMode::Off)
      : sched_(threads), threads_(threads), max_buffer_(max_buffer_length()) {
    if (mode != InstrumentMode::Off) instr_ = std::make_unique<Instrument>(mode);
  }

  void info(mm_device_info* out) const override {
    std::strncpy(out->backend, "cpu", sizeof out->backend - 1);
    std::snprintf(out->name, sizeof out->name, "CPU shader runtime (%s, %u thread%s)",
#if defined(__x86_64__)
                  "x86_64",
#elif defined(__aarch64__)
                  "arm64",
#else
                  "unknown arch",
#endif
                  threads_, threads_ == 1 ? "" : "s");
    out->max_threads_per_threadgroup = 1024;
    out->max_threadgroup_memory = 32768;
    out->simd_width = MM_RT_SIMD_WIDTH;
    out->threads = threads_;
    out->max_buffer_length = max_buffer_;
  }

  int buffer_alloc(const char* op, uint64_t length, core::BackendBuffer* out) override {
    if (bounds()) {  // guard zones around every buffer let the checker name a stray access's buffer
      void* g = length <= SIZE_MAX ? guarded_alloc(length, kDeviceGuard) : nullptr;
      if (!g)
        return fail(MM_E_OUT_OF_MEMORY, "%s: could not map %llu bytes of guarded host memory", op,
                    static_cast<unsigned long long>(length));
      instr_->add_allocation(g, length);
      *out = core::BackendBuffer{g, nullptr, length};
      return MM_OK;
    }
    void* p = nullptr;
    // Exactly `length` bytes, so ASan's redzone starts right at the end of the buffer.
    if (length > SIZE_MAX || posix_memalign(&p, kPage, static_cast<size_t>(length)) != 0 || !p)
      return fail(MM_E_OUT_OF_MEMORY, "%s: could not allocate %llu bytes of host memory", op,
                  static_cast<unsigned long long>(length));
    std::memset(p, 0, static_cast<size_t>(length));
    *out = core::BackendBuffer{p, nullptr, length};
    return MM_OK;
  }

  void buffer_free(core::BackendBuffer* buf) override {
    if (bounds() && buf->contents) {
      instr_->remove_allocation(buf->contents);
      guarded_free(buf->contents, buf->length, kDeviceGuard);
    } else {
      std::free(buf->contents);
    }
    buf->contents = nullptr;
  }

  int builtin_library(const char* op, std::shared_ptr<core::BackendLibrary>* out) override {
    uint32_t n = 0;
    const mm_rt_module* const* mods = mm_rt_builtin_modules(&n);
    auto lib = std::make_shared<CpuLibrary>();
    for (uint32_t i = 0; i < n; ++i) {
      const char* name = mods[i] && mods[i]->source_name ? mods[i]->source_name : "builtin module";
      if (int rc = lib->add_module(op, name, mods[i])) return rc;
    }
    static std::once_flag once;  // builtin modules are shared by all devices: init them once
    std::call_once(once, [&] {
      for (uint32_t i = 0; i < n; ++i) mods[i]->init(runtime_api());
    });
    *out = std::move(lib);
    return MM_OK;
  }

  int load_library(const char* op, const char* path, std::shared_ptr<core::BackendLibrary>* out) override {
    void* dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
      const char* why = dlerror();
      return fail(MM_E_LOAD, "%s: cannot load %s: %s", op, path, why ? why : "unknown dlopen error");
    }
    auto lib = std::make_shared<CpuLibrary>();
    lib->keep_handle(dl);  // from here on, lib's destructor closes it
    dlerror();
    void* sym = dlsym(dl, MM_RT_MODULE_SYMBOL);
    if (!sym) {
      const char* why = dlerror();
      return fail(MM_E_LOAD, "%s: %s does not export %s (not a metal-marlin shader module): %s", op, path,
                  MM_RT_MODULE_SYMBOL, why ? why : "symbol is NULL");
    }
    const mm_rt_module* m = reinterpret_cast<mm_rt_module_fn>(sym)();
    if (int rc = lib->add_module(op, path, m)) return rc;
    if (!m->init) return fail(MM_E_LOAD, "%s: %s: module has no init function", op, path);
    m->init(runtime_api());
    *out = std::move(lib);
    return MM_OK;
  }

  int compile_library(const char* op, const char*, std::shared_ptr<core::BackendLibrary>*) override {
    return fail(MM_E_UNSUPPORTED,
                "%s: the CPU backend compiles in TypeScript (lib/cpu) and loads with mm_library_load", op);
  }

  int dispatch(const char* op, const core::Job& job) override {
    const auto& lib = static_cast<const CpuLibrary&>(*job.library);
    DispatchJob dj;
    dj.kernel = lib.rt_kernel(job.kernel);
    for (int d = 0; d < 3; ++d) {
      dj.grid[d] = job.grid[d];
      dj.threadgroup[d] = job.threadgroup[d];
    }
    for (uint32_t i = 0; i < MM_MAX_BUFFERS; ++i) dj.buffers[i] = job.bindings[i].data;
    for (uint32_t i = 0; i < MM_MAX_THREADGROUP_ARGS; ++i) dj.threadgroup_arg_bytes[i] = job.threadgroup_memory[i];
    for (uint32_t i = 0; i < MM_MAX_FUNCTION_CONSTANTS; ++i) dj.function_constants[i] = job.function_constants[i];
    dj.function_constants_defined = job.function_constants_defined;
    dj.max_threadgroup_memory = 32768;
    if (instr_) {
      for (uint32_t i = 0; i < MM_MAX_BUFFERS && i < 31; ++i) dj.buffer_lengths[i] = job.bindings[i].length;
      dj.instrument = instr_.get();
    }
    DispatchResult r = sched_.run(dj);
    if (r.code != MM_OK) return fail(r.code, "%s: %s", op, r.message.c_str());
    return MM_OK;
  }

  // Dispatches run synchronously, so there is never deferred work or a deferred error.
  int synchronize(const char*) override { return MM_OK; }

  int trace_take(const char* op, std::string* out) override {
    if (!instr_ || instr_->mode() != InstrumentMode::Trace)
      return fail(MM_E_UNSUPPORTED, "%s: this device was not opened in trace mode (backend \"cpu:trace\")", op);
    *out = instr_->take_trace();
    return MM_OK;
  }

 private:
  bool bounds() const { return instr_ && instr_->mode() == InstrumentMode::Bounds; }

  std::unique_ptr<Instrument> instr_;  // trace / race / bounds mode, else null
  Scheduler sched_;
  uint32_t threads_;
  uint64_t max_buffer_;
};

}  // namespace

}  // namespace mm::cpu

namespace mm::core {
int make_cpu_backend(uint32_t threads, std::unique_ptr<Backend>* out) {
  out->reset(new cpu::CpuBackend(threads ? threads : 1));
  return MM_OK;
}

int make_cpu_backend_instrumented(const char* op, uint32_t threads, const char* mode, std::unique_ptr<Backend>* out) {
  cpu::InstrumentMode m;
  if (std::strcmp(mode, "trace") == 0) m = cpu::InstrumentMode::Trace;
  else if (std::strcmp(mode, "race") == 0) m = cpu::InstrumentMode::Race;
  else if (std::strcmp(mode, "bounds") == 0) m = cpu::InstrumentMode::Bounds;
  else return fail(MM_E_INVALID_ARG, "%s: unknown instrument mode \"%.16s\" (expected \"cpu:trace\", \"cpu:race\" or \"cpu:bounds\")", op, mode);
#if defined(MM_INSTRUMENT) && MM_INSTRUMENT
  out->reset(new cpu::CpuBackend(threads ? threads : 1, m));
  return MM_OK;
#else
  (void)m;
  (void)threads;
  (void)out;
  return fail(MM_E_UNSUPPORTED, "%s: backend \"cpu:%s\" needs the instrumented build of the library "
              "(lib/build mode \"instrument\"; Device.open({ instrument }) loads it)", op, mode);
#endif
}

int Backend::unsupported_trace(const char* op) {
  return fail(MM_E_UNSUPPORTED, "%s: tracing needs a CPU device opened in trace mode", op);
}
}  // namespace mm::core

extern "C" MM_API int mm_cpu_fiber_pingpong(uint32_t switches) {
  return mm::core::guarded("mm_cpu_fiber_pingpong", [&] {
    mm::cpu::fiber_pingpong(switches);
    return MM_OK;
  });
}

extern "C" MM_API int mm_cpu_progress(int32_t fd, uint32_t after_ms, const char* label) {
  return mm::core::guarded("mm_cpu_progress", [&] {
    mm::cpu::set_progress(fd, after_ms, label);
    return MM_OK;
  });
}
