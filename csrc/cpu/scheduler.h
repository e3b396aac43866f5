// scheduler.h — the CPU runtime's scheduler as seen by the CPU backend (backend_cpu.cpp).
// Runs one dispatch of a shader kernel: threadgroups spread over a pool of worker threads, one
// threadgroup at a time per worker, every lane a fiber. Barriers and simd collectives are rendezvous
// keyed by call site (see rt_abi.h). Results never depend on the number of workers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rt_abi.h"

namespace mm::cpu {

class Instrument;  // instrument.h: trace / race mode

struct DispatchJob {
  const mm_rt_kernel* kernel = nullptr;
  uint32_t grid[3] = {1, 1, 1};         // threadgroups per grid
  uint32_t threadgroup[3] = {1, 1, 1};  // threads per threadgroup (product <= 1024, validated before)
  void* buffers[31] = {};               // [[buffer(i)]] addresses (offset applied); null if unbound
  uint32_t threadgroup_arg_bytes[8] = {}; // [[threadgroup(i)]] lengths
  uint64_t function_constants[16] = {};
  uint32_t function_constants_defined = 0;
  uint32_t max_threadgroup_memory = 32768; // static + dynamic threadgroup bytes allowed
  // Instrumented dispatches (trace / race mode): run one threadgroup at a time on the caller's
  // thread and report every access to `instrument`; lengths bound the device buffers it watches.
  uint64_t buffer_lengths[31] = {};
  Instrument* instrument = nullptr;
};

struct DispatchResult {
  int code = 0;               // 0 or MM_E_* (MM_E_DEADLOCK, MM_E_BARRIER, MM_E_LIMIT, ...)
  std::string message;        // names the kernel and the .metal file:line
  uint32_t threadgroup_bytes = 0; // most threadgroup memory one threadgroup used (static + dynamic)
};

class Scheduler {
 public:
  // threads = worker threads (>= 1).
  explicit Scheduler(uint32_t threads);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs the whole grid and returns when every threadgroup finished or the first error stopped it.
  // Thread-safe: concurrent calls are serialized.
  DispatchResult run(const DispatchJob& job);
  uint32_t threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The function table given to every shader module's init().
const mm_rt_api* runtime_api();

// Benchmark hook: `switches` fiber switches between two fibers on the calling thread.
void fiber_pingpong(uint32_t switches);

}  // namespace mm::cpu
