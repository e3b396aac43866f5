// threadgroup_memory.cpp — the ThreadgroupRunner's threadgroup memory (one block per `threadgroup`
// declaration, within the dispatch's limit, between guard zones in bounds mode) and its hooks for the
// instrumented modes (trace / race / bounds), which check each access and fail the lane on a finding.
// Split from threadgroup.cpp, which runs the lanes and resolves their rendezvous.
#include <cstdlib>
#include <cstring>

#include "../include/metal_marlin.h"
#include "guarded.h"
#include "instrument.h"
#include "threadgroup.h"

namespace mm::cpu {

void* ThreadgroupRunner::threadgroup_alloc(mm_rt_lane* lane, uint32_t slot, uint32_t bytes, uint32_t align) {
  if (slot >= kMaxTgSlots)
    {
      set_error(MM_E_INTERNAL, kname() + ": threadgroup declaration slot " + std::to_string(slot) + " out of range");
      abort_lane(lane);
    }
  if (slots_[slot]) {
    if (slot_bytes_[slot] != bytes)
      {
      set_error(MM_E_INTERNAL, kname() + ": threadgroup slot " + std::to_string(slot) + " asked with " +
                                    std::to_string(bytes) + " and " + std::to_string(slot_bytes_[slot]) + " bytes");
      abort_lane(lane);
    }
    return slots_[slot];
  }
  const uint64_t limit = shared_->job->max_threadgroup_memory;
  if (tg_bytes_ + bytes > limit)
    {
      set_error(MM_E_LIMIT, kname() + ": threadgroup memory over the limit: threadgroup variable " +
                               std::to_string(slot) + " requests " + std::to_string(bytes) + " bytes, " +
                               std::to_string(tg_bytes_ + bytes) + " bytes in total, limit " +
                               std::to_string(limit) + " bytes");
      abort_lane(lane);
    }
  size_t a = sizeof(void*);
  while (a < align) a <<= 1;
  void* p = nullptr;
  if (guarded_) p = guarded_alloc(bytes, kThreadgroupGuard);  // page-aligned: any `align` MSL allows
  else if (posix_memalign(&p, a, bytes ? bytes : 1) != 0) p = nullptr;
  if (!p)
    {
      set_error(MM_E_OUT_OF_MEMORY, kname() + ": out of memory for threadgroup variable " + std::to_string(slot));
      abort_lane(lane);
    }
  std::memset(p, 0xFF, bytes);
  if (instr_) instr_->add_threadgroup_memory(p, bytes, false, slot);
  slots_[slot] = p;
  slot_bytes_[slot] = bytes;
  tg_bytes_ += bytes;
  return p;
}

// Bounds mode puts threadgroup memory between guard zones (guarded.h), other modes on the heap:
// exact-size blocks, so ASan's redzones sit at their edges.
void* ThreadgroupRunner::tg_malloc(uint64_t bytes) {
  if (guarded_) return guarded_alloc(bytes, kThreadgroupGuard);
  return std::malloc(bytes ? bytes : 1);
}
void ThreadgroupRunner::tg_free(void* p, uint64_t bytes) {
  if (guarded_) guarded_free(p, bytes, kThreadgroupGuard);
  else std::free(p);
}

// ---- trace / race / bounds mode -----------------------------------------------------------------------

void ThreadgroupRunner::instr_access(mm_rt_lane* lane, const void* addr, uint32_t bytes, uint32_t flags,
                                     const void* pc) {
  if (!instr_) return;
  const int rc = instr_->access(lane->thread_index_in_threadgroup, addr, bytes, flags, pc);
  if (rc == 0) return;
  set_error(rc, kname() + ": " + instr_->take_message());
  abort_lane(lane);  // the message temporaries died with the statement above
}

void ThreadgroupRunner::instr_block(mm_rt_lane* lane, const void* base, uint32_t rows, uint32_t row_bytes,
                                    uint64_t stride, uint32_t flags, const void* pc) {
  if (!instr_) return;
  const int rc = instr_->block(lane->thread_index_in_threadgroup, base, rows, row_bytes, stride, flags, pc);
  if (rc == 0) return;
  set_error(rc, kname() + ": " + instr_->take_message());
  abort_lane(lane);
}

}  // namespace mm::cpu
