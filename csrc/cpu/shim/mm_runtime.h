// mm_runtime.h — glue between generated kernel code and the CPU runtime (csrc/cpu/rt_abi.h):
// the api table, the current lane, threadgroup arrays, function constants, entry attributes and
// barriers. Every call into the api saves the lane first and re-enters it after: while this lane
// waits, other lanes (fibers) of the same OS thread run and overwrite the current-lane variable.
#ifndef MM_SHIM_RUNTIME_H
#define MM_SHIM_RUNTIME_H

#include "mm_vec.h"

// The caller's site, evaluated at the call (default arguments). g++ 12 lacks __builtin_COLUMN, so
// it takes the column from std::source_location (a small header).
#if defined(__clang__)
#define MM_CALLER_COLUMN __builtin_COLUMN()
#else
#include <source_location>
#define MM_CALLER_COLUMN std::source_location::current().column()
#endif
#define MM_SITE_PARAMS \
  const char *mm_file = __builtin_FILE(), unsigned mm_line = __builtin_LINE(), unsigned mm_col = MM_CALLER_COLUMN
#define MM_SITE_ARGS mm_file, mm_line, mm_col

namespace mm_shim {

// One per linked image (modules are built with -fvisibility=hidden). The lane is per OS thread:
// worker threads run different threadgroups in parallel.
inline const mm_rt_api* g_api = nullptr;
// The shader modules linked into the library (MM_TLS_INITIAL_EXEC, set by lib/build/build.ts) read it
// without a __tls_get_addr call per access (was 14 % of a small-M tiled GEMM's instructions). Modules
// dlopen'ed at run time keep the default model: each would take static TLS space that dlopen cannot grow.
#if defined(MM_TLS_INITIAL_EXEC) && MM_TLS_INITIAL_EXEC
inline thread_local mm_rt_lane* g_lane __attribute__((tls_model("initial-exec"))) = nullptr;
#else
inline thread_local mm_rt_lane* g_lane = nullptr;
#endif

inline void init(const mm_rt_api* api) { g_api = api; }
inline void enter(mm_rt_lane* lane) { g_lane = lane; }
inline mm_rt_lane* cur_lane() { return g_lane; }

// Abort the dispatch with a message; falls back to a trap when no runtime is attached.
[[noreturn]] inline void fail(const char* message, const char* file, unsigned line, unsigned column) {
  mm_rt_site site{file, line, column};
  if (g_api != nullptr && g_lane != nullptr) g_api->fail(g_lane, -1, message, &site);
  __builtin_trap();
}

// `threadgroup T x[..];` in a kernel body, rewritten to `auto& x = tg_array<T[..]>(slot);`.
#ifdef MM_ADDRESS_SPACES
// Syntax-only pass: the array lives in the threadgroup address space (never executed).
template <class A> __attribute__((address_space(3))) A& tg_array(uint32_t slot) {
  return *(__attribute__((address_space(3))) A*)g_api->threadgroup_alloc(cur_lane(), slot, 0, 0);
}
#else
template <class A> A& tg_array(uint32_t slot) {
  mm_rt_lane* me = cur_lane();
  void* p = g_api->threadgroup_alloc(me, slot, uint32_t(sizeof(A)), uint32_t(alignof(A)));
  enter(me);
  return *static_cast<A*>(p);
}
#endif

// Function constant `i`: converts to T when used, reading the lane's specialization values, so a
// #define'd constant works anywhere an expression does. Undefined constants read as T(0).
template <class T> struct fc {
  uint32_t index;
  operator T() const {
    const mm_rt_lane* lane = cur_lane();
    if (lane == nullptr) __builtin_trap();  // used outside a dispatch (e.g. a static initialiser)
    if (index >= MM_MAX_FUNCTION_CONSTANTS || !((lane->function_constants_defined >> index) & 1u)) return T(0);
    const uint64_t bits = lane->function_constants[index];
    if constexpr (std::is_same_v<T, bool>) return bits != 0;  // any non-zero pattern is true
    T value;
    static_assert(sizeof(T) <= sizeof(bits), "function constant wider than 64 bits");
    __builtin_memcpy(static_cast<void*>(&value), &bits, sizeof(T));  // low bytes (little-endian)
    return value;
  }
  bool defined() const {
    const mm_rt_lane* lane = cur_lane();
    return index < MM_MAX_FUNCTION_CONSTANTS && lane != nullptr && ((lane->function_constants_defined >> index) & 1u);
  }
};
template <class T> constexpr fc<T> function_constant(uint32_t index) { return fc<T>{index}; }
template <class T> bool is_function_constant_defined(const fc<T>& c) { return c.defined(); }

// Kernel attribute from a lane field: uint32_t[3] or uint32_t -> uint/ushort/uint2/ushort3/...
template <class T> T attr(const uint32_t (&v)[3]) {
  if constexpr (VecLike<T>) {
    using E = typename T::value_type;
    if constexpr (T::size == 2) return T(E(v[0]), E(v[1]));
    else return T(E(v[0]), E(v[1]), E(v[2]));
  } else {
    return T(v[0]);
  }
}
template <class T> T attr(uint32_t v) { return T(v); }

}  // namespace mm_shim

namespace metal {

enum class mem_flags : unsigned {
  mem_none = MM_RT_MEM_NONE,
  mem_device = MM_RT_MEM_DEVICE,
  mem_threadgroup = MM_RT_MEM_THREADGROUP,
  mem_texture = MM_RT_MEM_TEXTURE
};
constexpr mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(unsigned(a) | unsigned(b)); }
constexpr mem_flags operator&(mem_flags a, mem_flags b) { return mem_flags(unsigned(a) & unsigned(b)); }

// The site defaults are evaluated at the caller, so the rendezvous is keyed by the .metal line. The
// flags go to the runtime: race mode orders only the address spaces they name.
inline void threadgroup_barrier(mem_flags flags = mem_flags::mem_none, MM_SITE_PARAMS) {
  mm_rt_lane* me = ::mm_shim::cur_lane();
  const mm_rt_site site{MM_SITE_ARGS};
  ::mm_shim::g_api->threadgroup_barrier(me, &site, uint32_t(flags));
  ::mm_shim::enter(me);
}
inline void simdgroup_barrier(mem_flags flags = mem_flags::mem_none, MM_SITE_PARAMS) {
  mm_rt_lane* me = ::mm_shim::cur_lane();
  const mm_rt_site site{MM_SITE_ARGS};
  ::mm_shim::g_api->simdgroup_barrier(me, &site, uint32_t(flags));
  ::mm_shim::enter(me);
}

using ::mm_shim::is_function_constant_defined;

}  // namespace metal

using ::mm_shim::is_function_constant_defined;

#endif
