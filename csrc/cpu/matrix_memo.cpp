// matrix_memo.cpp — the simdgroup_matrix memo of ThreadgroupRunner (threadgroup.h): one multiply
// per simdgroup, computed by the first lane that reaches it and handed to the others.
#include <cstring>
#include <new>
#include <string>

#include "../include/metal_marlin.h"
#include "threadgroup.h"

namespace mm::cpu {

// ---- simdgroup_matrix memo ------------------------------------------------------------------
// Entry k of a simdgroup's deque is multiply number base_seq + k. The first lane to reach a seq
// creates it (lanes run in order until they block, so lane 0 may be many multiplies ahead). Every
// other lane must bring byte-identical inputs: a simdgroup_matrix is one value shared by the
// simdgroup, and lane-dependent inputs (or multiplies in lane-dependent branches) are undefined on a
// GPU, so they fail the dispatch in every mode instead of computing a private result.

void* ThreadgroupRunner::matrix_memo(mm_rt_lane* lane, const void* in, uint32_t in_bytes, uint32_t out_bytes,
                                     int* fresh, const mm_rt_site* site) {
  const uint32_t i = lane->thread_index_in_threadgroup;
  const uint32_t sg = i / MM_RT_SIMD_WIDTH;
  SimdMemo& m = memo_[sg];
  const uint32_t seq = lane->matrix_seq;
  const mm_rt_site here = site ? *site : mm_rt_site{nullptr, 0, 0};
  try {
    if (m.entries.empty() && seq >= m.base_seq) m.base_seq = seq;
    if (seq >= m.base_seq && seq - m.base_seq == m.entries.size()) {
      MemoEntry* e = nullptr;
      if (memo_pool_.empty()) {
        e = new MemoEntry;
        memo_pool_.reserve(++memo_total_);  // so sweep_memo's push_back never allocates
      } else {
        e = memo_pool_.back();
        memo_pool_.pop_back();
      }
      const auto* b = static_cast<const unsigned char*>(in);
      e->in.assign(b, b + in_bytes);
      e->out.resize(out_bytes ? out_bytes : 1);
      e->consumed = 0;
      e->lane = i % MM_RT_SIMD_WIDTH;
      e->site = here;
      m.entries.push_back(e);
      *fresh = 1;
      return e->out.data();
    }
    MemoEntry* e = nullptr;  // this seq's entry, made by an earlier lane
    if (seq >= m.base_seq && seq - m.base_seq < m.entries.size()) e = m.entries[seq - m.base_seq];
    if (e && e->in.size() == in_bytes && e->out.size() == (out_bytes ? out_bytes : 1) &&
        std::memcmp(e->in.data(), in, in_bytes) == 0) {
      *fresh = 0;
      return e->out.data();
    }
    {  // the message temporaries must be gone before abort_lane leaves the fiber
      std::string msg = kname() + ": simdgroup matrix multiply at " + site_str(here) + ": ";
      if (e) {
        msg += "lanes " + std::to_string(e->lane) + " and " + std::to_string(i % MM_RT_SIMD_WIDTH) +
               " of simdgroup " + std::to_string(sg) + " hold different matrices ";
        msg += same_site(e->site, here)
                   ? std::string("(simdgroup_load must get the same pointer in every lane)")
                   : "(lane " + std::to_string(e->lane) + " multiplied at " + site_str(e->site) +
                         ": keep simdgroup_matrix operations out of lane-dependent branches)";
      } else {
        msg += "lane " + std::to_string(i % MM_RT_SIMD_WIDTH) + " of simdgroup " + std::to_string(sg) +
               " runs a different number of simdgroup_matrix multiplies than the other lanes (keep "
               "simdgroup_matrix operations out of lane-dependent branches)";
      }
      set_error(MM_E_NONUNIFORM, std::move(msg));
    }
    abort_lane(lane);
  } catch (const std::bad_alloc&) {
    // Leave the handler before leaving the fiber: the C++ runtime's caught-exception stack is per thread.
  }
  set_error(MM_E_OUT_OF_MEMORY, kname() + ": out of memory in the simdgroup_matrix memo");
  abort_lane(lane);
}

void ThreadgroupRunner::matrix_memo_done(mm_rt_lane* lane, void* block) {
  const uint32_t i = lane->thread_index_in_threadgroup;
  const uint32_t sg = i / MM_RT_SIMD_WIDTH;
  SimdMemo& m = memo_[sg];
  // The shim does not touch matrix_seq between memo and done: try that entry before searching.
  const uint32_t seq = lane->matrix_seq;
  size_t k = seq >= m.base_seq && seq - m.base_seq < m.entries.size() ? seq - m.base_seq : 0;
  if (k >= m.entries.size() || m.entries[k]->out.data() != block)
    for (k = 0; k < m.entries.size() && m.entries[k]->out.data() != block; ++k) {
    }
  if (k < m.entries.size()) {
    m.entries[k]->consumed |= 1u << (i % MM_RT_SIMD_WIDTH);
    if (k == 0) sweep_memo(sg);
    return;
  }
  set_error(MM_E_INTERNAL, kname() + ": matrix_memo_done with a block the memo never handed out");
  abort_lane(lane);
}

// Frees leading entries every live lane of simdgroup `sg` is done with.
void ThreadgroupRunner::sweep_memo(uint32_t sg) {
  SimdMemo& m = memo_[sg];
  while (!m.entries.empty() && (m.entries.front()->consumed & m.live) == m.live) {
    memo_pool_.push_back(m.entries.front());  // capacity reserved when entries are created: no throw
    m.entries.pop_front();
    m.base_seq++;
  }
}

void ThreadgroupRunner::lane_finished(uint32_t i) {
  SimdMemo& m = memo_[i / MM_RT_SIMD_WIDTH];
  m.live &= ~(1u << (i % MM_RT_SIMD_WIDTH));
  if (!m.entries.empty()) sweep_memo(i / MM_RT_SIMD_WIDTH);
}

void ThreadgroupRunner::release_memo() {
  for (SimdMemo& m : memo_) {
    for (MemoEntry* e : m.entries) memo_pool_.push_back(e);
    m.entries.clear();
    m.base_seq = 0;
  }
}

}  // namespace mm::cpu
