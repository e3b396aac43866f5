// mm_types.h — MSL scalar types and the type traits the rest of the shim builds on.
// MSL's `half` is IEEE binary16; _Float16 is that type in both g++ 12 and clang 16.
#ifndef MM_SHIM_TYPES_H
#define MM_SHIM_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <type_traits>

#include "metal_marlin.h"
#include "rt_abi.h"

// Same spellings as glibc's <sys/types.h> so a shader that also pulls that header in still compiles.
typedef _Float16 half;
typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;
typedef unsigned long ulong;
static_assert(sizeof(ulong) == 8, "MSL ulong is 64-bit");

namespace mm_shim {

template <class T, int N> struct vec;

// Scalars MSL vectors may hold. std::is_arithmetic does not know _Float16 in libstdc++ 12.
template <class T>
concept Scalar = std::is_arithmetic_v<T> || std::is_same_v<T, half>;

// A scalar argument may also be a function constant object (fc<T>, mm_runtime.h) that converts
// to T on use; sv_t names the scalar it stands for.
template <class T> struct fc;
template <class A> struct scalar_value { using type = A; };
template <class T> struct scalar_value<fc<T>> { using type = T; };
template <class A> using sv_t = typename scalar_value<std::remove_cvref_t<A>>::type;
template <class A>
concept ScalarArg = Scalar<sv_t<A>>;

// Anything that behaves as a vector value: vec itself and swizzle proxies. Each exposes
// mm_vec_type, the vec it converts to.
template <class A>
concept VecLike = requires { typename std::remove_cvref_t<A>::mm_vec_type; };

template <class A> using vec_of = typename std::remove_cvref_t<A>::mm_vec_type;

template <class A> struct elem_of { using type = A; };
template <VecLike A> struct elem_of<A> { using type = typename vec_of<A>::value_type; };
template <class A> using elem_t = typename elem_of<std::remove_cvref_t<A>>::type;

template <class A> constexpr int width_of() {
  if constexpr (VecLike<A>) return vec_of<A>::size; else return 1;
}

#ifdef MM_ADDRESS_SPACES
// The syntax-only pass qualifies pointees with address spaces 1..3; unqual_t drops them with cv.
template <class T> struct strip_as { using type = T; };
template <class T> struct strip_as<__attribute__((address_space(1))) T> { using type = T; };
template <class T> struct strip_as<__attribute__((address_space(2))) T> { using type = T; };
template <class T> struct strip_as<__attribute__((address_space(3))) T> { using type = T; };
template <class T> using unqual_t = std::remove_cv_t<typename strip_as<std::remove_cvref_t<T>>::type>;
#endif

template <class T> constexpr bool is_float_v = std::is_floating_point_v<T> || std::is_same_v<T, half>;

// Reflection dtype of a buffer pointee (rt_abi.h mm_rt_arg::dtype). Vectors and atomics report
// their scalar; structs report 0 so the host skips the dtype check.
template <class T> constexpr uint32_t dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (VecLike<U>) {
    return dtype_of<typename vec_of<U>::value_type>();
  } else if constexpr (requires { typename U::mm_atomic_value; }) {
    return dtype_of<typename U::mm_atomic_value>();
  } else if constexpr (std::is_same_v<U, half>) {
    return MM_DTYPE_F16;
  } else if constexpr (std::is_same_v<U, float>) {
    return MM_DTYPE_F32;
  } else if constexpr (std::is_same_v<U, int>) {
    return MM_DTYPE_I32;
  } else if constexpr (std::is_same_v<U, uint>) {
    return MM_DTYPE_U32;
  } else if constexpr (std::is_same_v<U, ushort>) {
    return MM_DTYPE_U16;
  } else if constexpr (std::is_same_v<U, short>) {
    return MM_DTYPE_I16;
  } else if constexpr (std::is_same_v<U, uchar>) {
    return MM_DTYPE_U8;
  } else if constexpr (std::is_same_v<U, char> || std::is_same_v<U, signed char>) {
    return MM_DTYPE_I8;
  } else {
    return 0u;
  }
}

}  // namespace mm_shim

#endif
