// mm_simd.h — simd collectives. Each lane writes its value (and a per-lane parameter such as the
// shuffle source) into simd_in, the runtime gathers the participating lanes of the simdgroup at
// the same call site and runs one of the op functions below, which fills every simd_out.
// Reductions and scans run sequentially in lane order, so results are deterministic.
#ifndef MM_SHIM_SIMD_H
#define MM_SHIM_SIMD_H

#include "mm_math.h"
#include "mm_runtime.h"


namespace mm_shim {

// The per-lane parameter (source lane, delta, mask) sits in the slot's last 4 bytes.
constexpr uint32_t kSimdParamOffset = MM_RT_SIMD_SLOT_BYTES - 4;

template <class T> T slot_in(const mm_rt_lane* lane) {
  T v;
  __builtin_memcpy(static_cast<void*>(&v), lane->simd_in, sizeof(T));
  return v;
}
template <class T> void slot_out(mm_rt_lane* lane, const T& v) {
  __builtin_memcpy(lane->simd_out, static_cast<const void*>(&v), sizeof(T));
}
inline uint32_t slot_param(const mm_rt_lane* lane) {
  uint32_t p;
  __builtin_memcpy(&p, lane->simd_in + kSimdParamOffset, 4);
  return p;
}

struct OpSum { template <class T> static T apply(T a, T b) { return T(a + b); } static constexpr int identity = 0; };
struct OpProduct { template <class T> static T apply(T a, T b) { return T(a * b); } static constexpr int identity = 1; };
struct OpMin { template <class T> static T apply(T a, T b) { return T(metal::min(a, b)); } };
struct OpMax { template <class T> static T apply(T a, T b) { return T(metal::max(a, b)); } };
struct OpAnd { template <class T> static T apply(T a, T b) { return T(a & b); } };
struct OpOr { template <class T> static T apply(T a, T b) { return T(a | b); } };
struct OpXor { template <class T> static T apply(T a, T b) { return T(a ^ b); } };

// Reduction over the participants in ascending lane order; every participant gets the result.
template <class T, class Op> void reduce_op(mm_rt_lane* const* lanes, uint32_t count) {
  T acc = slot_in<T>(lanes[0]);
  for (uint32_t i = 1; i < count; i++) acc = Op::apply(acc, slot_in<T>(lanes[i]));
  for (uint32_t i = 0; i < count; i++) slot_out(lanes[i], acc);
}

// Prefix scan over the participants in lane order (exclusive starts at the identity).
template <class T, class Op, bool Inclusive> void scan_op(mm_rt_lane* const* lanes, uint32_t count) {
  T acc = T(Op::identity);
  for (uint32_t i = 0; i < count; i++) {
    const T v = slot_in<T>(lanes[i]);
    if (Inclusive) acc = Op::apply(acc, v);
    slot_out(lanes[i], acc);
    if (!Inclusive) acc = Op::apply(acc, v);
  }
}

enum class Shuffle { Index, Xor, Down, Up, RotateDown, RotateUp, First };

// Each lane reads the value of its source lane if that lane participates, else keeps its own.
template <class T, Shuffle K> void shuffle_op(mm_rt_lane* const* lanes, uint32_t count) {
  int where[MM_RT_SIMD_WIDTH];
  for (int& w : where) w = -1;
  for (uint32_t i = 0; i < count; i++) where[lanes[i]->thread_index_in_simdgroup % MM_RT_SIMD_WIDTH] = int(i);
  for (uint32_t i = 0; i < count; i++) {
    const int64_t me = lanes[i]->thread_index_in_simdgroup;
    const int64_t width = lanes[i]->threads_per_simdgroup ? lanes[i]->threads_per_simdgroup : MM_RT_SIMD_WIDTH;
    const int64_t p = slot_param(lanes[i]);
    int64_t src = me;
    switch (K) {
      case Shuffle::Index: src = p; break;
      case Shuffle::Xor: src = me ^ p; break;
      case Shuffle::Down: src = me + p; break;
      case Shuffle::Up: src = me - p; break;
      case Shuffle::RotateDown: src = (me + p) % width; break;
      case Shuffle::RotateUp: src = ((me - p) % width + width) % width; break;
      case Shuffle::First: src = lanes[0]->thread_index_in_simdgroup; break;
    }
    const bool ok = src >= 0 && src < width && src < int64_t(MM_RT_SIMD_WIDTH) && where[src] >= 0;
    slot_out(lanes[i], slot_in<T>(ok ? lanes[where[src]] : lanes[i]));
  }
}

// Ballot: each lane contributes a bool; everyone gets {mask of true lanes, mask of participants}.
struct vote_bits { uint64_t bits, active; };
inline void ballot_op(mm_rt_lane* const* lanes, uint32_t count) {
  vote_bits v{0, 0};
  for (uint32_t i = 0; i < count; i++) {
    const uint64_t bit = uint64_t(1) << (lanes[i]->thread_index_in_simdgroup % 64);
    v.active |= bit;
    if (slot_in<bool>(lanes[i])) v.bits |= bit;
  }
  for (uint32_t i = 0; i < count; i++) slot_out(lanes[i], v);
}
inline void is_first_op(mm_rt_lane* const* lanes, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) slot_out(lanes[i], bool(i == 0));
}

#ifdef MM_ADDRESS_SPACES
template <class T> struct simd_value { using type = unqual_t<T>; };  // x may live in device memory
#else
template <class T> struct simd_value { using type = std::remove_cvref_t<T>; };
#endif
template <VecLike T> struct simd_value<T> { using type = vec_of<T>; };

// Write simd_in, rendezvous, read simd_out. The lane is saved and re-entered around the wait.
template <class R, class T, bool WithParam>
R collective(mm_rt_simd_op op, const T& x, uint32_t param, const char* file, unsigned line, unsigned col) {
  static_assert(sizeof(T) <= (WithParam ? kSimdParamOffset : MM_RT_SIMD_SLOT_BYTES), "simd value too large");
  static_assert(sizeof(R) <= MM_RT_SIMD_SLOT_BYTES, "simd result too large");
  mm_rt_lane* me = cur_lane();
  __builtin_memcpy(me->simd_in, static_cast<const void*>(&x), sizeof(T));
  if (WithParam) __builtin_memcpy(me->simd_in + kSimdParamOffset, &param, 4);
  const mm_rt_site site{file, line, col};
  g_api->simd_collective(me, &site, op);
  enter(me);
  R r;
  __builtin_memcpy(static_cast<void*>(&r), me->simd_out, sizeof(R));
  return r;
}

}  // namespace mm_shim

namespace metal {

#define MM_SIMD_REDUCE(name, op)                                                              \
  template <class T> inline auto name(const T& x, MM_SITE_PARAMS) {                            \
    using V = typename ::mm_shim::simd_value<T>::type;                                          \
    return ::mm_shim::collective<V, V, false>(&::mm_shim::reduce_op<V, ::mm_shim::op>, V(x), 0, MM_SITE_ARGS); \
  }
MM_SIMD_REDUCE(simd_sum, OpSum)
MM_SIMD_REDUCE(simd_product, OpProduct)
MM_SIMD_REDUCE(simd_min, OpMin)
MM_SIMD_REDUCE(simd_max, OpMax)
MM_SIMD_REDUCE(simd_and, OpAnd)
MM_SIMD_REDUCE(simd_or, OpOr)
MM_SIMD_REDUCE(simd_xor, OpXor)
#undef MM_SIMD_REDUCE

#define MM_SIMD_SCAN(name, op, inclusive)                                                     \
  template <class T> inline auto name(const T& x, MM_SITE_PARAMS) {                            \
    using V = typename ::mm_shim::simd_value<T>::type;                                          \
    return ::mm_shim::collective<V, V, false>(&::mm_shim::scan_op<V, ::mm_shim::op, inclusive>, V(x), 0, \
                                              MM_SITE_ARGS);                                    \
  }
MM_SIMD_SCAN(simd_prefix_inclusive_sum, OpSum, true)
MM_SIMD_SCAN(simd_prefix_exclusive_sum, OpSum, false)
MM_SIMD_SCAN(simd_prefix_inclusive_product, OpProduct, true)
MM_SIMD_SCAN(simd_prefix_exclusive_product, OpProduct, false)
#undef MM_SIMD_SCAN

#define MM_SIMD_SHUFFLE(name, kind)                                                           \
  template <class T> inline auto name(const T& x, uint param, MM_SITE_PARAMS) {                \
    using V = typename ::mm_shim::simd_value<T>::type;                                          \
    return ::mm_shim::collective<V, V, true>(&::mm_shim::shuffle_op<V, ::mm_shim::Shuffle::kind>, V(x), \
                                             param, MM_SITE_ARGS);                              \
  }
MM_SIMD_SHUFFLE(simd_shuffle, Index)
MM_SIMD_SHUFFLE(simd_broadcast, Index)
MM_SIMD_SHUFFLE(simd_shuffle_xor, Xor)
MM_SIMD_SHUFFLE(simd_shuffle_down, Down)
MM_SIMD_SHUFFLE(simd_shuffle_up, Up)
MM_SIMD_SHUFFLE(simd_shuffle_rotate_down, RotateDown)
MM_SIMD_SHUFFLE(simd_shuffle_rotate_up, RotateUp)
#undef MM_SIMD_SHUFFLE

template <class T> inline auto simd_broadcast_first(const T& x, MM_SITE_PARAMS) {
  using V = typename ::mm_shim::simd_value<T>::type;
  return ::mm_shim::collective<V, V, true>(&::mm_shim::shuffle_op<V, ::mm_shim::Shuffle::First>, V(x), 0,
                                           MM_SITE_ARGS);
}

// MSL's simd_vote: the ballot mask (lane i = bit i); all()/any() look at participating lanes.
struct simd_vote {
  typedef ulong vote_t;
  vote_t v;
  vote_t active;
  explicit constexpr operator vote_t() const { return v; }
  constexpr bool all() const { return (v & active) == active; }
  constexpr bool any() const { return v != 0; }
};

inline simd_vote simd_ballot(bool b, MM_SITE_PARAMS) {
  const auto r = ::mm_shim::collective<::mm_shim::vote_bits, bool, false>(&::mm_shim::ballot_op, b, 0, MM_SITE_ARGS);
  return simd_vote{r.bits, r.active};
}
inline simd_vote simd_active_threads_mask(MM_SITE_PARAMS) { return simd_ballot(true, MM_SITE_ARGS); }
inline bool simd_all(bool b, MM_SITE_PARAMS) { return simd_ballot(b, MM_SITE_ARGS).all(); }
inline bool simd_any(bool b, MM_SITE_PARAMS) { return simd_ballot(b, MM_SITE_ARGS).any(); }
inline bool simd_is_first(MM_SITE_PARAMS) {
  return ::mm_shim::collective<bool, bool, false>(&::mm_shim::is_first_op, true, 0, MM_SITE_ARGS);
}

}  // namespace metal

#endif
