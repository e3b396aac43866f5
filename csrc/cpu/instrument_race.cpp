// instrument_race.cpp — race mode of the CPU runtime: per-byte shadow of threadgroup and device
// memory, race and uninitialized-read findings, and the addr2line symbolization of their call sites.
// See instrument.h.
#include "instrument.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

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

}  // namespace

ShadowByte& ShadowMap::at(uintptr_t addr) {
  std::unique_ptr<ShadowByte[]>& c = chunks_[addr / kChunk];
  if (!c) c.reset(new ShadowByte[kChunk]);
  return c[addr % kChunk];
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
