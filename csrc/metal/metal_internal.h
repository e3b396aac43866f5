// metal_internal.h — the types the Metal backend's .mm files share. Objective-C++ with ARC only: one
// small C++ type per Metal concept (library + pipelines, command stream), no Objective-C classes of
// our own (the Linux simulated runtime loads none), protocol-typed objects and blocks.
#pragma once

#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/backend.h"
#include "../cpu/rt_abi.h"

namespace mm::metal {

// Dispatches encoded into one command buffer before it is committed (without waiting). Large enough
// that per-commit cost is amortized over a decode step's ~8-16 GEMMs, small enough that the GPU starts
// on the first ones while the host still encodes the rest. Sync points commit whatever is open.
constexpr uint32_t kDispatchesPerCommandBuffer = 16;
// Apple: setBytes:length:atIndex: is for data up to 4 KB; larger constant data goes in a buffer.
constexpr NSUInteger kMaxSetBytes = 4096;

// Reflection (arguments, threadgroup arguments, limits) of every kernel of a CPU shader module: the
// project's MSL front end produced it from the same source the Metal compiler gets, so core validates
// Metal dispatches exactly as CPU ones.
std::vector<core::KernelInfo> reflect_module(const mm_rt_module* m);

// The cache directory: "" when MM_METAL_CACHE=0 or no home directory; else MM_METAL_CACHE_DIR, or
// ~/Library/Caches/metal-marlin (macOS), $XDG_CACHE_HOME/metal-marlin, ~/.cache/metal-marlin.
std::string cache_dir();

// The on-disk cache of one library's compiled pipelines (metal_cache.mm): an MTLBinaryArchive loaded
// from, and written back to, <cache_dir>/<kind>-<key hash>.metalarchive. Not thread-safe: the owning
// MetalLibrary serializes calls.
class PipelineCache {
 public:
  // Loads the archive for `sources` compiled on `device` (or starts an empty one). Never fails.
  void open(id<MTLDevice> device, const char* kind, const std::string& sources);
  // The pipeline of `fn`: from the archive when it has it, else compiled (and added to the archive).
  id<MTLComputePipelineState> pipeline(id<MTLDevice> device, id<MTLFunction> fn, NSError** error);
  // Writes the archive back (temp file + rename) when pipelines were added since the last flush.
  void flush();
  uint32_t state() const { return state_; }  // MM_LIBRARY_CACHE_*

 private:
  id<MTLBinaryArchive> archive_;
  std::string path_;
  bool dirty_ = false;
  uint32_t state_ = MM_LIBRARY_CACHE_NONE;
};

// Compiled MTLLibraries (one per source), the reflection of their kernels, and their pipelines.
class MetalLibrary : public core::BackendLibrary {
 public:
  // Appends the kernels of `library`, described by `infos`.
  void add(id<MTLLibrary> library, std::vector<core::KernelInfo> infos, const std::string& source);
  uint32_t kernel_count() const override { return static_cast<uint32_t>(infos_.size()); }
  const core::KernelInfo& kernel(uint32_t i) const override { return infos_[i]; }
  // The pipeline of the job's kernel specialized with its function constants (cached).
  int pipeline(const char* op, id<MTLDevice> device, const core::Job& job, id<MTLComputePipelineState>* out) const;
  // Opens the on-disk pipeline cache for the sources added so far (call once, after the last add).
  void open_cache(id<MTLDevice> device, const char* kind);
  // Writes pipelines compiled since the last flush to the on-disk cache (sync points, destruction).
  void flush_cache() const;
  uint32_t cache_state() const;
  ~MetalLibrary() override;

 private:
  std::vector<id<MTLLibrary>> libraries_;
  std::vector<core::KernelInfo> infos_;
  std::vector<size_t> library_of_;  // kernel index -> libraries_ index
  std::string sources_;             // every source added, for the cache key
  mutable std::mutex mu_;
  mutable PipelineCache cache_;     // guarded by mu_
  mutable std::unordered_map<std::string, id<MTLComputePipelineState>> pipelines_;
};

// Compiles `source` with the documented options (language version, no fast math) and adds it to
// `out` with `module`'s reflection. MM_E_COMPILE carries the compiler log (file:line: error: lines).
int compile_into(const char* op, id<MTLDevice> device, const std::string& source, const mm_rt_module* module,
                 MetalLibrary* out);

// The CPU module registered (mm_metal_register_module) as the reflection of `source`, or null.
const mm_rt_module* registered_module(const std::string& source);
// The built-in shader sources, as embedded at build time, paired with their linked modules.
struct BuiltinSource {
  const char* file;
  const char* source;
};
const BuiltinSource* builtin_sources(uint32_t* count);

// The command stream of one device: encodes dispatches into a command buffer committed every
// kDispatchesPerCommandBuffer dispatches and at sync points; keeps committed buffers until they
// complete and the first failure until the next synchronize.
class CommandStream {
 public:
  explicit CommandStream(id<MTLCommandQueue> queue) : queue_(queue) {}
  ~CommandStream();
  // Encodes one dispatch of `pso` with the job's bindings.
  int encode(const char* op, id<MTLDevice> device, id<MTLComputePipelineState> pso, const core::Job& job);
  // Commits the open command buffer, waits for every committed one, returns (and clears) the first error.
  int synchronize(const char* op);
  // Commits the open command buffer (if any) without waiting; returns how many committed command
  // buffers have not completed (0 = all work done; a failure is kept for synchronize).
  uint64_t pending();

 private:
  void commit_open();
  void reap(bool wait);

  id<MTLCommandQueue> queue_;
  id<MTLCommandBuffer> open_;  // encoding, not committed yet
  uint32_t open_dispatches_ = 0;
  std::string open_kernels_;
  uint64_t batches_ = 0;  // command buffers committed (numbers their labels)
  std::vector<id<MTLCommandBuffer>> in_flight_;  // committed, in commit order
  std::string first_error_;
  int first_code_ = 0;
};

}  // namespace mm::metal
