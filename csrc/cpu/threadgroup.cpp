// threadgroup.cpp — runs one threadgroup on the calling worker thread: every lane is a fiber that
// runs until it blocks at a rendezvous; when no lane can run, the resolver releases simd
// rendezvous (per simdgroup, keyed by call site) and then threadgroup barriers, or fails the
// dispatch with a message naming the .metal lines involved. The simdgroup_matrix memo is in
// matrix_memo.cpp.
#include "threadgroup.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "../include/metal_marlin.h"
#include "guarded.h"
#include "instrument.h"

namespace mm::cpu {

std::string site_str(const mm_rt_site& s) {
  return std::string(s.file ? s.file : "<unknown>") + ":" + std::to_string(s.line);
}

// Compares file names by content too: identical __builtin_FILE() literals need not be merged.
bool same_site(const mm_rt_site& a, const mm_rt_site& b) {
  if (a.line != b.line || a.column != b.column) return false;
  return a.file == b.file || (a.file && b.file && std::strcmp(a.file, b.file) == 0);
}

namespace {

// "lanes 0-31, 40" / "lane 7": compact list of ascending lane ids.
std::string lane_list(const std::vector<uint32_t>& ids) {
  std::string s = ids.size() == 1 ? "lane " : "lanes ";
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (i) s += ", ";
    s += std::to_string(ids[i]);
    if (j > i) s += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return s;
}

// The lane whose fiber this thread runs now. initial-exec: one of the library's two 8-byte
// thread-locals (with mm_shim::g_lane), read on every lane switch.
thread_local const mm_rt_lane* t_running __attribute__((tls_model("initial-exec"))) = nullptr;

bool is_simd_wait(LaneState s) {
  return s == LaneState::WaitCollective || s == LaneState::WaitSimdBarrier;
}

}  // namespace

bool lane_is_running(const mm_rt_lane* lane) { return lane != nullptr && lane == t_running; }

ThreadgroupRunner::ThreadgroupRunner() {
  lanes_ = static_cast<mm_rt_lane*>(std::aligned_alloc(64, sizeof(mm_rt_lane) * kMaxLanes));
  if (!lanes_) throw std::bad_alloc();
  std::memset(static_cast<void*>(lanes_), 0, sizeof(mm_rt_lane) * kMaxLanes);
}

ThreadgroupRunner::~ThreadgroupRunner() {
  for (auto& c : ctl_) {
    if (c.started && c.state != LaneState::Finished) fiber_stack_unpoison(c.stack);
    fiber_stack_free(c.stack);
    fiber_context_release(c.ctx);
  }
  for (MemoEntry* e : memo_pool_) delete e;
  std::free(lanes_);
}

std::string ThreadgroupRunner::kname() const {
  return std::string("kernel ") + (kernel_ && kernel_->name ? kernel_->name : "<unnamed>");
}

std::string ThreadgroupRunner::where() const {
  return " in threadgroup (" + std::to_string(tgpos_[0]) + "," + std::to_string(tgpos_[1]) + "," +
         std::to_string(tgpos_[2]) + ")";
}

void ThreadgroupRunner::set_error(int code, std::string msg) {
  if (error_code_ != 0) return;  // the first error in lane order wins: deterministic
  error_code_ = code;
  error_msg_ = std::move(msg);
}

bool ThreadgroupRunner::setup(uint64_t id) {
  const DispatchJob& job = *shared_->job;
  kernel_ = job.kernel;
  const uint32_t tgs[3] = {job.threadgroup[0], job.threadgroup[1], job.threadgroup[2]};
  nlanes_ = tgs[0] * tgs[1] * tgs[2];
  tgpos_[0] = static_cast<uint32_t>(id % job.grid[0]);
  tgpos_[1] = static_cast<uint32_t>(id / job.grid[0] % job.grid[1]);
  tgpos_[2] = static_cast<uint32_t>(id / (uint64_t{job.grid[0]} * job.grid[1]));
  tg_bytes_ = 0;
  guarded_ = job.instrument != nullptr && job.instrument->mode() == InstrumentMode::Bounds;
  const uint32_t nargs = kernel_->n_threadgroup_args < 8 ? kernel_->n_threadgroup_args : 8;
  for (uint32_t i = 0; i < nargs; ++i) tg_bytes_ += job.threadgroup_arg_bytes[i];
  if (tg_bytes_ > job.max_threadgroup_memory) {
    set_error(MM_E_LIMIT, kname() + ": [[threadgroup(i)]] arguments need " + std::to_string(tg_bytes_) +
                              " bytes, over the threadgroup memory limit of " +
                              std::to_string(job.max_threadgroup_memory) + " bytes");
    return false;
  }
  for (uint32_t i = 0; i < nargs; ++i) {
    // Exact-size heap block so ASan redzones sit at its edges; 0xFF = NaN for half and float.
    tg_args_[i] = tg_malloc(job.threadgroup_arg_bytes[i]);
    if (!tg_args_[i]) {
      set_error(MM_E_OUT_OF_MEMORY, kname() + ": out of memory for [[threadgroup(" + std::to_string(i) + ")]]");
      return false;
    }
    std::memset(tg_args_[i], 0xFF, job.threadgroup_arg_bytes[i]);
  }
  const uint32_t nsg = (nlanes_ + MM_RT_SIMD_WIDTH - 1) / MM_RT_SIMD_WIDTH;
  // Comparing 32 lanes' simdgroup_matrix inputs was 38 % of a prefill's instructions: checked modes only.
  const bool check_uniform = MM_FIBER_ASAN || job.instrument != nullptr;
  for (uint32_t i = 0; i < nlanes_; ++i) {
    LaneCtl& c = ctl_[i];
    if (!c.stack.base && !fiber_stack_alloc(c.stack, kFiberStackBytes)) {
      set_error(MM_E_OUT_OF_MEMORY, kname() + ": cannot map a fiber stack for lane " + std::to_string(i));
      return false;
    }
    mm_rt_lane& l = lanes_[i];
    const uint32_t tp[3] = {i % tgs[0], i / tgs[0] % tgs[1], i / (tgs[0] * tgs[1])};
    for (int d = 0; d < 3; ++d) {
      l.thread_position_in_threadgroup[d] = tp[d];
      l.threadgroup_position_in_grid[d] = tgpos_[d];
      l.thread_position_in_grid[d] = tgpos_[d] * tgs[d] + tp[d];
      l.threads_per_threadgroup[d] = tgs[d];
      l.threadgroups_per_grid[d] = job.grid[d];
      l.threads_per_grid[d] = job.grid[d] * tgs[d];
    }
    l.thread_index_in_threadgroup = i;
    l.simdgroup_index_in_threadgroup = i / MM_RT_SIMD_WIDTH;
    l.thread_index_in_simdgroup = i % MM_RT_SIMD_WIDTH;
    l.simdgroups_per_threadgroup = nsg;
    l.threads_per_simdgroup = MM_RT_SIMD_WIDTH;
    l.matrix_seq = 0;
    l.buffers = job.buffers;
    l.threadgroup_args = tg_args_;
    l.function_constants = job.function_constants;
    l.function_constants_defined = job.function_constants_defined;
    l.flags = check_uniform ? MM_RT_LANE_CHECK_UNIFORM : 0u;
    l.runtime = this;
    c.state = LaneState::Runnable;
    c.started = false;
    c.fake = nullptr;
    fiber_prepare(c.ctx, c.stack, &ThreadgroupRunner::lane_main, this);
  }
  live_ = nlanes_;
  simd_waiting_ = 0;
  tg_waiting_ = 0;
  for (uint32_t sg = 0; sg < nsg; ++sg) {
    const uint32_t n = nlanes_ - sg * MM_RT_SIMD_WIDTH;
    memo_[sg].live = n >= 32 ? ~0u : (1u << n) - 1;
  }
  return true;
}

void ThreadgroupRunner::teardown() {
  for (uint32_t i = 0; i < nlanes_; ++i) {
    LaneCtl& c = ctl_[i];
    // Abandoned mid-run: its frames' redzones would trip ASan when the stack is reused.
    if (c.started && c.state != LaneState::Finished) fiber_stack_unpoison(c.stack);
    c.started = false;
  }
  for (uint32_t i = 0; i < 8; ++i) {
    tg_free(tg_args_[i], shared_->job->threadgroup_arg_bytes[i]);
    tg_args_[i] = nullptr;
  }
  for (uint32_t s = 0; s < kMaxTgSlots; ++s) {
    tg_free(slots_[s], slot_bytes_[s]);
    slots_[s] = nullptr;
    slot_bytes_[s] = 0;
  }
  release_memo();
}

uint32_t ThreadgroupRunner::run(const DispatchShared& shared, uint64_t id) {
  shared_ = &shared;
  tg_id_ = id;
  error_code_ = 0;
  error_msg_.clear();
  nlanes_ = 0;
  instr_ = shared.job->instrument;
  if (setup(id)) {
    if (instr_) {
      instr_->begin_threadgroup(id, nlanes_);
      for (uint32_t i = 0; i < 8; ++i)
        instr_->add_threadgroup_memory(tg_args_[i], shared.job->threadgroup_arg_bytes[i], true, i);
    }
    for (;;) {
      // One pass: from the first runnable lane, lanes hand over in ascending order (hand_over).
      for (uint32_t i = 0; i < nlanes_ && error_code_ == 0; ++i) {
        if (ctl_[i].state == LaneState::Runnable) {
          resume(i);
          break;
        }
      }
      if (error_code_ != 0 || live_ == 0) break;
      // A lower threadgroup failed: this one's result is never reported, stop early.
      if (shared.first_error(shared.owner) < id) break;
      if (simd_waiting_ != 0 && resolve_simd()) continue;
      resolve_tg_barrier();
      if (error_code_ != 0) break;
    }
  }
  if (instr_ && error_code_ == 0)
    if (int rc = instr_->end_threadgroup()) set_error(rc, kname() + ": " + instr_->take_message());
  if (error_code_ != 0) shared.report(shared.owner, id, error_code_, error_msg_ + where());
  const uint64_t bytes = tg_bytes_;
  teardown();
  return bytes > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(bytes);
}

void ThreadgroupRunner::lane_main(void* arg) {
  auto* self = static_cast<ThreadgroupRunner*>(arg);
  const void* from_bottom = nullptr;
  size_t from_size = 0;
  fiber_entered(&from_bottom, &from_size);
  if (self->from_sched_) {  // a lane started by another lane learns nothing about the worker's stack
    self->sched_bottom_ = from_bottom;
    self->sched_size_ = from_size;
  }
  const uint32_t i = self->current_;
  bool threw = false;
  try {
    self->kernel_->entry(&self->lanes_[i]);
  } catch (...) {
    threw = true;  // an exception must not unwind into the fiber start (no frame to catch it)
  }
  if (threw) {
    self->set_error(MM_E_INTERNAL, self->kname() + ": lane " + std::to_string(i) + " threw a C++ exception");
    self->abort_lane(&self->lanes_[i]);
  }
  self->ctl_[i].state = LaneState::Finished;
  self->live_--;
  self->lane_finished(i);
  self->exit_lane(i);
}

// The scheduler starts the first runnable lane of a pass; each lane that blocks or ends hands over
// straight to the next runnable one (one switch per lane instead of two through the scheduler), and
// the last one returns to the scheduler. Same lane order as a scheduler-driven pass.
void ThreadgroupRunner::resume(uint32_t i) {
  LaneCtl& c = ctl_[i];
  current_ = i;
  c.started = true;
  from_sched_ = true;
  t_running = &lanes_[i];
  fiber_switch(sched_ctx_, &sched_fake_, c.ctx, c.stack.base, c.stack.size);
  t_running = nullptr;
}

uint32_t ThreadgroupRunner::next_runnable(uint32_t i) const {
  if (error_code_ != 0) return nlanes_;  // an error ends the pass: the scheduler reports it
  uint32_t j = i + 1;
  while (j < nlanes_ && ctl_[j].state != LaneState::Runnable) ++j;
  return j;
}

// Leaves lane i's fiber for the next runnable lane, or the scheduler. `fake` as in fiber_switch.
void ThreadgroupRunner::hand_over(uint32_t i, void** fake) {
  const uint32_t j = next_runnable(i);
  if (j >= nlanes_) {
    fiber_switch(ctl_[i].ctx, fake, sched_ctx_, sched_bottom_, sched_size_);
    return;
  }
  LaneCtl& n = ctl_[j];
  if (j + 1 < nlanes_) fiber_prefetch(ctl_[j + 1].ctx);  // the lane that most likely runs after j
  current_ = j;
  n.started = true;
  from_sched_ = false;
  t_running = &lanes_[j];
  fiber_switch(ctl_[i].ctx, fake, n.ctx, n.stack.base, n.stack.size);
}

void ThreadgroupRunner::exit_lane(uint32_t i) {
  // nullptr fake-stack slot: this fiber is never resumed, ASan may drop its fake stack.
  hand_over(i, nullptr);
  std::abort();  // unreachable: finished and failed lanes are never resumed
}

void ThreadgroupRunner::block(mm_rt_lane* lane, LaneState why, const mm_rt_site* site, mm_rt_simd_op op,
                              uint32_t mem_flags) {
  const uint32_t i = lane->thread_index_in_threadgroup;
  LaneCtl& c = ctl_[i];
  c.state = why;
  c.site = site ? *site : mm_rt_site{nullptr, 0, 0};
  c.op = op;
  c.mem_flags = mem_flags;
  if (why != LaneState::WaitTgBarrier) {
    ++simd_waiting_;
  } else if (tg_waiting_++ == 0) {  // the resolver's fast path needs no pass over the lanes
    tg_site_ = c.site;
    tg_flags_ = mem_flags;
    tg_mixed_ = false;
  } else {
    // Raw compare (no strcmp): a copy of the file name that only looks different takes the slow path.
    tg_flags_ &= mem_flags;
    tg_mixed_ |= (c.site.file != tg_site_.file) | (c.site.line != tg_site_.line) | (c.site.column != tg_site_.column);
  }
  hand_over(i, &c.fake);
  // Resumed (by the scheduler or the lane before this one): this fiber runs lane i again.
}

void ThreadgroupRunner::abort_lane(mm_rt_lane* lane) {
  const uint32_t i = lane->thread_index_in_threadgroup;
  ctl_[i].state = LaneState::Failed;
  live_--;
  memo_[i / MM_RT_SIMD_WIDTH].live &= ~(1u << (i % MM_RT_SIMD_WIDTH));
  exit_lane(i);
}

// (a) of the resolver: within each simdgroup, lanes waiting at the same simd site meet; lanes
// elsewhere (other branch, finished, at a threadgroup barrier) are simply not participants.
bool ThreadgroupRunner::resolve_simd() {
  bool released = false;
  mm_rt_lane* group[MM_RT_SIMD_WIDTH];
  for (uint32_t base = 0; base < nlanes_; base += MM_RT_SIMD_WIDTH) {
    const uint32_t end = base + MM_RT_SIMD_WIDTH < nlanes_ ? base + MM_RT_SIMD_WIDTH : nlanes_;
    uint32_t pending = 0;
    for (uint32_t i = base; i < end; ++i)
      if (is_simd_wait(ctl_[i].state)) pending |= 1u << (i - base);
    while (pending) {
      const uint32_t first = base + static_cast<uint32_t>(__builtin_ctz(pending));
      const LaneCtl& lead = ctl_[first];
      uint32_t n = 0;
      uint32_t flags = ~0u;  // a space is ordered only if every participant's flags name it
      for (uint32_t i = first; i < end; ++i) {
        LaneCtl& c = ctl_[i];
        if (!(pending & (1u << (i - base))) || c.state != lead.state || !same_site(c.site, lead.site)) continue;
        pending &= ~(1u << (i - base));
        group[n++] = &lanes_[i];
        flags &= c.mem_flags;
      }
      if (lead.state == LaneState::WaitCollective && lead.op) lead.op(group, n);
      if (instr_) instr_->simd_release(base / MM_RT_SIMD_WIDTH, flags);
      for (uint32_t k = 0; k < n; ++k) ctl_[group[k]->thread_index_in_threadgroup].state = LaneState::Runnable;
      simd_waiting_ -= n;
      released = true;
    }
  }
  return released;
}

// (b): every live lane is at a threadgroup barrier. Same site and nobody returned: release.
void ThreadgroupRunner::resolve_tg_barrier() {
  // Fast path (every barrier of a healthy kernel): block() counted every lane in at one site; flags are
  // the spaces every lane's barrier names.
  uint32_t flags = tg_flags_;
  if (tg_waiting_ == nlanes_ && !tg_mixed_) {
    if (instr_)
      if (int rc = instr_->threadgroup_barrier(flags)) return set_error(rc, kname() + ": " + instr_->take_message());
    release_tg_barrier();
    return;
  }
  flags = ~0u;
  std::vector<mm_rt_site> sites;
  std::vector<std::vector<uint32_t>> waiting;
  std::vector<uint32_t> gone;
  for (uint32_t i = 0; i < nlanes_; ++i) {
    const LaneCtl& c = ctl_[i];
    if (c.state == LaneState::Finished || c.state == LaneState::Failed) {
      gone.push_back(i);
      continue;
    }
    if (c.state != LaneState::WaitTgBarrier) {
      set_error(MM_E_INTERNAL, kname() + ": scheduler: lane " + std::to_string(i) + " stuck outside a rendezvous");
      return;
    }
    flags &= c.mem_flags;
    size_t k = 0;
    while (k < sites.size() && !same_site(sites[k], c.site)) ++k;
    if (k == sites.size()) {
      sites.push_back(c.site);
      waiting.emplace_back();
    }
    waiting[k].push_back(i);
  }
  if (sites.size() > 1) {
    std::string msg = kname() + ": deadlock: ";
    for (size_t k = 0; k < sites.size(); ++k)
      msg += (k ? ", " : "") + lane_list(waiting[k]) + " wait at " + site_str(sites[k]);
    set_error(MM_E_DEADLOCK, msg);
    return;
  }
  if (!gone.empty()) {
    set_error(MM_E_BARRIER, kname() + ": threadgroup_barrier at " + site_str(sites[0]) + " reached by " +
                                std::to_string(waiting[0].size()) + " of " + std::to_string(nlanes_) +
                                " lanes (" + lane_list(gone) + " returned first)");
    return;
  }
  if (instr_)
    if (int rc = instr_->threadgroup_barrier(flags)) return set_error(rc, kname() + ": " + instr_->take_message());
  release_tg_barrier();
}

}  // namespace mm::cpu
