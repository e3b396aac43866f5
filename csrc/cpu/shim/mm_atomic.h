// mm_atomic.h — MSL atomics. Threadgroups run in parallel on worker threads, so device atomics
// must be real CPU atomics (__atomic builtins); float add/min/max are compare-exchange loops.
#ifndef MM_SHIM_ATOMIC_H
#define MM_SHIM_ATOMIC_H

#include "mm_types.h"
#include "mm_instrument.h"

namespace metal {

enum memory_order {
  memory_order_relaxed = __ATOMIC_RELAXED,
  memory_order_acquire = __ATOMIC_ACQUIRE,
  memory_order_release = __ATOMIC_RELEASE,
  memory_order_acq_rel = __ATOMIC_ACQ_REL,
  memory_order_seq_cst = __ATOMIC_SEQ_CST,
};

// Same size and layout as T, so a buffer of uint can be bound as atomic_uint.
template <class T> struct atomic {
  using mm_atomic_value = T;
  T value;
};
static_assert(sizeof(atomic<float>) == 4 && alignof(atomic<int>) == 4);

typedef atomic<int> atomic_int;
typedef atomic<uint> atomic_uint;
typedef atomic<float> atomic_float;
typedef atomic<bool> atomic_bool;
typedef atomic<ulong> atomic_ulong;

template <class T> using atomic_arg_t = std::type_identity_t<T>;

// Failure order of a compare-exchange may not be release/acq_rel; clamp it.
constexpr int mm_load_order(memory_order o) {
  return o == memory_order_release ? __ATOMIC_RELAXED : o == memory_order_acq_rel ? __ATOMIC_ACQUIRE : int(o);
}

template <class T> inline T atomic_load_explicit(const volatile atomic<T>* obj, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD);
  T r;
  __atomic_load(&obj->value, &r, mm_load_order(o));
  return r;
}
template <class T> inline void atomic_store_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_STORE);
  T x = v;
  __atomic_store(&obj->value, &x, o == memory_order_acquire ? __ATOMIC_RELAXED : int(o));
}
template <class T> inline T atomic_exchange_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  T x = v, r;
  __atomic_exchange(&obj->value, &x, &r, int(o));
  return r;
}
template <class T>
inline bool atomic_compare_exchange_weak_explicit(volatile atomic<T>* obj, T* expected, atomic_arg_t<T> desired,
                                                  memory_order success, memory_order failure) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  T d = desired;
  return __atomic_compare_exchange(&obj->value, expected, &d, true, int(success), mm_load_order(failure));
}
template <class T>
inline bool atomic_compare_exchange_strong_explicit(volatile atomic<T>* obj, T* expected, atomic_arg_t<T> desired,
                                                    memory_order success, memory_order failure) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  T d = desired;
  return __atomic_compare_exchange(&obj->value, expected, &d, false, int(success), mm_load_order(failure));
}

// Read-modify-write through a CAS loop: used for float, where no native fetch_add exists.
template <class T, class F> inline T mm_atomic_rmw(volatile atomic<T>* obj, F f, memory_order o) {
  T old, next;
  __atomic_load(&obj->value, &old, __ATOMIC_RELAXED);
  do {
    next = f(old);
  } while (!__atomic_compare_exchange(&obj->value, &old, &next, true, int(o), mm_load_order(o)));
  return old;
}

template <class T> inline T atomic_fetch_add_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  if constexpr (std::is_integral_v<T>) return __atomic_fetch_add(&obj->value, v, int(o));
  else return mm_atomic_rmw(obj, [v](T x) { return T(x + v); }, o);
}
template <class T> inline T atomic_fetch_sub_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  if constexpr (std::is_integral_v<T>) return __atomic_fetch_sub(&obj->value, v, int(o));
  else return mm_atomic_rmw(obj, [v](T x) { return T(x - v); }, o);
}
template <class T> inline T atomic_fetch_min_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  return mm_atomic_rmw(obj, [v](T x) { return v < x ? v : x; }, o);
}
template <class T> inline T atomic_fetch_max_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  return mm_atomic_rmw(obj, [v](T x) { return x < v ? v : x; }, o);
}
template <class T> inline T atomic_fetch_and_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  return __atomic_fetch_and(&obj->value, v, int(o));
}
template <class T> inline T atomic_fetch_or_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  return __atomic_fetch_or(&obj->value, v, int(o));
}
template <class T> inline T atomic_fetch_xor_explicit(volatile atomic<T>* obj, atomic_arg_t<T> v, memory_order o) {
  MM_INSTR_ATOMIC(&obj->value, MM_RT_ACCESS_LOAD | MM_RT_ACCESS_STORE);
  return __atomic_fetch_xor(&obj->value, v, int(o));
}

}  // namespace metal

using metal::atomic_bool;
using metal::atomic_float;
using metal::atomic_int;
using metal::atomic_uint;

#endif
