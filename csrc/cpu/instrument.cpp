// instrument.cpp — the Instrument's dispatch and threadgroup boundaries, rendezvous epochs and the
// entry points of every access; trace mode lives in instrument_trace.cpp, race mode in
// instrument_race.cpp, bounds mode in instrument_bounds.cpp. See instrument.h.
#include "instrument.h"

#include <algorithm>

#include "../include/metal_marlin.h"

namespace mm::cpu {

// ---- dispatch and threadgroup boundaries -----------------------------------------------------

void Instrument::begin_dispatch(const char* kernel, const uint32_t grid[3], const uint32_t tg[3],
                                void* const* buffers, const uint64_t* lengths, uint32_t n_buffers,
                                uint32_t constant_mask) {
  kernel_ = kernel ? kernel : "<unnamed>";
  for (int d = 0; d < 3; ++d) {
    grid_[d] = grid[d];
    tgsize_[d] = tg[d];
  }
  ranges_.clear();
  unique_r_.assign(n_buffers, {});
  unique_w_.assign(n_buffers, {});
  for (uint32_t i = 0; i < n_buffers; ++i) {
    if (!buffers[i] || lengths[i] == 0) continue;
    const auto lo = reinterpret_cast<uintptr_t>(buffers[i]);
    const bool constant = i < 32 && ((constant_mask >> i) & 1u) != 0;
    ranges_.push_back({lo, lo + lengths[i], static_cast<int>(i), constant});
    if (mode_ == InstrumentMode::Trace && !constant) {
      unique_r_[i].assign((lengths[i] + 7) / 8, 0);
      unique_w_[i].assign((lengths[i] + 7) / 8, 0);
    }
  }
  n_device_ranges_ = ranges_.size();
  if (mode_ == InstrumentMode::Bounds) begin_bounds_dispatch();
  last_ = nullptr;
  stats_.clear();
  tg_read_ = tg_written_ = 0;
  dev_shadow_.clear();
  sites_.clear();
  site_ids_.clear();
}

void Instrument::begin_threadgroup(uint64_t id, uint32_t nlanes) {
  tg_id_ = id;
  nlanes_ = nlanes;
  for (int sp = 0; sp < 2; ++sp) {
    epoch_[sp] = 0;
    std::fill(std::begin(sg_epoch_[sp]), std::end(sg_epoch_[sp]), 0u);
  }
  ranges_.resize(n_device_ranges_);
  zones_.resize(n_device_zones_);
  last_ = nullptr;
  tg_shadow_.clear();
  uninit_.clear();
  pending_.assign(nlanes, Pending{});
  occ_.clear();
  recs_.clear();
}

void Instrument::add_threadgroup_memory(const void* p, uint64_t bytes, bool arg, uint32_t index) {
  const auto lo = reinterpret_cast<uintptr_t>(p);
  if (!p || !bytes) return;
  ranges_.push_back({lo, lo + bytes, -1, false, arg, index});
  if (mode_ == InstrumentMode::Bounds) add_threadgroup_zone(ranges_.size() - 1);
  last_ = nullptr;  // ranges_ may have moved
}

// A barrier is a rendezvous whatever its flags, but it orders only the address spaces they name:
// without mem_threadgroup (or mem_device) accesses to that space on either side stay unordered.
int Instrument::threadgroup_barrier(uint32_t flags) {
  if (flags & MM_RT_MEM_DEVICE) ++epoch_[kDev];
  if (!(flags & MM_RT_MEM_THREADGROUP)) return 0;
  ++epoch_[kTg];
  return report_uninit();
}
void Instrument::simd_release(uint32_t sg, uint32_t flags) {
  if (sg >= 32) return;
  if (flags & MM_RT_MEM_DEVICE) ++sg_epoch_[kDev][sg];
  if (flags & MM_RT_MEM_THREADGROUP) ++sg_epoch_[kTg][sg];
}
int Instrument::report_uninit() {
  if (uninit_.empty()) return 0;
  message_ = std::move(uninit_);
  uninit_.clear();
  return MM_E_UNINIT;
}

const Instrument::Range* Instrument::find(uintptr_t a, uint32_t bytes) {
  if (last_ && a >= last_->lo && a + bytes <= last_->hi) return last_;
  for (const Range& r : ranges_) {
    if (a >= r.lo && a < r.hi) {
      last_ = &r;
      return &r;
    }
  }
  return nullptr;  // stack, lane-private or runtime memory: not the kernel's buffers
}

int Instrument::access(uint32_t lane, const void* addr, uint32_t bytes, uint32_t flags, const void* pc) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  if (mode_ == InstrumentMode::Bounds) return bounds_access(lane, a, bytes, flags, pc);
  const Range* r = find(a, bytes);
  if (!r) return 0;
  if (mode_ == InstrumentMode::Race) return race_access(lane, *r, a, bytes, flags, pc);
  if (r->buffer < 0) {
    if (flags & MM_RT_ACCESS_LOAD) tg_read_ += bytes;
    if (flags & MM_RT_ACCESS_STORE) tg_written_ += bytes;
    return 0;
  }
  if (r->constant) {  // parameters, not device traffic: counted on their own lines (kind "constant")
    trace_access(lane, a, bytes, flags | kConstantSpace, pc);
    return 0;
  }
  mark_unique(*r, a, bytes, (flags & MM_RT_ACCESS_STORE) != 0);
  if (flags & MM_RT_ACCESS_ATOMIC) mark_unique(*r, a, bytes, false);
  trace_access(lane, a, bytes, flags, pc);
  return 0;
}

int Instrument::block(uint32_t lane, const void* base, uint32_t rows, uint32_t row_bytes, uint64_t stride,
                      uint32_t flags, const void* pc) {
  flags |= MM_RT_ACCESS_BLOCK;
  const auto b = reinterpret_cast<uintptr_t>(base);
  if (mode_ == InstrumentMode::Bounds) {
    for (uint32_t i = 0; i < rows; ++i)
      if (int rc = bounds_access(lane, b + i * stride, row_bytes, flags, pc)) return rc;
    return 0;
  }
  if (mode_ == InstrumentMode::Race) {
    for (uint32_t i = 0; i < rows; ++i) {
      const uintptr_t a = b + i * stride;
      const Range* r = find(a, row_bytes);
      if (r)
        if (int rc = race_access(lane, *r, a, row_bytes, flags, pc)) return rc;
    }
    return 0;
  }
  if (lane < pending_.size()) flush_pending(lane);
  const uint64_t key = reinterpret_cast<uintptr_t>(pc) | (uint64_t{lane} << 48);
  const uint32_t occ = occ_[key]++;  // the whole block is one access of this lane
  for (uint32_t i = 0; i < rows; ++i) {
    const uintptr_t a = b + i * stride;
    const Range* r = find(a, row_bytes);
    if (!r) continue;
    if (r->buffer < 0) {
      // Every lane reports the block; count its bytes once per simdgroup (lane 0 of it).
      if (lane % MM_RT_SIMD_WIDTH == 0) ((flags & MM_RT_ACCESS_STORE) ? tg_written_ : tg_read_) += row_bytes;
      continue;
    }
    if (!r->constant) mark_unique(*r, a, row_bytes, (flags & MM_RT_ACCESS_STORE) != 0);
    const uint32_t f = (flags & ~MM_RT_ACCESS_BLOCK) | (r->constant ? kConstantSpace : 0u);
    recs_.push_back({pc, lane / MM_RT_SIMD_WIDTH, occ, f, row_bytes, a});
  }
  return 0;
}

}  // namespace mm::cpu
