// fiber.h — stackful fibers for the CPU shader runtime: one fiber per shader lane.
// A hand-written context switch (x86-64 SysV, aarch64) with ucontext as the portable fallback;
// stacks come from mmap with a PROT_NONE guard page below. ASan must be told about every switch
// (see fiber_switch below), or it reports false stack overflows on the fiber stacks.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#define MM_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MM_FIBER_ASAN 1
#endif
#endif
#ifndef MM_FIBER_ASAN
#define MM_FIBER_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define MM_FIBER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MM_FIBER_TSAN 1
#endif
#endif
#ifndef MM_FIBER_TSAN
#define MM_FIBER_TSAN 0
#endif

#if MM_FIBER_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if MM_FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

// MM_FIBER_UCONTEXT forces the portable fallback (the native test builds it once to keep it working).
#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(MM_FIBER_UCONTEXT)
#define MM_FIBER_ASM 1
#else
#define MM_FIBER_ASM 0
#include <ucontext.h>
#endif

namespace mm::cpu {

// ASan and TSan frames are several times larger; 1 MiB keeps deep shader call chains inside the stack.
constexpr size_t kFiberStackBytes = MM_FIBER_ASAN || MM_FIBER_TSAN ? (size_t{1} << 20) : (size_t{256} << 10);

// A fiber stack: [map, map + guard) is PROT_NONE, [base, base + size) is usable.
struct FiberStack {
  void* map = nullptr;
  size_t map_bytes = 0;
  void* base = nullptr;
  size_t size = 0;
};

// Returns false when mmap/mprotect fail (stack left empty).
bool fiber_stack_alloc(FiberStack& s, size_t bytes);
void fiber_stack_free(FiberStack& s);
// After a fiber on this stack was abandoned mid-run, its frames' redzones are still poisoned;
// clear them before the stack is reused (no-op without ASan).
void fiber_stack_unpoison(const FiberStack& s);

// A suspended execution context.
struct FiberContext {
#if MM_FIBER_ASM
  void* sp = nullptr;  // saved stack pointer; registers live on the stack below it
#else
  ucontext_t uc;
#endif
#if MM_FIBER_TSAN
  // TSan keeps a shadow call stack and vector clock per fiber: each prepared context gets its own TSan
  // fiber (created once, reused when the context is prepared again); other contexts record the fiber
  // that switched away from them.
  void* tsan = nullptr;
  bool tsan_owned = false;
#endif
};

// Prepares `ctx` so the first switch to it calls fn(arg) on stack `s`. fn must never return: it
// ends by switching away for good.
void fiber_prepare(FiberContext& ctx, const FiberStack& s, void (*fn)(void*), void* arg);

}  // namespace mm::cpu

#if MM_FIBER_ASM
extern "C" void mm_fiber_switch(void** save_sp, void* load_sp);
#endif

namespace mm::cpu {

// Frees what fiber_prepare attached to `ctx` for a sanitizer (TSan's fiber); the context must not run.
inline void fiber_context_release(FiberContext& ctx) {
#if MM_FIBER_TSAN
  if (ctx.tsan_owned) __tsan_destroy_fiber(ctx.tsan);
  ctx.tsan = nullptr;
  ctx.tsan_owned = false;
#else
  (void)ctx;
#endif
}

// Raw switch: saves the current context into `from`, resumes `to`.
inline void fiber_switch_raw(FiberContext& from, FiberContext& to) {
#if MM_FIBER_TSAN
  if (!from.tsan_owned) from.tsan = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(to.tsan, 0);
#endif
#if MM_FIBER_ASM
  mm_fiber_switch(&from.sp, to.sp);
#else
  swapcontext(&from.uc, &to.uc);
#endif
}

// Starts loading the top of a suspended fiber's stack (saved registers, then the frames above them: a
// shader's spills) into the cache. A threadgroup's lanes run in turn and their frames together overflow
// L1, so a lane resumed without this misses on its first accesses (-5 % CPU time on a decode GEMV).
inline void fiber_prefetch(const FiberContext& c) {
#if MM_FIBER_ASM
  const char* sp = static_cast<const char*>(c.sp);
  for (int k = 0; k < 768; k += 64) __builtin_prefetch(sp + k);  // never faults, even on a null sp
#else
  (void)c;
#endif
}

// ASan-annotated switch. `fake` keeps this side's fake stack while it is suspended; pass nullptr
// when the current fiber will never be resumed (ASan then frees its fake stack). to_bottom/to_size
// are the stack bounds of `to`.
inline void fiber_switch(FiberContext& from, void** fake, FiberContext& to, const void* to_bottom,
                         size_t to_size) {
#if MM_FIBER_ASAN
  __sanitizer_start_switch_fiber(fake, to_bottom, to_size);
  fiber_switch_raw(from, to);
  __sanitizer_finish_switch_fiber(fake ? *fake : nullptr, nullptr, nullptr);
#else
  (void)fake;
  (void)to_bottom;
  (void)to_size;
  fiber_switch_raw(from, to);
#endif
}

// First thing a new fiber does: completes the switch that started it and reports the stack
// bounds of the context that switched to it (so the fiber can switch back).
inline void fiber_entered(const void** from_bottom, size_t* from_size) {
#if MM_FIBER_ASAN
  __sanitizer_finish_switch_fiber(nullptr, from_bottom, from_size);
#else
  *from_bottom = nullptr;
  *from_size = 0;
#endif
}

}  // namespace mm::cpu
