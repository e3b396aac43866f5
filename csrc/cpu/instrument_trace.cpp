// instrument_trace.cpp — trace mode of the CPU runtime: per-site requests, 32-byte sectors, 128-byte
// lines and bytes of every device access, written out as JSON per dispatch. See instrument.h.
#include "instrument.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>

namespace mm::cpu {

namespace {

const char* kind_name(uint32_t flags) {
  if (flags & 0x100) return "constant";  // Instrument::kConstantSpace
  if (flags & MM_RT_ACCESS_ATOMIC) return "atomic";
  return (flags & MM_RT_ACCESS_STORE) ? "store" : "load";
}

std::string json_str(const char* s) {
  std::string o = "\"";
  for (; s && *s; ++s) {
    if (*s == '"' || *s == '\\') o += '\\';
    if (static_cast<unsigned char>(*s) >= 0x20) o += *s;
  }
  return o + "\"";
}

uint64_t popcount_bits(const std::vector<uint8_t>& v) {
  uint64_t n = 0;
  for (uint8_t b : v) n += static_cast<uint64_t>(__builtin_popcount(b));
  return n;
}

}  // namespace

// ---- trace ---------------------------------------------------------------------------------

void Instrument::mark_unique(const Range& r, uintptr_t a, uint32_t bytes, bool write) {
  std::vector<uint8_t>& bits = write ? unique_w_[r.buffer] : unique_r_[r.buffer];
  if (bits.empty()) return;
  for (uint64_t o = a - r.lo, e = std::min<uint64_t>(o + bytes, r.hi - r.lo); o < e; ++o)
    bits[o / 8] |= uint8_t(1u << (o % 8));
}

// x86-64 splits a 16-byte vector copy into two 8-byte loads (or stores) two instructions apart;
// they are merged back into the one vector access the kernel wrote.
void Instrument::trace_access(uint32_t lane, uintptr_t a, uint32_t bytes, uint32_t flags, const void* pc) {
  if (lane >= pending_.size()) return;
  Pending& p = pending_[lane];
  const auto pcv = reinterpret_cast<uintptr_t>(pc), ppc = reinterpret_cast<uintptr_t>(p.pc);
  if (p.valid && bytes == 8 && p.bytes == 8 && p.flags == flags && a == p.addr + 8 && pcv > ppc && pcv - ppc < 64) {
    p.bytes = 16;
    flush_pending(lane);
    return;
  }
  flush_pending(lane);
  if (bytes == 8 && (a & 15) == 0 && !(flags & MM_RT_ACCESS_ATOMIC)) {
    p = Pending{true, pc, a, bytes, flags};
    return;
  }
  push_rec(lane, pc, a, bytes, flags);
}

void Instrument::flush_pending(uint32_t lane) {
  Pending& p = pending_[lane];
  if (!p.valid) return;
  p.valid = false;
  push_rec(lane, p.pc, p.addr, p.bytes, p.flags);
}

void Instrument::push_rec(uint32_t lane, const void* pc, uintptr_t a, uint32_t bytes, uint32_t flags) {
  const uint64_t key = reinterpret_cast<uintptr_t>(pc) | (uint64_t{lane} << 48);
  const uint32_t occ = occ_[key]++;
  recs_.push_back({pc, lane / MM_RT_SIMD_WIDTH, occ, flags, bytes, a});
}

// Groups the threadgroup's device accesses into requests: same site, same simdgroup, same per-lane
// occurrence. A request's cost is the distinct 32-byte sectors / 128-byte lines its bytes touch.
int Instrument::end_threadgroup() {
  if (mode_ == InstrumentMode::Race) return report_uninit();
  if (mode_ != InstrumentMode::Trace) return 0;
  for (uint32_t l = 0; l < pending_.size(); ++l) flush_pending(l);
  std::sort(recs_.begin(), recs_.end(), [](const Rec& x, const Rec& y) {
    if (x.pc != y.pc) return x.pc < y.pc;
    if (x.flags != y.flags) return x.flags < y.flags;
    if (x.sg != y.sg) return x.sg < y.sg;
    if (x.occ != y.occ) return x.occ < y.occ;
    return x.addr < y.addr;
  });
  for (size_t i = 0; i < recs_.size();) {
    size_t j = i;
    while (j < recs_.size() && recs_[j].pc == recs_[i].pc && recs_[j].flags == recs_[i].flags &&
           recs_[j].sg == recs_[i].sg && recs_[j].occ == recs_[i].occ)
      ++j;
    uint64_t unique = 0, sectors = 0, lines = 0;
    uintptr_t covered = 0;  // bytes below this address are already counted
    uintptr_t last_sector = UINTPTR_MAX, last_line = UINTPTR_MAX;
    for (size_t k = i; k < j; ++k) {
      const uintptr_t lo = std::max(recs_[k].addr, covered), hi = recs_[k].addr + recs_[k].bytes;
      if (hi <= lo) continue;
      unique += hi - lo;
      covered = hi;
      for (uintptr_t s = lo / 32; s <= (hi - 1) / 32; ++s)
        if (s != last_sector) ++sectors, last_sector = s;
      for (uintptr_t l = lo / 128; l <= (hi - 1) / 128; ++l)
        if (l != last_line) ++lines, last_line = l;
    }
    const uint32_t space = (recs_[i].flags & kConstantSpace) ? 8u : 0u;
    SiteStats& st = stats_[reinterpret_cast<uintptr_t>(recs_[i].pc) * 16 + (recs_[i].flags & 7) + space];
    st.flags = recs_[i].flags;
    st.requests++;
    st.sectors += sectors;
    st.ideal += (unique + 31) / 32;
    st.lines += lines;
    st.bytes += unique;
    i = j;
  }
  recs_.clear();
  occ_.clear();
  return 0;
}

void Instrument::end_dispatch(bool ok) {
  if (mode_ != InstrumentMode::Trace) return;
  std::vector<std::pair<uint64_t, SiteStats>> sites(stats_.begin(), stats_.end());
  std::sort(sites.begin(), sites.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  uint64_t ur = 0, uw = 0;
  for (const auto& v : unique_r_) ur += popcount_bits(v);
  for (const auto& v : unique_w_) uw += popcount_bits(v);
  std::string o = "{\"kernel\":" + json_str(kernel_.c_str()) + ",\"ok\":" + (ok ? "true" : "false") + ",\"grid\":[" +
                  std::to_string(grid_[0]) + "," + std::to_string(grid_[1]) + "," + std::to_string(grid_[2]) +
                  "],\"threadgroup\":[" + std::to_string(tgsize_[0]) + "," + std::to_string(tgsize_[1]) + "," +
                  std::to_string(tgsize_[2]) + "],\"uniqueBytesRead\":" + std::to_string(ur) +
                  ",\"uniqueBytesWritten\":" + std::to_string(uw) + ",\"threadgroupBytesRead\":" +
                  std::to_string(tg_read_) + ",\"threadgroupBytesWritten\":" + std::to_string(tg_written_) +
                  ",\"sites\":[";
  bool first = true;
  for (const auto& [key, st] : sites) {
    const void* pc = reinterpret_cast<const void*>(key / 16);
    Dl_info info{};
    const bool known = dladdr(pc, &info) != 0 && info.dli_fname;
    const uintptr_t off = reinterpret_cast<uintptr_t>(pc) - (known ? reinterpret_cast<uintptr_t>(info.dli_fbase) : 0) - 1;
    char offs[32];
    std::snprintf(offs, sizeof offs, "0x%llx", static_cast<unsigned long long>(off));
    o += std::string(first ? "" : ",") + "{\"module\":" + json_str(known ? info.dli_fname : "") + ",\"offset\":\"" +
         offs + "\",\"kind\":\"" + kind_name(st.flags) + "\",\"requests\":" + std::to_string(st.requests) +
         ",\"sectors\":" + std::to_string(st.sectors) + ",\"ideal\":" + std::to_string(st.ideal) +
         ",\"lines\":" + std::to_string(st.lines) + ",\"bytes\":" + std::to_string(st.bytes) + "}";
    first = false;
  }
  o += "]}";
  std::lock_guard<std::mutex> lock(trace_mu_);
  if (!trace_.empty()) trace_ += ",";
  trace_ += o;
}

std::string Instrument::take_trace() {
  std::lock_guard<std::mutex> lock(trace_mu_);
  std::string out = "[" + trace_ + "]";
  trace_.clear();
  return out;
}

}  // namespace mm::cpu
