// mm_instrument.h — the module side of trace/race mode. Instrumented shader TUs are compiled with
// -fsanitize-coverage=trace-loads,trace-stores and -DMM_INSTRUMENT=1: the compiler calls
// __sanitizer_cov_load4(p) etc. before every load/store; we forward the ones made by a lane to the
// runtime (rt_abi.h instr_access) with the return address as the site. Shim helpers whose raw copies
// would describe the shim, not the kernel (simdgroup_matrix loads, atomics), mute the callbacks and
// report the access themselves through MM_INSTR_* below.
#ifndef MM_SHIM_INSTRUMENT_H
#define MM_SHIM_INSTRUMENT_H

#include "mm_runtime.h"

#if defined(MM_INSTRUMENT) && MM_INSTRUMENT

namespace mm_shim {

// >0 while a shim helper copies memory it reports itself (per OS thread = per running lane).
inline thread_local int g_instr_mute = 0;
struct instr_mute {
  instr_mute() { ++g_instr_mute; }
  ~instr_mute() { --g_instr_mute; }
};

__attribute__((no_sanitize("coverage"), always_inline)) inline void instr_access(const void* p, uint32_t bytes,
                                                                                 uint32_t flags, const void* pc) {
  mm_rt_lane* me = g_lane;
  if (me == nullptr || g_instr_mute != 0 || g_api == nullptr || g_api->instr_access == nullptr) return;
  g_api->instr_access(me, p, bytes, flags, pc);
  g_lane = me;  // the runtime may have switched fibers (it never does today; cheap insurance)
}

// Out of line on purpose: its own return address lies in the kernel code that inlined the shim
// helper, so the site maps (through the inline chain of the debug info) to the kernel's .metal line.
__attribute__((no_sanitize("coverage"), noinline)) inline void instr_block(const void* base, uint32_t rows,
                                                                           uint32_t row_bytes, uint64_t stride,
                                                                           uint32_t flags) {
  mm_rt_lane* me = g_lane;
  if (me == nullptr || g_instr_mute != 0 || g_api == nullptr || g_api->instr_block == nullptr) return;
  g_api->instr_block(me, base, rows, row_bytes, stride, flags, __builtin_return_address(0));
  g_lane = me;
}
__attribute__((no_sanitize("coverage"), noinline)) inline void instr_atomic(const void* p, uint32_t bytes,
                                                                            uint32_t flags) {
  instr_access(p, bytes, flags | MM_RT_ACCESS_ATOMIC, __builtin_return_address(0));
}

}  // namespace mm_shim

// A simdgroup_matrix load/store of the 8x8 block at `base` (element pitch `epr` elements of type U).
#define MM_INSTR_BLOCK(base, epr, U, flags)                                                          \
  ::mm_shim::instr_block((const void*)(base), 8u, uint32_t(8 * sizeof(U)), uint64_t((epr) * sizeof(U)), \
                         (flags));                                                                    \
  ::mm_shim::instr_mute mm_instr_mute_guard
// An atomic operation on `p` (LOAD and/or STORE | ATOMIC); mutes the raw callbacks of its own code.
#define MM_INSTR_ATOMIC(p, flags)                                                 \
  ::mm_shim::instr_atomic((const void*)(p), uint32_t(sizeof(*(p))), (flags)); \
  ::mm_shim::instr_mute mm_instr_mute_guard

// SanitizerCoverage callbacks. Weak and hidden: every shader TU of one image shares one copy, and
// each dlopen'ed module keeps its own (it must reach its own api table).
#define MM_INSTR_CB(n, T)                                                                                   \
  extern "C" __attribute__((weak, used, visibility("hidden"), no_sanitize("coverage"))) void               \
      __sanitizer_cov_load##n(T* p) {                                                                       \
    ::mm_shim::instr_access(p, n, MM_RT_ACCESS_LOAD, __builtin_return_address(0));                          \
  }                                                                                                         \
  extern "C" __attribute__((weak, used, visibility("hidden"), no_sanitize("coverage"))) void               \
      __sanitizer_cov_store##n(T* p) {                                                                      \
    ::mm_shim::instr_access(p, n, MM_RT_ACCESS_STORE, __builtin_return_address(0));                         \
  }
MM_INSTR_CB(1, uint8_t)
MM_INSTR_CB(2, uint16_t)
MM_INSTR_CB(4, uint32_t)
MM_INSTR_CB(8, uint64_t)
MM_INSTR_CB(16, __int128)
#undef MM_INSTR_CB
// The coverage counters the pass needs to emit trace-loads at all; trace mode does not read them.
extern "C" __attribute__((weak, used, visibility("hidden"))) void __sanitizer_cov_8bit_counters_init(char*, char*) {}

#else
#define MM_INSTR_BLOCK(base, epr, U, flags) ((void)0)
#define MM_INSTR_ATOMIC(p, flags) ((void)0)
#endif

#endif
