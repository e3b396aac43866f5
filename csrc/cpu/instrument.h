// instrument.h — trace, race and bounds mode of the CPU runtime. Instrumented shader modules report every
// load/store of a lane (rt_abi.h instr_access/instr_block); one Instrument per CPU backend turns them
// into a per-site memory-traffic profile (trace), race / uninitialized-read findings (race) or
// out-of-bounds findings raised before the access happens (bounds, instrument_bounds.cpp).
// Instrumented dispatches run one threadgroup at a time on the caller's thread (under the scheduler's
// run lock), so only the finished trace text, which mm_trace_take reads from any thread, has a lock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "rt_abi.h"

namespace mm::cpu {

enum class InstrumentMode : uint32_t { Off = 0, Trace = 1, Race = 2, Bounds = 3 };

// Per-byte shadow of one access: who (lane or global thread), when (threadgroup barrier epoch and the
// simdgroup's rendezvous epoch, both counted for the accessed address space alone: a barrier orders
// only the spaces its mem_flags name), where (site index) and how (atomic, simdgroup block).
struct ShadowAcc {
  uint32_t who = UINT32_MAX;  // UINT32_MAX = none
  uint32_t epoch = 0;
  uint32_t sg_epoch = 0;
  uint32_t site = 0;  // index into Instrument::sites_; bit 31 atomic, bit 30 block
};
struct ShadowByte {
  ShadowAcc w, r[2];
};

// Chunked per-byte shadow, keyed by address: only touched memory costs anything.
class ShadowMap {
 public:
  ShadowByte& at(uintptr_t addr);
  void clear() { chunks_.clear(); }

 private:
  static constexpr uintptr_t kChunk = 4096;
  std::unordered_map<uintptr_t, std::unique_ptr<ShadowByte[]>> chunks_;
};

class Instrument {
 public:
  explicit Instrument(InstrumentMode mode) : mode_(mode) {}
  InstrumentMode mode() const { return mode_; }

  // Dispatch boundaries (bound buffers: address + visible length, null when unbound).
  // constant_mask: bit i set when [[buffer(i)]] is a `constant` argument (a constant buffer or setBytes
  // data): trace mode reports its reads apart from device traffic (kind "constant").
  void begin_dispatch(const char* kernel, const uint32_t grid[3], const uint32_t tg[3], void* const* buffers,
                      const uint64_t* lengths, uint32_t n_buffers, uint32_t constant_mask = 0);
  void end_dispatch(bool ok);
  // Threadgroup boundaries and memory, rendezvous releases (called by ThreadgroupRunner).
  void begin_threadgroup(uint64_t id, uint32_t nlanes);
  // `arg`: a [[threadgroup(index)]] argument, else the threadgroup variable of declaration slot `index`.
  void add_threadgroup_memory(const void* p, uint64_t bytes, bool arg, uint32_t index);
  // Bounds mode: device buffers allocated in guarded memory (guarded.h), registered for the lifetime
  // of the allocation; any thread may call these.
  void add_allocation(const void* p, uint64_t bytes);
  void remove_allocation(const void* p);
  // `flags` (MM_RT_MEM_*) name the address spaces the rendezvous orders. Both ints return 0 or
  // MM_E_UNINIT (message()): a read of unwritten threadgroup memory is reported once a barrier orders
  // threadgroup memory (or the threadgroup ends) without another lane writing it (that write would be
  // a race, reported first).
  int threadgroup_barrier(uint32_t flags);
  void simd_release(uint32_t simdgroup, uint32_t flags);
  int end_threadgroup();

  // One access by `lane` (index in threadgroup). Returns 0, or MM_E_RACE / MM_E_UNINIT with message().
  int access(uint32_t lane, const void* addr, uint32_t bytes, uint32_t flags, const void* pc);
  int block(uint32_t lane, const void* base, uint32_t rows, uint32_t row_bytes, uint64_t stride, uint32_t flags,
            const void* pc);
  std::string take_message() { return std::move(message_); }

  // JSON array text of the traced dispatches since the last call (then cleared).
  std::string take_trace();

 private:
  struct Range {
    uintptr_t lo, hi;
    int buffer;  // buffer index, or -1 for threadgroup memory
    bool constant = false;  // a `constant` argument
    bool tg_arg = false;    // threadgroup memory: a [[threadgroup(tg_index)]] argument, else a variable
    uint32_t tg_index = 0;
  };
  // Bounds mode: a guard zone [glo, ghi) around the allocation [lo, hi) holding a bound range
  // (range = index into ranges_ for threadgroup memory, -1 for a device allocation).
  struct Zone {
    uintptr_t glo, ghi, lo, hi;
    int range;
  };
  // Trace records of constant-space reads carry this bit (never a MM_RT_ACCESS_* value).
  static constexpr uint32_t kConstantSpace = 0x100;
  struct Rec {  // one device access of one lane (trace)
    const void* pc;
    uint32_t sg, occ, flags, bytes;
    uintptr_t addr;
  };
  struct SiteStats {
    uint32_t flags = 0;
    uint64_t requests = 0, sectors = 0, ideal = 0, lines = 0, bytes = 0;
  };
  struct Pending {  // a lane's last device access, held back to merge a split 16-byte vector access
    bool valid = false;
    const void* pc = nullptr;
    uintptr_t addr = 0;
    uint32_t bytes = 0, flags = 0;
  };

  const Range* find(uintptr_t a, uint32_t bytes);
  void trace_access(uint32_t lane, uintptr_t a, uint32_t bytes, uint32_t flags, const void* pc);
  void push_rec(uint32_t lane, const void* pc, uintptr_t a, uint32_t bytes, uint32_t flags);
  void flush_pending(uint32_t lane);
  void mark_unique(const Range& r, uintptr_t a, uint32_t bytes, bool write);
  int race_access(uint32_t lane, const Range& r, uintptr_t a, uint32_t bytes, uint32_t flags, const void* pc);
  bool ordered(const ShadowAcc& prev, uint32_t who, bool tg_memory, uint32_t cur_site_bits) const;
  uint32_t site_index(const void* pc);
  std::string who_str(uint32_t who, bool tg_memory) const;
  std::string site_str(uint32_t site) const;
  int report_uninit();
  void begin_bounds_dispatch();
  void add_threadgroup_zone(size_t range);
  int bounds_access(uint32_t lane, uintptr_t a, uint32_t bytes, uint32_t flags, const void* pc);
  int bounds_finding(uint32_t lane, const Range& r, uintptr_t a, uint32_t bytes, uint32_t flags, const void* pc);

  InstrumentMode mode_;
  std::string kernel_;
  uint32_t grid_[3] = {1, 1, 1}, tgsize_[3] = {1, 1, 1};
  std::vector<Range> ranges_;  // device buffers first, then this threadgroup's memory
  size_t n_device_ranges_ = 0;
  const Range* last_ = nullptr;
  uint64_t tg_id_ = 0;
  uint32_t nlanes_ = 0;
  // Rendezvous epochs per address space ([kDev] device, [kTg] threadgroup memory).
  static constexpr int kDev = 0, kTg = 1;
  uint32_t epoch_[2] = {};
  uint32_t sg_epoch_[2][32] = {};
  std::string message_;
  std::string uninit_;  // first read of unwritten threadgroup memory in this epoch, if any

  // trace state
  std::vector<Rec> recs_;
  std::vector<Pending> pending_;
  std::unordered_map<uint64_t, uint32_t> occ_;  // (lane, pc) -> accesses so far in this threadgroup
  std::unordered_map<uint64_t, SiteStats> stats_;  // (pc, kind) of this dispatch
  std::vector<std::vector<uint8_t>> unique_r_, unique_w_;  // per buffer: one bit per byte touched
  uint64_t tg_read_ = 0, tg_written_ = 0;
  std::mutex trace_mu_;  // guards trace_: appended under the scheduler's run lock, taken by mm_trace_take
  std::string trace_;    // finished dispatches, comma-separated JSON objects

  // bounds state: zones_ holds the device zones of this dispatch, then this threadgroup's
  std::vector<Zone> zones_;
  size_t n_device_zones_ = 0;
  std::mutex allocs_mu_;  // guards allocs_: buffers are allocated and freed on any thread
  std::unordered_map<uintptr_t, uint64_t> allocs_;  // guarded device allocations: address -> bytes

  // race state
  ShadowMap tg_shadow_, dev_shadow_;
  std::vector<const void*> sites_;
  std::unordered_map<const void*, uint32_t> site_ids_;
};

// "@pc:0x...@" markers (written into race messages on a fiber) -> ".metal file:line", resolved with
// addr2line through the module's debug info. Call outside fibers (it runs a child process).
void symbolize_markers(std::string& message);

}  // namespace mm::cpu
