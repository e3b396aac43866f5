// mm_matrix.h — simdgroup_matrix<T,8,8>. Every lane holds the whole 8x8 matrix (all lanes of a
// simdgroup load from the same address, so the copies agree); a multiply is computed once per
// simdgroup through the runtime's memo and the other lanes copy the result.
#ifndef MM_SHIM_MATRIX_H
#define MM_SHIM_MATRIX_H

#include "mm_runtime.h"

namespace mm_shim {

// Fast mode: a simdgroup_matrix is one value per simdgroup (MSL requires uniform operands), so lane 0
// of the simdgroup alone loads, multiplies and stores it; the other lanes skip all three. Their copies
// are never read: only simdgroup_store lets a value out, and lane 0, which runs before them between any
// two rendezvous, has stored the same bytes. Checked modes (mm_rt_lane.flags CHECK_UNIFORM) run every
// lane through the memo, which compares their inputs and traces each lane's accesses.
inline bool matrix_skip_lane() {
  const mm_rt_lane* me = cur_lane();
  return (me->flags & MM_RT_LANE_CHECK_UNIFORM) == 0 && me->thread_index_in_simdgroup != 0;
}

}  // namespace mm_shim

namespace metal {

template <class T, int Cols, int Rows> struct simdgroup_matrix {
  static_assert(Cols == 8 && Rows == 8, "only 8x8 simdgroup matrices are supported");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, half>, "simdgroup_matrix holds half or float");
  T e[Rows * Cols];  // row-major: element (row r, column c) at e[r * Cols + c]

  simdgroup_matrix() = default;
  // MSL: constructing from a scalar gives a diagonal matrix; make_filled_simdgroup_matrix fills.
  constexpr simdgroup_matrix(T diagonal) : e{} {
    for (int i = 0; i < Rows; i++) e[i * Cols + i] = diagonal;
  }
};
typedef simdgroup_matrix<half, 8, 8> simdgroup_half8x8;
typedef simdgroup_matrix<float, 8, 8> simdgroup_float8x8;

template <class T, int Cols, int Rows>
constexpr simdgroup_matrix<T, Cols, Rows> make_filled_simdgroup_matrix(const T value) {
  simdgroup_matrix<T, Cols, Rows> m;
  for (T& x : m.e) x = value;
  return m;
}

// Element (r, c) comes from src[(origin.y + r) * elements_per_row + origin.x + c]; with transpose
// the stored 8x8 block at the origin is read transposed. Whether Metal reads the origin in source or
// in transposed coordinates is not settled here (no Apple hardware), so that combination fails loudly
// instead of silently computing one of the two.
template <class T, class U>
inline void simdgroup_load(simdgroup_matrix<T, 8, 8>& d, const U* src, ulong elements_per_row = 8,
                           ::mm_shim::vec<ulong, 2> matrix_origin = 0, bool transpose = false,
                           MM_SITE_PARAMS) {
  if (transpose && (matrix_origin.x != 0 || matrix_origin.y != 0)) {
    ::mm_shim::fail("simdgroup_load with transpose and a nonzero matrix_origin is not supported by the CPU "
                    "runtime (offset the pointer instead)", MM_SITE_ARGS);
  }
  const U* base = src + matrix_origin.y * elements_per_row + matrix_origin.x;
  MM_INSTR_BLOCK(base, elements_per_row, U, MM_RT_ACCESS_LOAD);  // one block access, not 64 loads
  if (::mm_shim::matrix_skip_lane()) return;
  for (int r = 0; r < 8; r++)
    for (int c = 0; c < 8; c++)
      d.e[r * 8 + c] = T(transpose ? base[c * elements_per_row + r] : base[r * elements_per_row + c]);
}

template <class T, class U>
inline void simdgroup_store(const simdgroup_matrix<T, 8, 8>& m, U* dst, ulong elements_per_row = 8,
                            ::mm_shim::vec<ulong, 2> matrix_origin = 0, bool transpose = false,
                            MM_SITE_PARAMS) {
  if (transpose && (matrix_origin.x != 0 || matrix_origin.y != 0)) {
    ::mm_shim::fail("simdgroup_store with transpose and a nonzero matrix_origin is not supported by the CPU "
                    "runtime (offset the pointer instead)", MM_SITE_ARGS);
  }
  U* base = dst + matrix_origin.y * elements_per_row + matrix_origin.x;
  MM_INSTR_BLOCK(base, elements_per_row, U, MM_RT_ACCESS_STORE);
  if (::mm_shim::matrix_skip_lane()) return;
  for (int r = 0; r < 8; r++)
    for (int c = 0; c < 8; c++) {
      const T v = transpose ? m.e[c * 8 + r] : m.e[r * 8 + c];
      base[r * elements_per_row + c] = U(v);
    }
}

}  // namespace metal

using metal::simdgroup_float8x8;
using metal::simdgroup_half8x8;

namespace mm_shim {

// d = a * b (+ c) in float, rounded once to D. Rows are 8-float vectors (GNU vector extension,
// same in g++ and clang): one broadcast-multiply-add per (i, k), k summed in order 0..7.
typedef float mm_f32x8 __attribute__((vector_size(32)));
template <class D, class A, class B, class C, bool Acc>
inline void mma_8x8(D* out, const A* a, const B* b, const C* c) {
  float fa[64], fb[64], fc[64];
  for (int i = 0; i < 64; i++) fa[i] = float(a[i]);
  for (int i = 0; i < 64; i++) fb[i] = float(b[i]);
  for (int i = 0; i < 64; i++) fc[i] = Acc ? float(c[i]) : 0.0f;
  mm_f32x8 brow[8];
  __builtin_memcpy(brow, fb, sizeof(brow));
  for (int i = 0; i < 8; i++) {
    mm_f32x8 row;
    __builtin_memcpy(&row, fc + i * 8, sizeof(row));
    for (int k = 0; k < 8; k++) row += fa[i * 8 + k] * brow[k];
    float r[8];
    __builtin_memcpy(r, &row, sizeof(r));
    for (int j = 0; j < 8; j++) out[i * 8 + j] = D(r[j]);
  }
}

// The memo keys this lane's matrix_seq-th multiply by the input bytes; only a fresh lane computes.
// Lanes holding different inputs fail the dispatch at `site` (the multiply's .metal line).
template <class D, class A, class B, class C, bool Acc>
inline void memo_multiply(metal::simdgroup_matrix<D, 8, 8>& d, const metal::simdgroup_matrix<A, 8, 8>& a,
                          const metal::simdgroup_matrix<B, 8, 8>& b, const metal::simdgroup_matrix<C, 8, 8>& c,
                          const mm_rt_site& site) {
  constexpr uint32_t in_bytes = uint32_t(sizeof(a) + sizeof(b) + (Acc ? sizeof(c) : 0));
  alignas(64) unsigned char in[in_bytes];
  mm_rt_lane* me = cur_lane();
  const bool check = (me->flags & MM_RT_LANE_CHECK_UNIFORM) != 0;
  if (!check) {  // fast mode: lane 0 alone (matrix_skip_lane)
    if (me->thread_index_in_simdgroup != 0) return;
    D result[64];
    mma_8x8<D, A, B, C, Acc>(result, a.e, b.e, c.e);
    __builtin_memcpy(d.e, result, sizeof(d));  // after the inputs were used: d may alias a, b or c
    return;
  }
  __builtin_memcpy(in, a.e, sizeof(a));
  __builtin_memcpy(in + sizeof(a), b.e, sizeof(b));
  if (Acc) __builtin_memcpy(in + sizeof(a) + sizeof(b), c.e, sizeof(c));
  me->matrix_seq++;
  int fresh = 0;
  void* block = g_api->matrix_memo(me, in, in_bytes, uint32_t(sizeof(d)), &fresh, &site);
  enter(me);
  if (fresh) {
    D result[64];
    mma_8x8<D, A, B, C, Acc>(result, a.e, b.e, c.e);
    __builtin_memcpy(block, result, sizeof(result));
  }
  __builtin_memcpy(d.e, block, sizeof(d));  // after the inputs were used: d may alias a, b or c
  g_api->matrix_memo_done(me, block);
  enter(me);
}

}  // namespace mm_shim

namespace metal {

// The site defaults are evaluated at the caller: a non-uniform multiply is reported at its .metal line.
template <class D, class A, class B, class C>
inline void simdgroup_multiply_accumulate(simdgroup_matrix<D, 8, 8>& d, const simdgroup_matrix<A, 8, 8>& a,
                                          const simdgroup_matrix<B, 8, 8>& b, const simdgroup_matrix<C, 8, 8>& c,
                                          MM_SITE_PARAMS) {
  if (::mm_shim::matrix_skip_lane()) return;  // before the call: most lanes skip (fast mode)
  ::mm_shim::memo_multiply<D, A, B, C, true>(d, a, b, c, mm_rt_site{MM_SITE_ARGS});
}
template <class D, class A, class B>
inline void simdgroup_multiply(simdgroup_matrix<D, 8, 8>& d, const simdgroup_matrix<A, 8, 8>& a,
                               const simdgroup_matrix<B, 8, 8>& b, MM_SITE_PARAMS) {
  if (::mm_shim::matrix_skip_lane()) return;
  ::mm_shim::memo_multiply<D, A, B, D, false>(d, a, b, d, mm_rt_site{MM_SITE_ARGS});
}

}  // namespace metal

#endif
