// guarded.h — memory with reserved, inaccessible guard zones on both sides, for bounds mode
// (backend "cpu:bounds"). Nothing else can live in a guard zone, so an address there is known to be
// an out-of-bounds access of the allocation next to it: that is how the bounds checker tells a stray
// access of a buffer from an access of lane-private or runtime memory (instrument.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mm::cpu {

// Guard zone bytes on each side: device buffers, threadgroup allocations (at most 32 KiB each).
constexpr uint64_t kDeviceGuard = uint64_t{256} << 20;
constexpr uint64_t kThreadgroupGuard = uint64_t{1} << 20;

// `bytes` (rounded up to pages) of zeroed read-write memory between two PROT_NONE zones of `guard`
// bytes each; page-aligned; nullptr when the mapping fails. Only address space is reserved for guards.
void* guarded_alloc(uint64_t bytes, uint64_t guard);
void guarded_free(void* p, uint64_t bytes, uint64_t guard);
// Read-write bytes behind a guarded allocation of `bytes` (rounded up to whole pages).
uint64_t guarded_body(uint64_t bytes);

}  // namespace mm::cpu
