// stub_scheduler.cpp — stand-in for csrc/cpu/scheduler.cpp in abi_test until the real one lands:
// runs lanes one after another (no fibers), so only barrier-free kernels work with it.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../csrc/cpu/scheduler.h"

namespace mm::cpu {

namespace {
struct Abort {
  int code;
  std::string message;
};
void noop_barrier(mm_rt_lane*, const mm_rt_site*, uint32_t) {}
void solo_collective(mm_rt_lane* lane, const mm_rt_site*, mm_rt_simd_op op) { op(&lane, 1); }
void* no_alloc(mm_rt_lane*, uint32_t, uint32_t, uint32_t) { return nullptr; }
void* no_memo(mm_rt_lane*, const void*, uint32_t, uint32_t, int* fresh, const mm_rt_site*) {
  *fresh = 1;
  return nullptr;
}
void no_memo_done(mm_rt_lane*, void*) {}
[[noreturn]] void stub_fail(mm_rt_lane*, int code, const char* message, const mm_rt_site* site) {
  throw Abort{code, std::string(message) + " at " + site->file + ":" + std::to_string(site->line)};
}
const mm_rt_api kApi = {MM_RT_ABI_VERSION, noop_barrier, noop_barrier, solo_collective, no_alloc, no_memo,
                        no_memo_done, stub_fail};
}  // namespace

struct Scheduler::Impl {
  uint32_t threads;
};

Scheduler::Scheduler(uint32_t threads) : impl_(new Impl{threads}) {}
Scheduler::~Scheduler() = default;
uint32_t Scheduler::threads() const { return impl_->threads; }

DispatchResult Scheduler::run(const DispatchJob& job) {
  DispatchResult r;
  mm_rt_lane lane;
  std::memset(&lane, 0, sizeof lane);
  const uint32_t* g = job.grid;
  const uint32_t* t = job.threadgroup;
  try {
    for (uint32_t gz = 0; gz < g[2]; ++gz)
      for (uint32_t gy = 0; gy < g[1]; ++gy)
        for (uint32_t gx = 0; gx < g[0]; ++gx)
          for (uint32_t tz = 0; tz < t[2]; ++tz)
            for (uint32_t ty = 0; ty < t[1]; ++ty)
              for (uint32_t tx = 0; tx < t[0]; ++tx) {
                uint32_t gp[3] = {gx, gy, gz}, tp[3] = {tx, ty, tz};
                for (int d = 0; d < 3; ++d) {
                  lane.threadgroup_position_in_grid[d] = gp[d];
                  lane.thread_position_in_threadgroup[d] = tp[d];
                  lane.thread_position_in_grid[d] = gp[d] * t[d] + tp[d];
                  lane.threads_per_threadgroup[d] = t[d];
                  lane.threadgroups_per_grid[d] = g[d];
                  lane.threads_per_grid[d] = g[d] * t[d];
                }
                lane.thread_index_in_threadgroup = (tz * t[1] + ty) * t[0] + tx;
                lane.buffers = job.buffers;
                lane.function_constants = job.function_constants;
                lane.function_constants_defined = job.function_constants_defined;
                job.kernel->entry(&lane);
              }
  } catch (const Abort& a) {
    r.code = a.code;
    r.message = std::string("kernel ") + job.kernel->name + ": " + a.message;
  }
  return r;
}

const mm_rt_api* runtime_api() { return &kApi; }
void fiber_pingpong(uint32_t) {}

}  // namespace mm::cpu
