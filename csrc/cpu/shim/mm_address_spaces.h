// mm_address_spaces.h — only for the MSL syntax-only pass (-DMM_ADDRESS_SPACES, scripts/check-msl.ts):
// device/constant/threadgroup become clang address spaces 1/2/3 (mm_shim.h), so mixing them is a
// compile error as in MSL. This header lets the shim's atomics accept device and threadgroup
// objects. Never part of a runtime build: ASan does not instrument address-space accesses.
#ifndef MM_SHIM_ADDRESS_SPACES_H
#define MM_SHIM_ADDRESS_SPACES_H

#include "mm_atomic.h"

namespace metal {

// MSL atomics live in device or threadgroup memory; forward each to the generic-pointer version.
#define MM_AS_ATOMIC_FORWARD(AS)                                                                      \
  template <class T> inline T atomic_load_explicit(const volatile AS atomic<T>* o, memory_order m) {  \
    return atomic_load_explicit((const volatile atomic<T>*)o, m);                                     \
  }                                                                                                   \
  template <class T>                                                                                  \
  inline void atomic_store_explicit(volatile AS atomic<T>* o, atomic_arg_t<T> v, memory_order m) {    \
    atomic_store_explicit((volatile atomic<T>*)o, v, m);                                              \
  }                                                                                                   \
  template <class T>                                                                                  \
  inline bool atomic_compare_exchange_weak_explicit(volatile AS atomic<T>* o, T* e, atomic_arg_t<T> d, \
                                                    memory_order s, memory_order f) {                 \
    return atomic_compare_exchange_weak_explicit((volatile atomic<T>*)o, e, d, s, f);                 \
  }                                                                                                   \
  template <class T>                                                                                  \
  inline bool atomic_compare_exchange_strong_explicit(volatile AS atomic<T>* o, T* e, atomic_arg_t<T> d, \
                                                      memory_order s, memory_order f) {               \
    return atomic_compare_exchange_strong_explicit((volatile atomic<T>*)o, e, d, s, f);               \
  }                                                                                                   \
  MM_AS_ATOMIC_RMW(AS, exchange) MM_AS_ATOMIC_RMW(AS, fetch_add) MM_AS_ATOMIC_RMW(AS, fetch_sub)       \
  MM_AS_ATOMIC_RMW(AS, fetch_min) MM_AS_ATOMIC_RMW(AS, fetch_max) MM_AS_ATOMIC_RMW(AS, fetch_and)      \
  MM_AS_ATOMIC_RMW(AS, fetch_or) MM_AS_ATOMIC_RMW(AS, fetch_xor)
#define MM_AS_ATOMIC_RMW(AS, op)                                                                      \
  template <class T> inline T atomic_##op##_explicit(volatile AS atomic<T>* o, atomic_arg_t<T> v, memory_order m) { \
    return atomic_##op##_explicit((volatile atomic<T>*)o, v, m);                                      \
  }
MM_AS_ATOMIC_FORWARD(__attribute__((address_space(1))))
MM_AS_ATOMIC_FORWARD(__attribute__((address_space(3))))
#undef MM_AS_ATOMIC_RMW
#undef MM_AS_ATOMIC_FORWARD

}  // namespace metal

#endif
