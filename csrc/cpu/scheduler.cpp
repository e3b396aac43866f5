// scheduler.cpp — the persistent worker pool behind Scheduler::run and the mm_rt_api table.
// Threadgroup ids are handed out by one atomic counter; each worker runs one threadgroup at a time
// on its own ThreadgroupRunner. The caller of run() is one of the `threads` workers: it works through
// ids beside the pool, and alone when the grid has one threadgroup (no wake-up latency for tiny dispatches).
#include "scheduler.h"

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "../include/metal_marlin.h"
#include "instrument.h"
#include "progress.h"
#include "threadgroup.h"

namespace mm::cpu {

// Under ASan the caller only waits: ASan cannot always tell the bounds of a host runtime's main
// thread stack (Bun's, with the runtime preloaded), and a fiber that ends on such a thread trips an
// ASan CHECK in __asan_handle_no_return. Pool threads are ASan's own, so they are always safe.
#if MM_FIBER_ASAN
constexpr bool kCallerWorks = false;
#else
constexpr bool kCallerWorks = true;
#endif

// Ctrl-C during a dispatch: the host runtime's SIGINT handler would only run after the FFI call
// returns (a 30 s dispatch ignored Ctrl-C for 30 s). While a dispatch runs, a handler of ours marks
// the signal; workers stop between threadgroups, and run() restores the host's handler and raises
// the signal again for it.
std::atomic<bool> g_sigint{false};
extern "C" void mm_on_sigint(int) { g_sigint.store(true, std::memory_order_relaxed); }

class SigintGuard {
 public:
  SigintGuard() {
    struct sigaction sa {};
    sa.sa_handler = mm_on_sigint;
    sigemptyset(&sa.sa_mask);
    installed_ = sigaction(SIGINT, &sa, &old_) == 0;
  }
  // Restores the previous handler; true when SIGINT arrived meanwhile (then re-raised for it).
  bool restore() {
    if (!installed_) return false;
    installed_ = false;
    sigaction(SIGINT, &old_, nullptr);
    if (!g_sigint.exchange(false)) return false;
    raise(SIGINT);
    return true;
  }
  ~SigintGuard() { restore(); }

 private:
  struct sigaction old_ {};
  bool installed_ = false;
};

struct Scheduler::Impl {
  std::vector<std::unique_ptr<ThreadgroupRunner>> runners;  // one per pool thread
  std::vector<std::thread> threads;                          // the pool: `threads` - 1 of them
  std::unique_ptr<ThreadgroupRunner> caller_runner;          // the caller's share of the work
  std::unique_ptr<ThreadgroupRunner> instr_runner;  // instrumented dispatches, on the caller's thread

  std::mutex run_mutex;  // serializes run()
  std::mutex m;
  std::condition_variable cv_work, cv_done;
  uint64_t generation = 0;
  uint32_t busy = 0;
  bool stopping = false;

  DispatchShared shared;
  uint64_t total = 0;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> first_error{UINT64_MAX};
  std::atomic<uint32_t> max_bytes{0};
  ProgressMeter* progress = nullptr;  // this dispatch's, when mm_cpu_progress enabled it
  std::mutex err_m;
  DispatchResult err;

  // Works through threadgroup ids until none are left or one below the next id has failed.
  void work(ThreadgroupRunner& r) {
    for (;;) {
      const uint64_t id = next.fetch_add(1, std::memory_order_relaxed);
      if (id >= total || id > first_error.load(std::memory_order_acquire)) return;
      if (g_sigint.load(std::memory_order_relaxed)) {
        report(this, id, MM_E_INTERRUPTED, "interrupted by SIGINT (Ctrl-C) before threadgroup " + std::to_string(id) +
                                               " of " + std::to_string(total) + "; the outputs are incomplete");
        return;
      }
      uint32_t b = 0;
      try {
        b = r.run(shared, id);
      } catch (...) {  // only allocation in the scheduler's own bookkeeping can throw here
        try {
          report(this, id, MM_E_OUT_OF_MEMORY, "dispatch: out of memory in the CPU runtime");
        } catch (...) {  // not even the message fits: keep the code
          std::lock_guard<std::mutex> lk(err_m);
          if (id < first_error.load()) {
            first_error.store(id);
            err.code = MM_E_OUT_OF_MEMORY;
            err.message.clear();
          }
        }
      }
      if (progress) progress->tick();
      uint32_t cur = max_bytes.load(std::memory_order_relaxed);
      while (b > cur && !max_bytes.compare_exchange_weak(cur, b, std::memory_order_relaxed)) {
      }
    }
  }

  void worker_loop(ThreadgroupRunner* r) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(m);
        cv_work.wait(lk, [&] { return stopping || generation != seen; });
        if (stopping) return;
        seen = generation;
      }
      work(*r);
      std::lock_guard<std::mutex> lk(m);
      if (--busy == 0) cv_done.notify_all();
    }
  }

  static uint64_t first_error_of(void* owner) {
    return static_cast<Impl*>(owner)->first_error.load(std::memory_order_acquire);
  }

  // Keeps the error of the lowest failing threadgroup: every lower id was handed out before it
  // and runs to completion, so the choice does not depend on the number of workers.
  static void report(void* owner, uint64_t tg, int code, const std::string& msg) {
    auto* self = static_cast<Impl*>(owner);
    std::lock_guard<std::mutex> lk(self->err_m);
    if (tg >= self->first_error.load(std::memory_order_relaxed)) return;
    self->first_error.store(tg, std::memory_order_release);
    self->err.code = code;
    self->err.message = msg;
  }
};

Scheduler::Scheduler(uint32_t threads) : impl_(new Impl) {
  if (threads == 0) threads = 1;
  impl_->caller_runner = std::make_unique<ThreadgroupRunner>();
  try {
    for (uint32_t t = kCallerWorks ? 1 : 0; t < threads; ++t) {
      impl_->runners.push_back(std::make_unique<ThreadgroupRunner>());
      impl_->threads.emplace_back(&Impl::worker_loop, impl_.get(), impl_->runners.back().get());
    }
  } catch (...) {
    // Fewer pool threads than asked (or none: run() then works on the caller's thread alone).
    if (impl_->runners.size() > impl_->threads.size()) impl_->runners.pop_back();
  }
  impl_->shared.first_error = &Impl::first_error_of;
  impl_->shared.report = &Impl::report;
  impl_->shared.owner = impl_.get();
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lk(impl_->m);
    impl_->stopping = true;
  }
  impl_->cv_work.notify_all();
  for (auto& t : impl_->threads) t.join();
}

uint32_t Scheduler::threads() const {
  const auto pool = static_cast<uint32_t>(impl_->threads.size());
  return kCallerWorks || pool == 0 ? pool + 1 : pool;
}

DispatchResult Scheduler::run(const DispatchJob& job) {
  std::lock_guard<std::mutex> serial(impl_->run_mutex);
  DispatchResult res;
  const mm_rt_kernel* k = job.kernel;
  if (!k || !k->entry) {
    res.code = MM_E_INVALID_ARG;
    res.message = "dispatch: no kernel entry";
    return res;
  }
  const uint64_t lanes = uint64_t{job.threadgroup[0]} * job.threadgroup[1] * job.threadgroup[2];
  if (lanes == 0 || lanes > kMaxLanes) {
    res.code = MM_E_LIMIT;
    res.message = std::string("kernel ") + (k->name ? k->name : "<unnamed>") + ": threadgroup of " +
                  std::to_string(lanes) + " threads (must be 1.." + std::to_string(kMaxLanes) + ")";
    return res;
  }
  Impl& s = *impl_;
  s.shared.job = &job;
  s.total = uint64_t{job.grid[0]} * job.grid[1] * job.grid[2];
  s.next.store(0);
  s.first_error.store(UINT64_MAX);
  s.max_bytes.store(0);
  s.err = DispatchResult{};
  if (s.total == 0) return res;
  ProgressMeter meter(k->name, s.total);  // draws (and ends its line) only on long dispatches
  s.progress = meter.armed() ? &meter : nullptr;
  SigintGuard sigint;
  try {
    if (job.instrument) {
      // Trace / race mode: one threadgroup at a time, in order, on this thread (deterministic, no locks).
      if (!s.instr_runner) s.instr_runner = std::make_unique<ThreadgroupRunner>();
      uint32_t constant_mask = 0;  // `constant` arguments (buffers or setBytes data), from the reflection
      for (uint32_t a = 0; a < k->n_args; ++a)
        if (k->args[a].kind == MM_ARG_CONSTANT && k->args[a].index < 31) constant_mask |= 1u << k->args[a].index;
      job.instrument->begin_dispatch(k->name, job.grid, job.threadgroup, job.buffers, job.buffer_lengths, 31,
                                     constant_mask);
      s.work(*s.instr_runner);
      job.instrument->end_dispatch(s.first_error.load() == UINT64_MAX);
    } else if (s.threads.empty() || (kCallerWorks && s.total == 1)) {
      s.work(*s.caller_runner);
    } else {
      {
        std::lock_guard<std::mutex> lk(s.m);
        s.busy = static_cast<uint32_t>(s.threads.size());
        ++s.generation;
      }
      s.cv_work.notify_all();
      if (kCallerWorks) s.work(*s.caller_runner);
      std::unique_lock<std::mutex> lk(s.m);
      s.cv_done.wait(lk, [&] { return s.busy == 0; });
    }
  } catch (...) {
    s.progress = nullptr;
    res.code = MM_E_OUT_OF_MEMORY;
    res.message = "dispatch: out of memory starting the CPU runtime";
    return res;
  }
  res = s.err;
  if (sigint.restore() && res.code == 0) {  // arrived after the last threadgroup started: still report it
    res.code = MM_E_INTERRUPTED;
    res.message = "interrupted by SIGINT (Ctrl-C); the dispatch had already run every threadgroup";
  }
  if (job.instrument && res.code != 0) symbolize_markers(res.message);  // race findings name .metal lines
  res.threadgroup_bytes = s.max_bytes.load();
  s.shared.job = nullptr;
  s.progress = nullptr;
  return res;
}

// ---- mm_rt_api: what compiled shader modules call ---------------------------------------------

namespace {

ThreadgroupRunner* runner(mm_rt_lane* lane) { return static_cast<ThreadgroupRunner*>(lane->runtime); }

void api_tg_barrier(mm_rt_lane* lane, const mm_rt_site* site, uint32_t flags) {
  runner(lane)->block(lane, LaneState::WaitTgBarrier, site, nullptr, flags);
}

void api_simd_barrier(mm_rt_lane* lane, const mm_rt_site* site, uint32_t flags) {
  runner(lane)->block(lane, LaneState::WaitSimdBarrier, site, nullptr, flags);
}

// A collective exchanges values between the lanes; race mode counts it as ordering both address
// spaces within the simdgroup.
void api_simd_collective(mm_rt_lane* lane, const mm_rt_site* site, mm_rt_simd_op op) {
  runner(lane)->block(lane, LaneState::WaitCollective, site, op, MM_RT_MEM_DEVICE | MM_RT_MEM_THREADGROUP);
}

void* api_tg_alloc(mm_rt_lane* lane, uint32_t slot, uint32_t bytes, uint32_t align) {
  return runner(lane)->threadgroup_alloc(lane, slot, bytes, align);
}

void* api_matrix_memo(mm_rt_lane* lane, const void* in, uint32_t in_bytes, uint32_t out_bytes, int* fresh,
                      const mm_rt_site* site) {
  return runner(lane)->matrix_memo(lane, in, in_bytes, out_bytes, fresh, site);
}

void api_matrix_memo_done(mm_rt_lane* lane, void* block) { runner(lane)->matrix_memo_done(lane, block); }

void api_fail(mm_rt_lane* lane, int code, const char* message, const mm_rt_site* site) {
  ThreadgroupRunner* r = runner(lane);
  if (code >= 0) code = MM_E_INTERNAL;  // a failure must never read as success
  try {
    std::string msg = r->kname() + ": " + (message ? message : "failure");
    if (site && site->file) msg += " at " + std::string(site->file) + ":" + std::to_string(site->line);
    r->set_error(code, std::move(msg));
  } catch (...) {
    r->set_error(code, std::string());
  }
  r->abort_lane(lane);  // after the scope: nothing on this frame needs destroying
}

// Filled by name from a value-initialized table: fields appended to mm_rt_api later start as null.
constexpr mm_rt_api make_api() {
  mm_rt_api a{};
  a.version = MM_RT_ABI_VERSION;
  a.threadgroup_barrier = api_tg_barrier;
  a.simdgroup_barrier = api_simd_barrier;
  a.simd_collective = api_simd_collective;
  a.threadgroup_alloc = api_tg_alloc;
  a.matrix_memo = api_matrix_memo;
  a.matrix_memo_done = api_matrix_memo_done;
  a.fail = api_fail;
  return a;
}

constexpr mm_rt_api kApi = make_api();

// Only accesses of the lane running now count: compared by address, never dereferenced first.
void api_instr_access(mm_rt_lane* lane, const void* addr, uint32_t bytes, uint32_t flags, const void* pc) {
  if (lane_is_running(lane)) runner(lane)->instr_access(lane, addr, bytes, flags, pc);
}

void api_instr_block(mm_rt_lane* lane, const void* base, uint32_t rows, uint32_t row_bytes, uint64_t stride,
                     uint32_t flags, const void* pc) {
  if (lane_is_running(lane)) runner(lane)->instr_block(lane, base, rows, row_bytes, stride, flags, pc);
}

}  // namespace

// The table plus the instrumentation entries appended to mm_rt_api (trace / race mode).
const mm_rt_api* runtime_api() {
  static const mm_rt_api api = [] {
    mm_rt_api a = kApi;
    a.instr_access = api_instr_access;
    a.instr_block = api_instr_block;
    return a;
  }();
  return &api;
}

}  // namespace mm::cpu
