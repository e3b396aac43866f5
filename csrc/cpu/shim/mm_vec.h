// mm_vec.h — MSL vector types: vec<T,N> with named members, swizzles, MSL constructor syntax and
// element-wise operators. Copying a vec copies its storage as one block (access-faithful), never
// per-component reads of device memory.
//
// Why vec is not std::is_trivially_copyable: swizzle proxies live in a union with the storage, and
// `v.yz = c.yz` (c const, same proxy type) must write two components; C++ gives that statement the
// same operator the union's implicit copy uses, so a correct proxy copy makes the union's copy
// assignment non-trivial. vec therefore defines copy assignment as one block copy; copy
// construction stays trivial (so vec still travels in registers and constructs with memcpy).
#ifndef MM_SHIM_VEC_H
#define MM_SHIM_VEC_H

#include "mm_types.h"
#include "swizzles.inc"

namespace mm_shim {

template <int... I> constexpr bool distinct_indices() {
  constexpr int idx[] = {I...};
  for (unsigned a = 0; a < sizeof...(I); a++)
    for (unsigned b = a + 1; b < sizeof...(I); b++)
      if (idx[a] == idx[b]) return false;
  return true;
}

// A swizzle proxy overlays the vector's storage (S elements) and names components I...
// Kept minimal (a vec4 type instantiates ~340 of these): compound assignment is a free function.
template <int... I> inline constexpr bool swz_writable = distinct_indices<I...>();
template <class T, int S, int... I> struct swz {
  using mm_vec_type = vec<T, sizeof...(I)>;
  T e[S];

  constexpr operator mm_vec_type() const { return mm_vec_type(e[I]...); }
  constexpr swz& operator=(const swz& o) {
    static_assert(swz_writable<I...>, "a swizzle with a repeated component is not assignable");
    return *this = mm_vec_type(o);
  }
  template <class U>
    requires(swz_writable<I...> && (VecLike<U> || ScalarArg<U>))
  constexpr swz& operator=(U&& o) {
    const mm_vec_type t(o);  // read first: v.xy = v.yx must see the old values
    int k = 0;
    ((e[I] = t[k++]), ...);
    return *this;
  }
};
#define MM_SWZ_COMPOUND(op)                                                               \
  template <class T, int S, int... I, class U>                                            \
  constexpr swz<T, S, I...>& operator op##=(swz<T, S, I...>& s, const U& o) {             \
    return s = (vec<T, sizeof...(I)>(s) op o);                                            \
  }
MM_SWZ_COMPOUND(+) MM_SWZ_COMPOUND(-) MM_SWZ_COMPOUND(*) MM_SWZ_COMPOUND(/)
MM_SWZ_COMPOUND(%) MM_SWZ_COMPOUND(&) MM_SWZ_COMPOUND(|) MM_SWZ_COMPOUND(^)
MM_SWZ_COMPOUND(<<) MM_SWZ_COMPOUND(>>)
#undef MM_SWZ_COMPOUND

// Storage per width: the raw block (what copies move), named components, and the swizzles.
#define MM_SWZ_MEMBER(name, ...) swz<T, S, __VA_ARGS__> name;
template <class T, int S> struct vec_block { T e[S]; };

template <class T, int N> struct vec_storage;

template <class T> struct alignas(2 * sizeof(T)) vec_storage<T, 2> {
  static constexpr int S = 2;
  union {
    T e[2];
    vec_block<T, 2> mm_raw;
    struct { T x, y; };
    struct { T r, g; };
    MM_SWIZZLES_2(MM_SWZ_MEMBER)
  };
};
template <class T> struct alignas(4 * sizeof(T)) vec_storage<T, 3> {
  static constexpr int S = 4;  // MSL pads 3-vectors to 4 elements
  union {
    T e[4];
    vec_block<T, 4> mm_raw;
    struct { T x, y, z; };
    struct { T r, g, b; };
    MM_SWIZZLES_3(MM_SWZ_MEMBER)
  };
};
template <class T> struct alignas(4 * sizeof(T)) vec_storage<T, 4> {
  static constexpr int S = 4;
  union {
    T e[4];
    vec_block<T, 4> mm_raw;
    struct { T x, y, z, w; };
    struct { T r, g, b, a; };
    MM_SWIZZLES_4(MM_SWZ_MEMBER)
  };
};
#undef MM_SWZ_MEMBER

template <class... A> constexpr int total_width() { return (0 + ... + width_of<std::remove_cvref_t<A>>()); }

template <class T, int N> struct vec : vec_storage<T, N> {
  static_assert(N >= 2 && N <= 4, "MSL vectors have 2, 3 or 4 components");
  using value_type = T;
  using mm_vec_type = vec;
  static constexpr int size = N;

  vec() = default;
  vec(const vec&) = default;
  constexpr vec& operator=(const vec& o) {
    this->mm_raw = o.mm_raw;
    return *this;
  }
#ifdef MM_ADDRESS_SPACES
  // Syntax-only pass (mm_address_spaces.h): copies out of device/constant/threadgroup objects.
  template <int AS> constexpr vec(const __attribute__((address_space(AS))) vec& o) {
    for (int i = 0; i < vec_storage<T, N>::S; i++) this->e[i] = o.e[i];
  }
  template <int AS> constexpr vec& operator=(const __attribute__((address_space(AS))) vec& o) {
    for (int i = 0; i < vec_storage<T, N>::S; i++) this->e[i] = o.e[i];
    return *this;
  }
#endif
  // Splat: MSL converts a scalar to any vector implicitly (`float4 v = 0;`).
  template <class U>
    requires ScalarArg<U>
  constexpr vec(U s) {
    for (int i = 0; i < vec_storage<T, N>::S; i++) this->e[i] = T(s);
  }
  // Same-width vector: implicit from a swizzle of the same type, explicit across element types.
  template <VecLike V>
    requires(vec_of<V>::size == N)
  constexpr explicit(!std::is_same_v<typename vec_of<V>::value_type, T>) vec(const V& v) {
    const vec_of<V> t = v;
    for (int i = 0; i < N; i++) this->e[i] = T(t.e[i]);
    pad();
  }
  // Flattening: float4(a.xy, 1, 2), float4(f3, w), uint2(x, y) ...
  template <class A0, class A1, class... As>
    requires(total_width<A0, A1, As...>() == N)
  constexpr vec(const A0& a0, const A1& a1, const As&... as) {
    int i = 0;
    put(i, a0);
    put(i, a1);
    (put(i, as), ...);
    pad();
  }

  constexpr T& operator[](size_t i) { return this->e[i]; }
  constexpr const T& operator[](size_t i) const { return this->e[i]; }

#define MM_VEC_COMPOUND(op) \
  template <class U> constexpr vec& operator op##=(const U& o) { return *this = (*this op o); }
  MM_VEC_COMPOUND(+) MM_VEC_COMPOUND(-) MM_VEC_COMPOUND(*) MM_VEC_COMPOUND(/)
  MM_VEC_COMPOUND(%) MM_VEC_COMPOUND(&) MM_VEC_COMPOUND(|) MM_VEC_COMPOUND(^)
  MM_VEC_COMPOUND(<<) MM_VEC_COMPOUND(>>)
#undef MM_VEC_COMPOUND
  constexpr vec& operator++() { return *this += T(1); }
  constexpr vec& operator--() { return *this -= T(1); }
  constexpr vec operator++(int) { vec old = *this; *this += T(1); return old; }
  constexpr vec operator--(int) { vec old = *this; *this -= T(1); return old; }

 private:
  // The padding lane of a 3-vector is zeroed so byte-wise copies and memo keys are deterministic.
  constexpr void pad() {
    if constexpr (N == 3) this->e[3] = T(0);
  }
  template <class A> constexpr void put(int& i, const A& a) {
    if constexpr (VecLike<A>) {
      const vec_of<A> t = a;
      for (int k = 0; k < vec_of<A>::size; k++) this->e[i++] = T(t.e[k]);
    } else {
      this->e[i++] = T(a);
    }
  }
};

// ---- element-wise machinery shared by operators and the metal:: math library ----

// Convert an operand to what the element loop indexes: a vec (proxies materialised once) or a
// scalar converted to the vector's element type T.
template <class T, class A> constexpr auto operand(const A& a) {
  if constexpr (VecLike<A>) return vec_of<A>(a); else return T(a);
}
template <class A> constexpr auto at(const A& a, int i) {
  if constexpr (VecLike<A>) return a.e[i]; else return a;
}
template <class... A> struct first_vec;
template <class A, class... R> struct first_vec<A, R...> {
  using type = std::conditional_t<VecLike<A>, A, typename first_vec<R...>::type>;
};
template <class A> struct first_vec<A> { using type = A; };
template <class... A> using first_vec_t = vec_of<typename first_vec<std::remove_cvref_t<A>...>::type>;

// Apply f per component; scalars broadcast. Result element type is whatever f returns.
template <class F, class... A> constexpr auto ew(F f, const A&... a) {
  using V = first_vec_t<A...>;
  constexpr int N = V::size;
  static_assert(((width_of<A>() == 1 || width_of<A>() == N) && ...), "vector widths differ");
  using T = typename V::value_type;
  using R = decltype(f(at(operand<T>(a), 0)...));
  vec<R, N> r;
  [&](const auto&... o) {
    for (int i = 0; i < N; i++) r.e[i] = f(at(o, i)...);
  }(operand<T>(a)...);
  if constexpr (N == 3) r.e[3] = R(0);
  return r;
}

template <class A, class B>
concept VecOperands = (VecLike<A> || VecLike<B>) && (VecLike<A> || ScalarArg<A>) && (VecLike<B> || ScalarArg<B>);

// Arithmetic keeps the vector's element type (integer promotion is undone, as in MSL).
#define MM_VEC_BINOP(op)                                                                        \
  template <class A, class B>                                                                   \
    requires VecOperands<A, B>                                                                  \
  constexpr auto operator op(const A& a, const B& b) {                                          \
    using T = typename first_vec_t<A, B>::value_type;                                           \
    return ew([](T x, T y) { return T(x op y); }, a, b);                                        \
  }
MM_VEC_BINOP(+) MM_VEC_BINOP(-) MM_VEC_BINOP(*) MM_VEC_BINOP(/) MM_VEC_BINOP(%)
MM_VEC_BINOP(&) MM_VEC_BINOP(|) MM_VEC_BINOP(^) MM_VEC_BINOP(<<) MM_VEC_BINOP(>>)
#undef MM_VEC_BINOP

// Comparisons and logical operators yield bool vectors.
#define MM_VEC_CMP(op)                                                                          \
  template <class A, class B>                                                                   \
    requires VecOperands<A, B>                                                                  \
  constexpr auto operator op(const A& a, const B& b) {                                          \
    using T = typename first_vec_t<A, B>::value_type;                                           \
    return ew([](T x, T y) { return bool(x op y); }, a, b);                                     \
  }
MM_VEC_CMP(==) MM_VEC_CMP(!=) MM_VEC_CMP(<) MM_VEC_CMP(<=) MM_VEC_CMP(>) MM_VEC_CMP(>=)
MM_VEC_CMP(&&) MM_VEC_CMP(||)
#undef MM_VEC_CMP

template <VecLike A> constexpr auto operator-(const A& a) {
  using T = typename vec_of<A>::value_type;
  return ew([](T x) { return T(-x); }, a);
}
template <VecLike A> constexpr auto operator+(const A& a) { return vec_of<A>(a); }
template <VecLike A> constexpr auto operator~(const A& a) {
  using T = typename vec_of<A>::value_type;
  return ew([](T x) { return T(~x); }, a);
}
template <VecLike A> constexpr auto operator!(const A& a) {
  using T = typename vec_of<A>::value_type;
  return ew([](T x) { return !x; }, a);
}

}  // namespace mm_shim

#define MM_VEC_TYPEDEFS(T, name)    \
  typedef ::mm_shim::vec<T, 2> name##2; \
  typedef ::mm_shim::vec<T, 3> name##3; \
  typedef ::mm_shim::vec<T, 4> name##4;
#define MM_ALL_VEC_TYPEDEFS                                                                     \
  MM_VEC_TYPEDEFS(float, float) MM_VEC_TYPEDEFS(half, half) MM_VEC_TYPEDEFS(int, int)           \
  MM_VEC_TYPEDEFS(uint, uint) MM_VEC_TYPEDEFS(short, short) MM_VEC_TYPEDEFS(ushort, ushort)     \
  MM_VEC_TYPEDEFS(char, char) MM_VEC_TYPEDEFS(uchar, uchar) MM_VEC_TYPEDEFS(bool, bool)         \
  MM_VEC_TYPEDEFS(long, long) MM_VEC_TYPEDEFS(ulong, ulong)

namespace mm_shim { MM_ALL_VEC_TYPEDEFS }
namespace metal {
using ::mm_shim::vec;
MM_ALL_VEC_TYPEDEFS
}
MM_ALL_VEC_TYPEDEFS

#endif
