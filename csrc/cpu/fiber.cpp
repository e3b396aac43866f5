// fiber.cpp — context switch in assembly, mmap'ed guarded stacks, and the ping-pong benchmark hook.
// The switch saves only what the calling convention says a callee must preserve, plus the FP
// control registers (a lane that changes rounding mode must not leak it into other lanes).
#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "scheduler.h"

#if defined(__APPLE__)
#define MM_SYM(name) "_" #name
#define MM_ASM_FUNC(name) ".globl _" #name "\n.private_extern _" #name "\n.p2align 4\n_" #name ":\n"
#define MM_ASM_END(name) ""
#else
#define MM_SYM(name) #name
#define MM_ASM_FUNC(name) \
  ".globl " #name "\n.hidden " #name "\n.type " #name ",@function\n.p2align 4\n" #name ":\n"
#define MM_ASM_END(name) ".size " #name ", .-" #name "\n"
#endif

#if MM_FIBER_ASM && defined(__x86_64__)
// Frame left on a suspended stack (low to high): MXCSR (4 bytes) + x87 control word (2 bytes) in
// one 8-byte slot, r15, r14, r13, r12, rbx, rbp, return address.
asm(".text\n" MM_ASM_FUNC(mm_fiber_switch)
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n" MM_ASM_END(mm_fiber_switch)
    // First return into a new fiber lands here: r12 = arg, r13 = fn. rip is marked undefined so
    // debuggers and unwinders stop at the fiber's base instead of walking into garbage.
    MM_ASM_FUNC(mm_fiber_start)
    "  .cfi_startproc\n"
    "  .cfi_undefined rip\n"
    "  movq %r12, %rdi\n"
    "  callq *%r13\n"
    "  ud2\n"
    "  .cfi_endproc\n" MM_ASM_END(mm_fiber_start));
#elif MM_FIBER_ASM && defined(__aarch64__)
// Frame (176 bytes, low to high): x19..x30 (12 x 8), d8..d15 (8 x 8), FPCR, padding.
asm(".text\n" MM_ASM_FUNC(mm_fiber_switch)
    "  sub sp, sp, #176\n"
    "  stp x19, x20, [sp, #0]\n"
    "  stp x21, x22, [sp, #16]\n"
    "  stp x23, x24, [sp, #32]\n"
    "  stp x25, x26, [sp, #48]\n"
    "  stp x27, x28, [sp, #64]\n"
    "  stp x29, x30, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n"
    "  stp d10, d11, [sp, #112]\n"
    "  stp d12, d13, [sp, #128]\n"
    "  stp d14, d15, [sp, #144]\n"
    "  mrs x9, fpcr\n"
    "  str x9, [sp, #160]\n"
    "  mov x9, sp\n"
    "  str x9, [x0]\n"
    "  mov sp, x1\n"
    "  ldr x9, [sp, #160]\n"
    "  msr fpcr, x9\n"
    "  ldp x19, x20, [sp, #0]\n"
    "  ldp x21, x22, [sp, #16]\n"
    "  ldp x23, x24, [sp, #32]\n"
    "  ldp x25, x26, [sp, #48]\n"
    "  ldp x27, x28, [sp, #64]\n"
    "  ldp x29, x30, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n"
    "  ldp d10, d11, [sp, #112]\n"
    "  ldp d12, d13, [sp, #128]\n"
    "  ldp d14, d15, [sp, #144]\n"
    "  add sp, sp, #176\n"
    "  ret\n" MM_ASM_END(mm_fiber_switch)
    // New fiber: x19 = arg, x20 = fn.
    MM_ASM_FUNC(mm_fiber_start)
    "  .cfi_startproc\n"
    "  .cfi_undefined x30\n"
    "  mov x0, x19\n"
    "  blr x20\n"
    "  brk #0\n"
    "  .cfi_endproc\n" MM_ASM_END(mm_fiber_start));
#endif

#if MM_FIBER_ASM
extern "C" void mm_fiber_start();
#endif

namespace mm::cpu {

bool fiber_stack_alloc(FiberStack& s, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  const size_t total = bytes + page;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_NORESERVE
  flags |= MAP_NORESERVE;  // 1024 lanes x 256 KiB reserved per worker; only touched pages count
#endif
  void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (m == MAP_FAILED) return false;
  if (mprotect(m, page, PROT_NONE) != 0) {  // guard page: overflow faults instead of corrupting
    munmap(m, total);
    return false;
  }
  s.map = m;
  s.map_bytes = total;
  s.base = static_cast<char*>(m) + page;
  s.size = bytes;
  return true;
}

void fiber_stack_free(FiberStack& s) {
  // Frames left on the stack keep their redzones in ASan's shadow after munmap; a later mapping
  // at the same addresses would inherit them.
  fiber_stack_unpoison(s);
  if (s.map) munmap(s.map, s.map_bytes);
  s = FiberStack{};
}

void fiber_stack_unpoison(const FiberStack& s) {
#if MM_FIBER_ASAN
  if (s.base) __asan_unpoison_memory_region(s.base, s.size);
#else
  (void)s;
#endif
}

#if !MM_FIBER_ASM
namespace {
// makecontext passes only int arguments: hand each pointer over as two 32-bit halves.
void ucontext_start(unsigned fn_hi, unsigned fn_lo, unsigned arg_hi, unsigned arg_lo) {
  auto join = [](unsigned hi, unsigned lo) { return (static_cast<uintptr_t>(hi) << 16 << 16) | lo; };
  auto fn = reinterpret_cast<void (*)(void*)>(join(fn_hi, fn_lo));
  fn(reinterpret_cast<void*>(join(arg_hi, arg_lo)));
  __builtin_trap();
}
}  // namespace
#endif

void fiber_prepare(FiberContext& ctx, const FiberStack& s, void (*fn)(void*), void* arg) {
#if MM_FIBER_TSAN
  if (!ctx.tsan_owned) {
    ctx.tsan = __tsan_create_fiber(0);
    ctx.tsan_owned = true;
  }
#endif
#if MM_FIBER_ASM
  uintptr_t top = reinterpret_cast<uintptr_t>(s.base) + s.size;
  top = (top - 64) & ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top - 176);
  std::memset(frame, 0, 176);
#if defined(__x86_64__)
  // Matches mm_fiber_switch's pops; the fiber inherits this thread's FP control state.
  uint32_t mxcsr;
  uint16_t fpcw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  frame = reinterpret_cast<uint64_t*>(top - 64);  // ret pops at top-8, so rsp = top (16-aligned)
  frame[0] = mxcsr | (uint64_t{fpcw} << 32);
  frame[4] = reinterpret_cast<uint64_t>(arg);  // r12
  frame[3] = reinterpret_cast<uint64_t>(fn);   // r13
  frame[7] = reinterpret_cast<uint64_t>(&mm_fiber_start);
#else
  uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  frame[0] = reinterpret_cast<uint64_t>(arg);  // x19
  frame[1] = reinterpret_cast<uint64_t>(fn);   // x20
  frame[11] = reinterpret_cast<uint64_t>(&mm_fiber_start);  // x30
  frame[20] = fpcr;
#endif
  ctx.sp = frame;
#else
  getcontext(&ctx.uc);
  ctx.uc.uc_stack.ss_sp = s.base;
  ctx.uc.uc_stack.ss_size = s.size;
  ctx.uc.uc_link = nullptr;
  const auto f = reinterpret_cast<uintptr_t>(fn), a = reinterpret_cast<uintptr_t>(arg);
  makecontext(&ctx.uc, reinterpret_cast<void (*)()>(&ucontext_start), 4, static_cast<unsigned>(f >> 16 >> 16),
              static_cast<unsigned>(f), static_cast<unsigned>(a >> 16 >> 16), static_cast<unsigned>(a));
#endif
}

// ---- benchmark hook -------------------------------------------------------------------------

namespace {
struct PingPong {
  FiberContext main, a, b;
  FiberStack sa, sb;
  const void* main_bottom = nullptr;
  size_t main_size = 0;
  void *fake_a = nullptr, *fake_b = nullptr;
  uint32_t left = 0;
};

// Fiber A and B hand control to each other until `left` switches are spent, then A returns to main.
void pingpong_a(void* p) {
  auto* pp = static_cast<PingPong*>(p);
  fiber_entered(&pp->main_bottom, &pp->main_size);
  while (pp->left > 0) {
    --pp->left;
    fiber_switch(pp->a, &pp->fake_a, pp->b, pp->sb.base, pp->sb.size);
  }
  fiber_switch(pp->a, nullptr, pp->main, pp->main_bottom, pp->main_size);
  __builtin_trap();
}

void pingpong_b(void* p) {
  auto* pp = static_cast<PingPong*>(p);
  const void* bottom;
  size_t size;
  fiber_entered(&bottom, &size);
  for (;;) {
    if (pp->left > 0) --pp->left;
    fiber_switch(pp->b, &pp->fake_b, pp->a, pp->sa.base, pp->sa.size);
  }
}
}  // namespace

void fiber_pingpong(uint32_t switches) {
  PingPong pp;
  if (!fiber_stack_alloc(pp.sa, 64 << 10)) return;
  if (!fiber_stack_alloc(pp.sb, 64 << 10)) {
    fiber_stack_free(pp.sa);
    return;
  }
  pp.left = switches;
  fiber_prepare(pp.a, pp.sa, pingpong_a, &pp);
  fiber_prepare(pp.b, pp.sb, pingpong_b, &pp);
  void* fake_main = nullptr;
  fiber_switch(pp.main, &fake_main, pp.a, pp.sa.base, pp.sa.size);
  // B is left suspended forever: its stack is simply unmapped (fiber_stack_free clears its shadow).
  fiber_stack_free(pp.sa);
  fiber_stack_free(pp.sb);
}

}  // namespace mm::cpu
