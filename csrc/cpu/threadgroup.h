// threadgroup.h — per-worker executor of one threadgroup: lane fibers, the rendezvous resolver
// (simd collectives, simdgroup and threadgroup barriers), threadgroup memory and the
// simdgroup_matrix memo (matrix_memo.cpp). One ThreadgroupRunner per worker thread; lane->runtime
// points at it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "fiber.h"
#include "rt_abi.h"
#include "scheduler.h"

namespace mm::cpu {

constexpr uint32_t kMaxLanes = 1024;
constexpr uint32_t kMaxSimdgroups = kMaxLanes / MM_RT_SIMD_WIDTH;
constexpr uint32_t kMaxTgSlots = 64;  // `threadgroup` declarations per kernel body

// Where a lane stands. Wait* states are rendezvous the resolver releases.
enum class LaneState : uint8_t { Runnable, Finished, Failed, WaitTgBarrier, WaitSimdBarrier, WaitCollective };

struct LaneCtl {
  LaneState state = LaneState::Runnable;
  bool started = false;  // fiber ran at least once (so an abandoned stack needs unpoisoning)
  mm_rt_site site{};     // rendezvous site while waiting
  uint32_t mem_flags = 0;  // MM_RT_MEM_* of the barrier (race mode orders only those spaces)
  mm_rt_simd_op op = nullptr;
  FiberContext ctx;
  FiberStack stack;
  void* fake = nullptr;  // ASan fake stack while suspended
};

// One simdgroup_matrix multiply shared by the lanes of a simdgroup (see rt_abi.h matrix_memo).
struct MemoEntry {
  std::vector<unsigned char> in;
  std::vector<unsigned char> out;
  uint32_t consumed = 0;  // bit per lane of the simdgroup that is done with this entry
  uint32_t lane = 0;      // lane (in the simdgroup) that created it: named when another lane disagrees
  mm_rt_site site{};      // where that lane multiplied
};

struct SimdMemo {
  std::deque<MemoEntry*> entries;  // consecutive seqs starting at base_seq
  uint32_t base_seq = 0;
  uint32_t live = 0;  // bit per lane of the simdgroup that has not finished
};

// Shared state of the dispatch the runner works for (owned by the Scheduler).
struct DispatchShared {
  const DispatchJob* job = nullptr;
  // Lowest threadgroup id that failed so far (UINT64_MAX if none); higher ids may stop early.
  uint64_t (*first_error)(void* owner) = nullptr;
  void (*report)(void* owner, uint64_t tg, int code, const std::string& msg) = nullptr;
  void* owner = nullptr;
};

// True while `lane`'s fiber runs on this thread. Instrumented code outside any dispatch (module
// getters, a module's stale current-lane pointer after its device closed) must not be trusted.
bool lane_is_running(const mm_rt_lane* lane);

// Call sites in messages ("file:line") and their comparison, shared by the rendezvous resolver
// (threadgroup.cpp) and the simdgroup_matrix memo (matrix_memo.cpp).
std::string site_str(const mm_rt_site& s);
bool same_site(const mm_rt_site& a, const mm_rt_site& b);

class ThreadgroupRunner {
 public:
  ThreadgroupRunner();
  ~ThreadgroupRunner();
  ThreadgroupRunner(const ThreadgroupRunner&) = delete;
  ThreadgroupRunner& operator=(const ThreadgroupRunner&) = delete;

  // Runs threadgroup `id` of the dispatch. Returns the threadgroup bytes it used; errors are
  // reported through shared.report.
  uint32_t run(const DispatchShared& shared, uint64_t id);

  // mm_rt_api entry points (lane->runtime == this).
  void block(mm_rt_lane* lane, LaneState why, const mm_rt_site* site, mm_rt_simd_op op, uint32_t mem_flags);
  void* threadgroup_alloc(mm_rt_lane* lane, uint32_t slot, uint32_t bytes, uint32_t align);
  void* matrix_memo(mm_rt_lane* lane, const void* in, uint32_t in_bytes, uint32_t out_bytes, int* fresh,
                    const mm_rt_site* site);
  void matrix_memo_done(mm_rt_lane* lane, void* block);
  // Instrumented modules' accesses (instr_ != null): a finding aborts the lane like fail().
  void instr_access(mm_rt_lane* lane, const void* addr, uint32_t bytes, uint32_t flags, const void* pc);
  void instr_block(mm_rt_lane* lane, const void* base, uint32_t rows, uint32_t row_bytes, uint64_t stride,
                   uint32_t flags, const void* pc);
  // Failing lane: record the error first (set_error; first one in lane order wins), then
  // abort_lane leaves the fiber for good and the threadgroup is abandoned. Two steps so message
  // temporaries are destroyed before the fiber stops (it never unwinds).
  void set_error(int code, std::string msg);
  [[noreturn]] void abort_lane(mm_rt_lane* lane);
  std::string kname() const;  // "kernel <name>"

 private:
  static void lane_main(void* arg);
  void resume(uint32_t i);
  uint32_t next_runnable(uint32_t i) const;
  void hand_over(uint32_t i, void** fake);
  [[noreturn]] void exit_lane(uint32_t i);
  bool resolve_simd();
  void resolve_tg_barrier();
  void release_tg_barrier() {
    for (uint32_t i = 0; i < nlanes_; ++i) ctl_[i].state = LaneState::Runnable;
    tg_waiting_ = 0;
  }
  void lane_finished(uint32_t i);
  void sweep_memo(uint32_t sg);
  void release_memo();
  bool setup(uint64_t id);
  void teardown();
  std::string where() const;

  const DispatchShared* shared_ = nullptr;
  Instrument* instr_ = nullptr;  // the job's, or null
  const mm_rt_kernel* kernel_ = nullptr;
  uint64_t tg_id_ = 0;
  uint32_t tgpos_[3] = {};
  uint32_t nlanes_ = 0;
  uint32_t live_ = 0;
  uint32_t current_ = 0;
  uint32_t simd_waiting_ = 0;  // lanes at a simd rendezvous (resolve_simd has work only when > 0)
  // Lanes at a threadgroup barrier since the last release, the first one's site, whether any other
  // lane's site differs, and the AND of their memory flags: the resolver's O(1) fast path.
  uint32_t tg_waiting_ = 0;
  mm_rt_site tg_site_{};
  bool tg_mixed_ = false;
  uint32_t tg_flags_ = 0;
  bool from_sched_ = false;    // the lane being entered was switched to by the scheduler
  int error_code_ = 0;
  std::string error_msg_;

  mm_rt_lane* lanes_ = nullptr;  // kMaxLanes, 64-byte aligned
  LaneCtl ctl_[kMaxLanes];
  FiberContext sched_ctx_;
  void* sched_fake_ = nullptr;
  const void* sched_bottom_ = nullptr;  // worker thread stack, learned by the first lane (ASan)
  size_t sched_size_ = 0;

  void* tg_malloc(uint64_t bytes);
  void tg_free(void* p, uint64_t bytes);
  bool guarded_ = false;  // this threadgroup's memory lies between guard zones (bounds mode)
  void* tg_args_[8] = {};
  void* slots_[kMaxTgSlots] = {};
  uint32_t slot_bytes_[kMaxTgSlots] = {};
  uint64_t tg_bytes_ = 0;

  SimdMemo memo_[kMaxSimdgroups];
  std::vector<MemoEntry*> memo_pool_;  // reused entries (vectors keep their capacity)
  size_t memo_total_ = 0;              // entries ever created
};

}  // namespace mm::cpu
