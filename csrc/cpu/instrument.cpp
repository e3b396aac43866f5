// instrument.cpp — trace mode (per-site requests, 32-byte sectors, 128-byte lines, bytes) and race
// mode (per-byte shadow of threadgroup and device memory) of the CPU runtime. See instrument.h.
#include "instrument.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "../include/metal_marlin.h"

namespace mm::cpu {

namespace {

constexpr uint32_t kNone = UINT32_MAX;
constexpr uint32_t kAtomicBit = 1u << 31;
constexpr uint32_t kBlockBit = 1u << 30;
constexpr uint32_t kSiteMask = kBlockBit - 1;

std::string pc_marker(const void* pc) {
  char b[40];
  std::snprintf(b, sizeof b, "@pc:%p@", pc);
  return b;
}

const char* kind_name(uint32_t flags) {
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

ShadowByte& ShadowMap::at(uintptr_t addr) {
  std::unique_ptr<ShadowByte[]>& c = chunks_[addr / kChunk];
  if (!c) c.reset(new ShadowByte[kChunk]);
  return c[addr % kChunk];
}

// ---- dispatch and threadgroup boundaries -----------------------------------------------------

void Instrument::begin_dispatch(const char* kernel, const uint32_t grid[3], const uint32_t tg[3],
                                void* const* buffers, const uint64_t* lengths, uint32_t n_buffers) {
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
    ranges_.push_back({lo, lo + lengths[i], static_cast<int>(i)});
    if (mode_ == InstrumentMode::Trace) {
      unique_r_[i].assign((lengths[i] + 7) / 8, 0);
      unique_w_[i].assign((lengths[i] + 7) / 8, 0);
    }
  }
  n_device_ranges_ = ranges_.size();
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
  last_ = nullptr;
  tg_shadow_.clear();
  uninit_.clear();
  pending_.assign(nlanes, Pending{});
  occ_.clear();
  recs_.clear();
}

void Instrument::add_threadgroup_memory(const void* p, uint64_t bytes) {
  const auto lo = reinterpret_cast<uintptr_t>(p);
  if (p && bytes) ranges_.push_back({lo, lo + bytes, -1});
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
  const Range* r = find(a, bytes);
  if (!r) return 0;
  if (mode_ == InstrumentMode::Race) return race_access(lane, *r, a, bytes, flags, pc);
  if (r->buffer < 0) {
    if (flags & MM_RT_ACCESS_LOAD) tg_read_ += bytes;
    if (flags & MM_RT_ACCESS_STORE) tg_written_ += bytes;
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
    mark_unique(*r, a, row_bytes, (flags & MM_RT_ACCESS_STORE) != 0);
    recs_.push_back({pc, lane / MM_RT_SIMD_WIDTH, occ, flags & ~MM_RT_ACCESS_BLOCK, row_bytes, a});
  }
  return 0;
}

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
    SiteStats& st = stats_[reinterpret_cast<uintptr_t>(recs_[i].pc) * 16 + (recs_[i].flags & 7)];
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

// ---- race ----------------------------------------------------------------------------------

uint32_t Instrument::site_index(const void* pc) {
  auto [it, fresh] = site_ids_.emplace(pc, static_cast<uint32_t>(sites_.size()));
  if (fresh) sites_.push_back(pc);
  return it->second & kSiteMask;
}

std::string Instrument::site_str(uint32_t site) const {
  const uint32_t i = site & kSiteMask;
  return i < sites_.size() ? pc_marker(sites_[i]) : "<unknown site>";
}

std::string Instrument::who_str(uint32_t who, bool tg_memory) const {
  if (tg_memory) return "lane " + std::to_string(who);
  const uint64_t tg = nlanes_ ? who / nlanes_ : 0;
  return "thread " + std::to_string(who) + " (threadgroup #" + std::to_string(tg) + ", lane " +
         std::to_string(nlanes_ ? who % nlanes_ : who) + ")";
}

// Is `prev` (an earlier access) ordered before the current access of `who`?
bool Instrument::ordered(const ShadowAcc& prev, uint32_t who, bool tg_memory, uint32_t cur_bits) const {
  if (prev.who == who) return true;
  if ((prev.site & kAtomicBit) && (cur_bits & kAtomicBit)) return true;
  uint32_t plane = prev.who, clane = who;
  if (!tg_memory) {
    if (prev.who / nlanes_ != who / nlanes_) return false;  // threadgroups are never ordered
    plane = prev.who % nlanes_;
    clane = who % nlanes_;
  }
  const int sp = tg_memory ? kTg : kDev;
  if (prev.epoch != epoch_[sp]) return true;  // a threadgroup_barrier ordering this space lies between them
  const uint32_t sg = clane / MM_RT_SIMD_WIDTH;
  if (plane / MM_RT_SIMD_WIDTH == sg) {
    if (sg < 32 && prev.sg_epoch != sg_epoch_[sp][sg]) return true;  // simdgroup_barrier or simd collective
    if ((prev.site & kBlockBit) && (cur_bits & kBlockBit)) return true;  // one simdgroup_matrix operation
  }
  return false;
}

int Instrument::race_access(uint32_t lane, const Range& r, uintptr_t a, uint32_t bytes, uint32_t flags,
                            const void* pc) {
  const bool tgm = r.buffer < 0;
  const uint32_t who = tgm ? lane : static_cast<uint32_t>(tg_id_ * nlanes_ + lane);
  const uint32_t bits = site_index(pc) | ((flags & MM_RT_ACCESS_ATOMIC) ? kAtomicBit : 0) |
                        ((flags & MM_RT_ACCESS_BLOCK) ? kBlockBit : 0);
  const uint32_t sg = lane / MM_RT_SIMD_WIDTH;
  ShadowMap& map = tgm ? tg_shadow_ : dev_shadow_;
  const int sp = tgm ? kTg : kDev;
  const ShadowAcc cur{who, epoch_[sp], sg < 32 ? sg_epoch_[sp][sg] : 0, bits};
  const bool load = (flags & MM_RT_ACCESS_LOAD) != 0, store = (flags & MM_RT_ACCESS_STORE) != 0;
  const char* verb = store ? (load ? "updates" : "writes") : "reads";
  for (uint32_t i = 0; i < bytes; ++i) {
    ShadowByte& s = map.at(a + i);
    auto where = [&]() -> std::string {  // built only for a finding: this loop is the hot path
      return tgm ? "threadgroup memory (byte " + std::to_string(a + i - r.lo) + " of a " +
                       std::to_string(r.hi - r.lo) + "-byte threadgroup allocation)"
                 : "device memory (buffer(" + std::to_string(r.buffer) + ") byte " + std::to_string(a + i - r.lo) + ")";
    };
    auto order = [&](uint32_t prev) -> const char* {
      if (tgm) return "with no barrier ordering threadgroup memory in between (mem_flags::mem_threadgroup);";
      return prev / nlanes_ == who / nlanes_
                 ? "with no barrier ordering device memory in between (mem_flags::mem_device);"
                 : "in another threadgroup (threadgroups are never ordered);";
    };
    if (load && tgm && s.w.who == kNone && uninit_.empty()) {
      uninit_ = "uninitialized threadgroup read: " + who_str(who, tgm) + " reads at " + pc_marker(pc) + " " + where() +
                " that no lane of this threadgroup has written;";
    }
    if (s.w.who != kNone && !ordered(s.w, who, tgm, bits)) {
      message_ = std::string(tgm ? "threadgroup" : "device") + " memory race: " + who_str(who, tgm) + " " + verb +
                 " at " + pc_marker(pc) + " " + where() + " that " + who_str(s.w.who, tgm) + " wrote at " +
                 site_str(s.w.site) + " " + order(s.w.who);
      return MM_E_RACE;
    }
    if (store) {
      for (const ShadowAcc& rd : s.r) {
        if (rd.who != kNone && !ordered(rd, who, tgm, bits)) {
          message_ = std::string(tgm ? "threadgroup" : "device") + " memory race: " + who_str(who, tgm) + " " + verb +
                     " at " + pc_marker(pc) + " " + where() + " that " + who_str(rd.who, tgm) + " read at " +
                     site_str(rd.site) + " " + order(rd.who);
          return MM_E_RACE;
        }
      }
      s.w = cur;
      s.r[0].who = s.r[1].who = kNone;
    } else if (s.r[0].who == who || s.r[0].who == kNone || (s.r[1].who != who && s.r[0].epoch != epoch_[sp])) {
      s.r[0] = cur;  // two distinct readers are enough: any later writer differs from one of them
    } else {
      s.r[1] = cur;
    }
  }
  return 0;
}

// ---- symbolization -------------------------------------------------------------------------

// First frame outside the shim (addr2line -i lists the inline chain innermost first).
static std::string addr2line(const void* pc) {
  Dl_info info{};
  if (!dladdr(pc, &info) || !info.dli_fname) return pc_marker(pc);
  const uintptr_t off = reinterpret_cast<uintptr_t>(pc) - reinterpret_cast<uintptr_t>(info.dli_fbase) - 1;
  std::string path = info.dli_fname;
  for (char c : path)
    if (c == '\'' ) return pc_marker(pc);
  char cmd[4200];
  std::snprintf(cmd, sizeof cmd, "addr2line -i -e '%s' 0x%llx 2>/dev/null", path.c_str(),
                static_cast<unsigned long long>(off));
  FILE* f = popen(cmd, "r");
  if (!f) return pc_marker(pc);
  std::string best, first;
  char line[4096];
  while (std::fgets(line, sizeof line, f)) {
    std::string s = line;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    const size_t paren = s.find(" (discriminator");
    if (paren != std::string::npos) s.resize(paren);
    if (first.empty()) first = s;
    if (best.empty() && s.find("shim/mm_") == std::string::npos && s.rfind("??", 0) != 0) best = s;
  }
  pclose(f);
  std::string out = !best.empty() ? best : first.empty() ? pc_marker(pc) : first;
  // Paths are relative to the build's working directory, the folder holding build/.
  const size_t b = path.rfind("/build/");
  if (b != std::string::npos && out.compare(0, b + 1, path, 0, b + 1) == 0) out.erase(0, b + 1);
  return out;
}

void symbolize_markers(std::string& m) {
  size_t at = 0;
  while ((at = m.find("@pc:", at)) != std::string::npos) {
    const size_t end = m.find('@', at + 4);
    if (end == std::string::npos) return;
    const void* pc = reinterpret_cast<const void*>(std::strtoull(m.c_str() + at + 4, nullptr, 16));
    const std::string s = addr2line(pc);
    m.replace(at, end + 1 - at, s);
    at += s.size();
  }
}

}  // namespace mm::cpu
