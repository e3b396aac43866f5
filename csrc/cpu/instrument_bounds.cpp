// instrument_bounds.cpp — bounds mode of the CPU runtime (backend "cpu:bounds", Device.open({ check:
// "bounds" })). Every load/store of a lane reaches bounds_access before it happens; a finding aborts
// the lane there (ThreadgroupRunner::instr_access), so an out-of-bounds write never lands and an
// out-of-bounds read never returns. Policy for an address outside every bound range:
//  - inside the guard zone of a device allocation holding a bound buffer, or of a threadgroup
//    allocation (guarded.h: nothing else can be mapped there): a finding, named after that buffer;
//  - anywhere else (lane stacks, thread-private arrays, runtime memory, program-scope constants): not
//    checked. An access more than a guard zone away from every buffer is therefore not caught here.
// See instrument.h.
#include <cstdio>
#include <string>

#include "../include/metal_marlin.h"
#include "guarded.h"
#include "instrument.h"

namespace mm::cpu {

void Instrument::add_allocation(const void* p, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(allocs_mu_);
  allocs_[reinterpret_cast<uintptr_t>(p)] = bytes;
}
void Instrument::remove_allocation(const void* p) {
  std::lock_guard<std::mutex> lock(allocs_mu_);
  allocs_.erase(reinterpret_cast<uintptr_t>(p));
}

// One zone per guarded allocation holding a bound range. A binding with an offset lies inside its
// allocation; bytes of the allocation outside the bound range are caught by the range check itself.
void Instrument::begin_bounds_dispatch() {
  zones_.clear();
  std::lock_guard<std::mutex> lock(allocs_mu_);
  for (size_t i = 0; i < ranges_.size(); ++i) {
    const Range& r = ranges_[i];
    for (const auto& [lo, bytes] : allocs_) {
      if (r.lo < lo || r.lo > lo + bytes) continue;
      bool seen = false;
      for (const Zone& z : zones_) seen = seen || z.lo == lo;
      if (!seen) zones_.push_back({lo - kDeviceGuard, lo + guarded_body(bytes) + kDeviceGuard, lo, lo + bytes, -1});
      break;
    }
  }
  n_device_zones_ = zones_.size();
}

void Instrument::add_threadgroup_zone(size_t range) {
  const Range& r = ranges_[range];
  zones_.push_back({r.lo - kThreadgroupGuard, r.lo + guarded_body(r.hi - r.lo) + kThreadgroupGuard, r.lo, r.hi,
                    static_cast<int>(range)});
}

int Instrument::bounds_access(uint32_t lane, uintptr_t a, uint32_t bytes, uint32_t flags, const void* pc) {
  const Range* r = find(a, bytes);
  if (r && a + bytes <= r->hi) return 0;
  if (r) {  // starts inside, ends past: fine only if another bound range holds all of it
    for (const Range& o : ranges_)
      if (a >= o.lo && a + bytes <= o.hi) return 0;
    return bounds_finding(lane, *r, a, bytes, flags, pc);
  }
  for (const Zone& z : zones_) {
    if (a + bytes <= z.glo || a >= z.ghi) continue;
    if (z.range >= 0) return bounds_finding(lane, ranges_[z.range], a, bytes, flags, pc);
    // A device allocation: name the nearest bound range inside it.
    const Range* best = nullptr;
    uint64_t dist = UINT64_MAX;
    for (size_t i = 0; i < n_device_ranges_; ++i) {
      const Range& o = ranges_[i];
      if (o.lo < z.lo || o.lo > z.hi) continue;
      const uint64_t d = a < o.lo ? o.lo - a : a >= o.hi ? a - o.hi : 0;
      if (d < dist) dist = d, best = &o;
    }
    if (best) return bounds_finding(lane, *best, a, bytes, flags, pc);
  }
  return 0;  // private, runtime or unrelated memory: see the policy at the top
}

int Instrument::bounds_finding(uint32_t lane, const Range& r, uintptr_t a, uint32_t bytes, uint32_t flags,
                               const void* pc) {
  const bool load = (flags & MM_RT_ACCESS_LOAD) != 0, store = (flags & MM_RT_ACCESS_STORE) != 0;
  const char* what = store ? (load ? "update" : "write") : "read";
  std::string where;
  if (r.buffer >= 0)
    where = "buffer(" + std::to_string(r.buffer) + ")";
  else if (r.tg_arg)
    where = "threadgroup argument [[threadgroup(" + std::to_string(r.tg_index) + ")]]";
  else
    where = "threadgroup variable #" + std::to_string(r.tg_index);
  const long long off = static_cast<long long>(a) - static_cast<long long>(r.lo);
  char pcs[40];
  std::snprintf(pcs, sizeof pcs, "@pc:%p@", pc);
  message_ = "out-of-bounds " + std::string(what) + " at " + pcs + ", stopped before it happened: thread " +
             std::to_string(tg_id_ * nlanes_ + lane) + " (threadgroup #" + std::to_string(tg_id_) + ", lane " +
             std::to_string(lane) + ") " + what + "s " + std::to_string(bytes) + " bytes of " + where +
             " at byte offset " + std::to_string(off) + ", bound length " + std::to_string(r.hi - r.lo) +
             " bytes";
  return MM_E_BOUNDS_CHECK;
}

}  // namespace mm::cpu
