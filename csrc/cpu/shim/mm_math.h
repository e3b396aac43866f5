// mm_math.h — the metal:: math library (also reachable as metal::fast:: and metal::precise::).
// half functions compute in float and round once to half; vector versions apply the scalar
// function per component. Only compiler builtins are used, so no libc names leak into shaders.
#ifndef MM_SHIM_MATH_H
#define MM_SHIM_MATH_H

#include "mm_vec.h"

namespace mm_shim {
template <class... A>
concept AnyVec = (VecLike<A> || ...) && ((VecLike<A> || ScalarArg<A>) && ...);
}

// Vector forms: apply the scalar overload of `name` per component (scalars broadcast).
#define MM_VEC_FN1(name)                                                         \
  template <::mm_shim::VecLike A> inline auto name(const A& a) {                 \
    using T = ::mm_shim::elem_t<A>;                                              \
    return ::mm_shim::ew([](T x) { return name(x); }, a);                        \
  }
#define MM_VEC_FN2(name)                                                         \
  template <class A, class B>                                                    \
    requires ::mm_shim::AnyVec<A, B>                                             \
  inline auto name(const A& a, const B& b) {                                     \
    return ::mm_shim::ew([](auto x, auto y) { return name(x, y); }, a, b);       \
  }
#define MM_VEC_FN3(name)                                                         \
  template <class A, class B, class C>                                           \
    requires ::mm_shim::AnyVec<A, B, C>                                          \
  inline auto name(const A& a, const B& b, const C& c) {                         \
    return ::mm_shim::ew([](auto x, auto y, auto z) { return name(x, y, z); }, a, b, c); \
  }

// Scalar forms are constrained templates, not plain overloads: if a libc header made ::abs(int)
// or ::exp(double) visible, an exact non-template libc match wins (same result) instead of the
// call becoming ambiguous under `using namespace metal`. half in -> half out, else float.
#define MM_FLOAT_FN1(name, expr)                                                 \
  template <::mm_shim::ScalarArg A> inline ::mm_shim::fres_t<::mm_shim::sv_t<A>> name(A a_) {        \
    const float x = float(a_);                                                   \
    return ::mm_shim::fres_t<::mm_shim::sv_t<A>>(expr);                                           \
  }                                                                              \
  MM_VEC_FN1(name)
#define MM_FLOAT_FN2(name, expr)                                                 \
  template <::mm_shim::ScalarArg A, ::mm_shim::ScalarArg B>                            \
  inline ::mm_shim::fres_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>> name(A a_, B b_) {                              \
    const float x = float(a_), y = float(b_);                                    \
    return ::mm_shim::fres_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>>(expr);                                        \
  }                                                                              \
  MM_VEC_FN2(name)
#define MM_FLOAT_FN3(name, expr)                                                 \
  template <::mm_shim::ScalarArg A, ::mm_shim::ScalarArg B, ::mm_shim::ScalarArg C>       \
  inline ::mm_shim::fres_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>, ::mm_shim::sv_t<C>> name(A a_, B b_, C c_) {                     \
    const float x = float(a_), y = float(b_), z = float(c_);                     \
    return ::mm_shim::fres_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>, ::mm_shim::sv_t<C>>(expr);                                     \
  }                                                                              \
  MM_VEC_FN3(name)

namespace mm_shim {
typedef signed char schar;
template <class... T> using fres_t = std::conditional_t<(std::is_same_v<T, half> && ...), half, float>;
// Mixed scalar arguments of min/max/clamp: same type stays; a floating type beats an integer
// literal; two integers follow C++ (as MSL); half with float computes in float.
template <class A, class B> struct mix2 {
  using type = std::conditional_t<std::is_same_v<A, B>, A,
               std::conditional_t<is_float_v<A> && !is_float_v<B>, A,
               std::conditional_t<is_float_v<B> && !is_float_v<A>, B,
               std::conditional_t<is_float_v<A>, float, std::common_type_t<A, B>>>>>;
};
template <class A, class... R> struct mixn { using type = A; };
template <class A, class B, class... R> struct mixn<A, B, R...> : mixn<typename mix2<A, B>::type, R...> {};
template <class... T> using mix_t = typename mixn<T...>::type;
}  // namespace mm_shim

namespace metal {

MM_FLOAT_FN1(exp, __builtin_expf(x))
MM_FLOAT_FN1(exp2, __builtin_exp2f(x))
MM_FLOAT_FN1(exp10, __builtin_powf(10.0f, x))
MM_FLOAT_FN1(log, __builtin_logf(x))
MM_FLOAT_FN1(log2, __builtin_log2f(x))
MM_FLOAT_FN1(log10, __builtin_log10f(x))
MM_FLOAT_FN1(sqrt, __builtin_sqrtf(x))
MM_FLOAT_FN1(rsqrt, 1.0f / __builtin_sqrtf(x))
MM_FLOAT_FN1(sin, __builtin_sinf(x))
MM_FLOAT_FN1(cos, __builtin_cosf(x))
MM_FLOAT_FN1(tan, __builtin_tanf(x))
MM_FLOAT_FN1(tanh, __builtin_tanhf(x))
MM_FLOAT_FN1(sinh, __builtin_sinhf(x))
MM_FLOAT_FN1(cosh, __builtin_coshf(x))
MM_FLOAT_FN1(asin, __builtin_asinf(x))
MM_FLOAT_FN1(acos, __builtin_acosf(x))
MM_FLOAT_FN1(atan, __builtin_atanf(x))
MM_FLOAT_FN1(erf, __builtin_erff(x))
MM_FLOAT_FN1(floor, __builtin_floorf(x))
MM_FLOAT_FN1(ceil, __builtin_ceilf(x))
MM_FLOAT_FN1(round, __builtin_roundf(x))
MM_FLOAT_FN1(rint, __builtin_rintf(x))
MM_FLOAT_FN1(trunc, __builtin_truncf(x))
// MSL: fract(x) = fmin(x - floor(x), largest float below 1).
MM_FLOAT_FN1(fract, __builtin_fminf(x - __builtin_floorf(x), 0x1.fffffep-1f))
MM_FLOAT_FN1(saturate, __builtin_fminf(__builtin_fmaxf(x, 0.0f), 1.0f))
MM_FLOAT_FN1(sign, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : (x == x ? x : 0.0f)))
MM_FLOAT_FN2(pow, __builtin_powf(x, y))
MM_FLOAT_FN2(powr, __builtin_powf(x, y))
MM_FLOAT_FN2(fmod, __builtin_fmodf(x, y))
MM_FLOAT_FN2(atan2, __builtin_atan2f(x, y))
MM_FLOAT_FN2(step, y < x ? 0.0f : 1.0f)  // step(edge, x)
MM_FLOAT_FN2(fmin, __builtin_fminf(x, y))
MM_FLOAT_FN2(fmax, __builtin_fmaxf(x, y))
MM_FLOAT_FN2(fdim, __builtin_fdimf(x, y))
MM_FLOAT_FN2(copysign, __builtin_copysignf(x, y))
MM_FLOAT_FN3(fma, __builtin_fmaf(x, y, z))
MM_FLOAT_FN3(mad, x * y + z)
MM_FLOAT_FN3(mix, x + (y - x) * z)
MM_FLOAT_FN3(smoothstep, (__builtin_fminf(__builtin_fmaxf((z - x) / (y - x), 0.0f), 1.0f)) *
                             (__builtin_fminf(__builtin_fmaxf((z - x) / (y - x), 0.0f), 1.0f)) *
                             (3.0f - 2.0f * __builtin_fminf(__builtin_fmaxf((z - x) / (y - x), 0.0f), 1.0f)))

// min/max/abs/clamp for every scalar type; floats follow fmin/fmax (a NaN argument is ignored).
template <::mm_shim::ScalarArg A, ::mm_shim::ScalarArg B> inline ::mm_shim::mix_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>> min(A a, B b) {
  using R = ::mm_shim::mix_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>>;
  if constexpr (::mm_shim::is_float_v<R>) return R(__builtin_fminf(float(a), float(b)));
  else return R(b) < R(a) ? R(b) : R(a);
}
template <::mm_shim::ScalarArg A, ::mm_shim::ScalarArg B> inline ::mm_shim::mix_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>> max(A a, B b) {
  using R = ::mm_shim::mix_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>>;
  if constexpr (::mm_shim::is_float_v<R>) return R(__builtin_fmaxf(float(a), float(b)));
  else return R(a) < R(b) ? R(b) : R(a);
}
template <::mm_shim::ScalarArg A, ::mm_shim::ScalarArg B, ::mm_shim::ScalarArg C>
inline ::mm_shim::mix_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>, ::mm_shim::sv_t<C>> clamp(A x, B lo, C hi) {
  using R = ::mm_shim::mix_t<::mm_shim::sv_t<A>, ::mm_shim::sv_t<B>, ::mm_shim::sv_t<C>>;
  return min(max(R(x), R(lo)), R(hi));
}
template <::mm_shim::ScalarArg A> inline ::mm_shim::sv_t<A> abs(A a) {
  using V = ::mm_shim::sv_t<A>;
  const V x = a;
  if constexpr (::mm_shim::is_float_v<V>) return V(__builtin_fabsf(float(x)));
  else if constexpr (std::is_signed_v<V>) return x < V(0) ? V(-x) : x;
  else return x;
}
MM_VEC_FN1(abs)
MM_VEC_FN2(min)
MM_VEC_FN2(max)
MM_VEC_FN3(clamp)
template <class T>
  requires ::mm_shim::Scalar<T>
inline T min3(T a, T b, T c) { return min(min(a, b), c); }
template <class T>
  requires ::mm_shim::Scalar<T>
inline T max3(T a, T b, T c) { return max(max(a, b), c); }
template <class T>
  requires ::mm_shim::Scalar<T>
inline T median3(T a, T b, T c) { return max(min(a, b), min(max(a, b), c)); }
MM_VEC_FN3(min3)
MM_VEC_FN3(max3)
MM_VEC_FN3(median3)

// Classification.
template <::mm_shim::ScalarArg A> inline bool isnan(A x) { return __builtin_isnan(float(x)); }
template <::mm_shim::ScalarArg A> inline bool isinf(A x) { return __builtin_isinf(float(x)); }
template <::mm_shim::ScalarArg A> inline bool isfinite(A x) { return __builtin_isfinite(float(x)); }
template <::mm_shim::ScalarArg A> inline bool signbit(A x) { return __builtin_signbit(float(x)); }
MM_VEC_FN1(isnan)
MM_VEC_FN1(isinf)
MM_VEC_FN1(isfinite)
MM_VEC_FN1(signbit)

// select(a, b, c) = c ? b : a, per component for vectors.
template <class T>
  requires ::mm_shim::Scalar<T>
inline T select(T a, T b, bool c) { return c ? b : a; }
template <class A, class B, class C>
  requires ::mm_shim::AnyVec<A, B, C>
inline auto select(const A& a, const B& b, const C& c) {
  using T = typename ::mm_shim::first_vec_t<A, B>::value_type;
  return ::mm_shim::ew([](T x, T y, bool z) { return z ? y : x; }, ::mm_shim::vec_of<A>(a), b, c);
}

inline bool all(bool b) { return b; }
inline bool any(bool b) { return b; }
template <::mm_shim::VecLike A> inline bool all(const A& a) {
  const ::mm_shim::vec_of<A> v = a;
  bool r = true;
  for (int i = 0; i < v.size; i++) r = r && bool(v.e[i]);
  return r;
}
template <::mm_shim::VecLike A> inline bool any(const A& a) {
  const ::mm_shim::vec_of<A> v = a;
  bool r = false;
  for (int i = 0; i < v.size; i++) r = r || bool(v.e[i]);
  return r;
}

// Geometric functions: accumulate in float, return the vector's element type.
template <class A, class B>
  requires(::mm_shim::VecLike<A> && ::mm_shim::VecLike<B>)
inline auto dot(const A& a, const B& b) {
  using T = ::mm_shim::elem_t<A>;
  const ::mm_shim::vec_of<A> x = a;
  const ::mm_shim::vec_of<B> y = b;
  float s = 0.0f;
  for (int i = 0; i < x.size; i++) s += float(x.e[i]) * float(y.e[i]);
  return T(s);
}
template <::mm_shim::VecLike A> inline auto length(const A& a) {
  using T = ::mm_shim::elem_t<A>;
  return T(__builtin_sqrtf(float(dot(a, a))));
}
template <::mm_shim::VecLike A> inline auto length_squared(const A& a) { return dot(a, a); }
template <class A, class B>
  requires(::mm_shim::VecLike<A> && ::mm_shim::VecLike<B>)
inline auto distance(const A& a, const B& b) { return length(a - b); }
template <::mm_shim::VecLike A> inline auto normalize(const A& a) {
  using T = ::mm_shim::elem_t<A>;
  return ::mm_shim::vec_of<A>(a) * T(1.0f / __builtin_sqrtf(float(dot(a, a))));
}

// Integer bit functions; clz/ctz of 0 give the bit width, as in MSL.
template <class T> constexpr int bit_width_of() { return int(sizeof(T) * 8); }
template <class A>
  requires std::is_integral_v<A>
inline A popcount(A x) { return A(__builtin_popcountll((unsigned long long)(std::make_unsigned_t<A>)x)); }
template <class A>
  requires std::is_integral_v<A>
inline A clz(A x) {
  const unsigned long long u = (std::make_unsigned_t<A>)x;
  return u == 0 ? A(bit_width_of<A>()) : A(__builtin_clzll(u) - (64 - bit_width_of<A>()));
}
template <class A>
  requires std::is_integral_v<A>
inline A ctz(A x) {
  const unsigned long long u = (std::make_unsigned_t<A>)x;
  return u == 0 ? A(bit_width_of<A>()) : A(__builtin_ctzll(u));
}
MM_VEC_FN1(popcount)
MM_VEC_FN1(clz)
MM_VEC_FN1(ctz)

}  // namespace metal
namespace mm_shim {
template <class To, class From> inline To bit_copy(const From& from) {
  static_assert(sizeof(To) == sizeof(From), "as_type: source and destination sizes differ");
  To to;
  __builtin_memcpy(static_cast<void*>(&to), static_cast<const void*>(&from), sizeof(To));
  return to;
}
}  // namespace mm_shim

namespace metal {
// as_type<T>(x): reinterpret the bytes; sizes must match exactly (half3 is 8 bytes, as in MSL).
template <class To, class From> inline To as_type(const From& from) {
  if constexpr (::mm_shim::VecLike<From>) {
    if constexpr (!std::is_same_v<::mm_shim::vec_of<From>, From>) return as_type<To>(::mm_shim::vec_of<From>(from));
    else return ::mm_shim::bit_copy<To>(from);
  } else {
    return ::mm_shim::bit_copy<To>(from);
  }
}

// The parts of MSL's numeric_limits kernels use.
template <class T> struct numeric_limits;
template <> struct numeric_limits<float> {
  static constexpr float max() { return __FLT_MAX__; }
  static constexpr float min() { return __FLT_MIN__; }
  static constexpr float lowest() { return -__FLT_MAX__; }
  static constexpr float epsilon() { return __FLT_EPSILON__; }
  static constexpr float infinity() { return __builtin_huge_valf(); }
  static constexpr float quiet_NaN() { return __builtin_nanf(""); }
};
template <> struct numeric_limits<half> {
  static constexpr half max() { return half(65504.0f); }
  static constexpr half min() { return half(0x1p-14f); }
  static constexpr half lowest() { return half(-65504.0f); }
  static constexpr half epsilon() { return half(0x1p-10f); }
  static constexpr half infinity() { return half(__builtin_huge_valf()); }
  static constexpr half quiet_NaN() { return half(__builtin_nanf("")); }
};
#define MM_INT_LIMITS(T)                                                                   \
  template <> struct numeric_limits<T> {                                                   \
    static constexpr T max() { return std::is_signed_v<T> ? T(~0ull >> (65 - bit_width_of<T>())) : T(~0ull); } \
    static constexpr T lowest() { return std::is_signed_v<T> ? T(-max() - 1) : T(0); }       \
    static constexpr T min() { return lowest(); }                                          \
  };
#define MM_INT_TYPES(X) X(int) X(short) X(char) X(::mm_shim::schar) X(long) X(uint) X(ushort) X(uchar) X(ulong)
MM_INT_TYPES(MM_INT_LIMITS)
#undef MM_INT_LIMITS
#undef MM_INT_TYPES

namespace fast { using namespace ::metal; }
namespace precise { using namespace ::metal; }

}  // namespace metal

// MSL's predefined constants (macros in MSL too). Guarded in case a libc header defined them.
#ifndef MAXFLOAT
#define MAXFLOAT __FLT_MAX__
#endif
#ifndef HUGE_VALF
#define HUGE_VALF (__builtin_huge_valf())
#endif
#ifndef INFINITY
#define INFINITY (__builtin_inff())
#endif
#ifndef NAN
#define NAN (__builtin_nanf(""))
#endif
#ifndef FLT_MAX
#define FLT_MAX __FLT_MAX__
#endif
#ifndef FLT_MIN
#define FLT_MIN __FLT_MIN__
#endif
#ifndef FLT_EPSILON
#define FLT_EPSILON __FLT_EPSILON__
#endif
#define MAXHALF (half(65504.0f))
#define HALF_MAX (half(65504.0f))
#define HALF_MIN (half(0x1p-14f))
#define HALF_EPSILON (half(0x1p-10f))
#define HUGE_VALH (half(__builtin_huge_valf()))
#define M_PI_F 3.14159265358979323846f
#define M_PI_2_F 1.57079632679489661923f
#define M_1_PI_F 0.318309886183790671538f
#define M_E_F 2.71828182845904523536f
#define M_LOG2E_F 1.44269504088896340736f
#define M_LOG10E_F 0.434294481903251827651f
#define M_LN2_F 0.693147180559945309417f
#define M_LN10_F 2.30258509299404568402f
#define M_SQRT2_F 1.41421356237309504880f
#define M_SQRT1_2_F 0.707106781186547524401f
#define M_PI_H (half(M_PI_F))
#define M_LOG2E_H (half(M_LOG2E_F))
#define M_LN2_H (half(M_LN2_F))

#endif
