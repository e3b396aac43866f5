// gemm_vec.h — lane-per-column kernels for few rows: decode GEMV (ROWS = 1), small batch (ROWS = 16)
// and the split-K partial pass (OutT = float). Each packed word is read once per threadgroup and
// applied to every row; x is staged in threadgroup memory; 4 simdgroups split K inside the group.
#ifndef MM_GEMM_VEC_H
#define MM_GEMM_VEC_H

#include "gemm_common.h"

// Each (group, column) scale, zero point and bias is read from device memory once per threadgroup: the 4
// simdgroups split every K block, so if each fetched its own group's scale, a group spanning several
// slices would be read by each (up to 4 times at gs >= 256). The threadgroup stages the raw bits of the
// block's new groups next to x in the same cooperative pass and barrier (one request per group row of 32
// columns, as coalesced as the hot loop's loads); the hot loop still decodes only when K crosses a group
// boundary, now from threadgroup memory. Raw 16-bit bits, not floats, keep 4 planes (scale, zero/bias,
// and SwiGLU's up weight's two) in 8 KB. Each plane is a ring of 32 group rows (slot g % 32): a group
// outlives a block when gs > 256 or it straddles two, and a block touches <= 32 groups (each holds >= 1
// of its 32 words), so a live slot is never overwritten. Splitting K along group boundaries would idle 3
// simdgroups per channel; simd_shuffle cannot share across simdgroups (lanes own different columns).
#define GEMM_VEC_SLOTS (GEMM_VEC_KBLOCK / 8u)
#define GEMM_VEC_PLANE (GEMM_VEC_SLOTS * GEMM_VEC_COLS)

// Stages the raw bits of groups [g0, g1] (g1 = g0 - 1: none) of the threadgroup's columns col0 .. col0 + 31
// into the rings of gq: plane 0 scales, 1 zero points / biases, 2 and 3 the same for SwiGLU's up weight.
// Element e is (group g0 + e / 32, column e % 32): one simdgroup request reads one group row.
inline void gemm_vec_stage_groups(threadgroup ushort* gq, device const uchar* scales, device const uchar* zeros,
                                  device const uchar* up_scales, device const uchar* up_zeros, GemmDecode dec,
                                  bool swiglu, uint sb, uint ldb, uint np, uint col0, uint g0, uint g1, uint tid) {
  const bool ws = gemm_scale_wide(dec.scale_dtype);
  const bool zb = gemm_has_zb(dec.format);
  const bool wz = dec.format == GEMM_FMT_INT4_AFFINE && ws;  // int4 zero points are u8
  const uint count = (g1 + 1u - g0) * GEMM_VEC_COLS;
  for (uint e = tid; e < count; e += GEMM_THREADS) {
    const uint g = g0 + e / GEMM_VEC_COLS;
    const uint col = e % GEMM_VEC_COLS;
    if (col0 + col < np) {
      const uint idx = sb + g * ldb + col0 + col;
      const uint q = (g % GEMM_VEC_SLOTS) * GEMM_VEC_COLS + col;
      gq[q] = ushort(gemm_raw_at(scales, idx, ws));
      if (zb) {
        gq[GEMM_VEC_PLANE + q] = ushort(gemm_raw_at(zeros, idx, wz));
      }
      if (swiglu) {
        gq[2u * GEMM_VEC_PLANE + q] = ushort(gemm_raw_at(up_scales, idx, ws));
        if (zb) {
          gq[3u * GEMM_VEC_PLANE + q] = ushort(gemm_raw_at(up_zeros, idx, wz));
        }
      }
    }
  }
}

// One lane's words [kw0, kw0 + nw) of column n in a staged K block (xs: the x of word kw0): decode each
// word once and apply it to every row. SWIGLU is a template parameter so the plain loop carries none of
// the up projection's state (second accumulator, scale, pointer): the branch is uniform per dispatch
// either way, and the CPU runtime's compiler otherwise spills that state around the hot loop. static:
// one call site per instantiation, so it is inlined and s, z, g_end and acc stay in registers. The row
// loops name their compile-time bound too: with ROWS = 1 each is one test, not a loop.
template <uint ROWS, bool SWIGLU>
static inline void gemm_vec_words(device const uint* packed, device const uint* up_packed, constant float* table,
                                  threadgroup const float* xs, threadgroup const ushort* gq, GemmDecode dec,
                                  GemmDecode dec_up, uint kw0, uint nw, uint ldb, uint n, uint gs, uint lane,
                                  uint rows, bool has_zb, thread uint& g_end, thread float& s, thread float& z,
                                  thread float& s_up, thread float& z_up, thread float* acc, thread float* acc_up) {
  // The group's scale and bias change only when K leaves the group: one compare per word, one division
  // per group.
  for (uint j = 0; j < nw; ++j) {
    const uint kw = kw0 + j;
    if (kw * 8u >= g_end) {
      const uint g = kw * 8u / gs;
      g_end = (g + 1u) * gs;
      const uint q = (g % GEMM_VEC_SLOTS) * GEMM_VEC_COLS + lane;
      gemm_group_bits(dec, gq[q], has_zb ? uint(gq[GEMM_VEC_PLANE + q]) : 0u, s, z);
      if (SWIGLU) {
        gemm_group_bits(dec_up, gq[2u * GEMM_VEC_PLANE + q], has_zb ? uint(gq[3u * GEMM_VEC_PLANE + q]) : 0u,
                        s_up, z_up);
      }
    }
    float w[8];
    gemm_dequant8(packed[kw * ldb + n], table, s, z, w);
    threadgroup const float* xj = xs + j * 8u;
    for (uint r = 0; r < ROWS && r < rows; ++r) {
      float t = 0.0f;
      for (uint i = 0; i < 8; ++i) {
        t += w[i] * xj[r * GEMM_VEC_KBLOCK + i];
      }
      acc[r] += t;
    }
    if (SWIGLU) {
      gemm_dequant8(up_packed[kw * ldb + n], table, s_up, z_up, w);
      for (uint r = 0; r < ROWS && r < rows; ++r) {
        float t = 0.0f;
        for (uint i = 0; i < 8; ++i) {
          t += w[i] * xj[r * GEMM_VEC_KBLOCK + i];
        }
        acc_up[r] += t;
      }
    }
  }
}

// Grid (ceil(N / 32), splits, batch) x 128 threads. Lane l of every simdgroup owns column
// 32 * group.x + l; simdgroup s walks words [8s, 8s + 8) of each 256-deep K block (32 words), so a
// K block costs two barriers. Threadgroup memory: one ROWS x 256 float array (ROWS = 16: 16 KB; ROWS = 1:
// 1 KB), the x block during the K loop, then the cross-simdgroup reduction (2 planes x 4 simdgroups x
// ROWS x 32 lanes, the same size); plus the staged group bits (4 planes x 32 slots x 32 columns x 2 bytes =
// 8 KB) and 4 x ROWS floats of sums of x: 24.25 KB for ROWS = 16, 9 KB for ROWS = 1. Requires M <= ROWS;
// no alignment requirement.
// Format, group size, scale storage and activation dtype (f16 / bf16) are runtime parameters (p), so
// any group size runs the same loop. OutT = ushort: final f16/bf16 output with the epilogue. OutT = float:
// raw partial sums of K range [split * k_chunk, (split + 1) * k_chunk) to workspace
// [batch][splits][planes][M][N] (no epilogue). With GEMM_FLAG_DEFER_GROUP (per channel) the partials are
// sum(value(code) * x), no scale read; with GEMM_FLAG_SUM_X column block 0 also writes each row's sum of x
// over the split to [batch][splits][M] after the partials.
template <uint ROWS, typename OutT>
[[kernel]] void gemm_vec(device const uint* packed [[buffer(0)]],
                         device const uchar* scales [[buffer(1)]],
                         device const uchar* zeros [[buffer(2)]],
                         device const ushort* a [[buffer(3)]],
                         device OutT* c [[buffer(4)]],
                         constant GemmParams& p [[buffer(5)]],
                         device const ushort* bias [[buffer(6)]],
                         device const ushort* residual [[buffer(7)]],
                         device const uint* up_packed [[buffer(8)]],
                         device const uchar* up_scales [[buffer(9)]],
                         device const uchar* up_zeros [[buffer(10)]],
                         uint3 group [[threadgroup_position_in_grid]],
                         uint tid [[thread_index_in_threadgroup]],
                         uint sg [[simdgroup_index_in_threadgroup]],
                         uint lane [[thread_index_in_simdgroup]]) {
  // x as float (converted once when staged, not once per multiply-add); reused for the reduction.
  threadgroup float xs[ROWS * GEMM_VEC_KBLOCK];
  static_assert(sizeof(xs) <= 32768 && 2u * 4u * 32u == GEMM_VEC_KBLOCK, "gemm_vec: reduction must fit xs");
  threadgroup float* red = &xs[0];
  threadgroup ushort gq[4u * GEMM_VEC_PLANE];  // staged group bits (see above)
  threadgroup float sxs[4u * ROWS];             // per-simdgroup sums of x (GEMM_FLAG_SUM_X)
  static_assert(sizeof(xs) + sizeof(gq) + sizeof(sxs) <= 32768, "gemm_vec: threadgroup memory over 32 KB");

  const bool partial = sizeof(OutT) == 4;
  const uint epi = p.epilogue;
  const bool swiglu = (epi & GEMM_EPI_SWIGLU) != 0u;
  const uint b = group.z;
  const uint n = group.x * GEMM_VEC_COLS + lane;
  const uint rows = min(p.M, ROWS);
  const uint wpb = GEMM_VEC_KBLOCK / 8;  // words per K block
  const uint kw_begin = partial ? group.y * (p.k_chunk / 8) : 0u;
  const uint kw_end = partial ? min(p.Kw, kw_begin + p.k_chunk / 8) : p.Kw;
  const bool col_ok = n < p.Np;
  const bool bf16 = (epi & GEMM_EPI_BF16) != 0u;
  const uint flags = p.flags;
  const bool defer = partial && (flags & GEMM_FLAG_DEFER_GROUP) != 0u;
  // Lane-invariant work: only column block 0 pays for it (the other threadgroups' branch is uniform).
  const bool sum_x = defer && (flags & GEMM_FLAG_SUM_X) != 0u && group.x == 0u;
  // Params the loops use, read once into registers (the constant block is not re-read per word).
  const GemmDecode dec = gemm_decode(p, false);
  const GemmDecode dec_up = swiglu ? gemm_decode(p, true) : dec;
  constant float* table = gemm_code_table(dec.format);
  const uint gs = p.group_size, ldb = p.ldb, lda = p.lda, kdim = p.K, np = p.Np;
  // Scales, zero points and biases are indexed in elements of their own type (gemm_raw_at).
  const uint sb = b * p.stride_s;

  packed += b * p.stride_w;
  up_packed += b * p.stride_w;
  a += b * p.stride_a;

  float acc[ROWS];
  float acc_up[ROWS];
  float acc_x[ROWS];
  for (uint r = 0; r < ROWS; ++r) {
    acc[r] = 0.0f;
    acc_up[r] = 0.0f;
    acc_x[r] = 0.0f;
  }
  // The group's scale and bias (gemm_vec_words): each thread walks K upward. Deferred: s = 1, b = 0 for
  // all of K (the group never ends inside the split).
  uint g_end = defer ? 0xffffffffu : 0u;
  float s = defer ? 1.0f : 0.0f, z = 0.0f, s_up = s, z_up = 0.0f;
  const bool has_zb = gemm_has_zb(dec.format);
  uint g_next = kw_begin * 8u / gs;  // first group not staged yet

  // A split's chunk may end inside a 256-K block (group-aligned chunks): stage x only up to its end.
  const uint k_stop = min(kdim, kw_end * 8u);
  for (uint kb = kw_begin; kb < kw_end; kb += wpb) {
    threadgroup_barrier(mem_flags::mem_threadgroup);  // readers of the previous block are done
    // Only the `rows` live rows are staged (and read), so M = 1 on a 16-row kernel stages 256 halves.
    for (uint e = tid; e < rows * GEMM_VEC_KBLOCK; e += GEMM_THREADS) {
      const uint r = e / GEMM_VEC_KBLOCK;
      const uint k = kb * 8u + e % GEMM_VEC_KBLOCK;
      xs[e] = k < k_stop ? gemm_act(a[r * lda + k], bf16) : 0.0f;
    }
    if (!defer) {
      const uint g_hi = (min(kb + wpb, kw_end) - 1u) * 8u / gs;  // last group of this block
      gemm_vec_stage_groups(gq, scales, zeros, up_scales, up_zeros, dec, swiglu, sb, ldb, np,
                            group.x * GEMM_VEC_COLS, g_next, g_hi, tid);
      g_next = g_hi + 1u;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (col_ok) {
      // This simdgroup's words of the block: [kb + 8 sg, +8), cut at the end of the K range.
      const uint kw0 = kb + sg * 8u;
      const uint nw = kw0 < kw_end ? min(8u, kw_end - kw0) : 0u;
      if (swiglu) {
        gemm_vec_words<ROWS, true>(packed, up_packed, table, xs + sg * 64u, gq, dec, dec_up, kw0, nw, ldb, n, gs,
                                   lane, rows, has_zb, g_end, s, z, s_up, z_up, acc, acc_up);
      } else {
        gemm_vec_words<ROWS, false>(packed, up_packed, table, xs + sg * 64u, gq, dec, dec_up, kw0, nw, ldb, n, gs,
                                    lane, rows, has_zb, g_end, s, z, s_up, z_up, acc, acc_up);
      }
      if (sum_x) {
        // Per-row sums of this simdgroup's x (lane-invariant; only column block 0 computes them).
        for (uint r = 0; r < rows; ++r) {
          float t = 0.0f;
          for (uint i = 0; i < nw * 8u; ++i) {
            t += xs[r * GEMM_VEC_KBLOCK + sg * 64u + i];
          }
          acc_x[r] += t;
        }
      }
    }
  }

  // Combine the 4 simdgroups' K slices in a fixed order (deterministic), rows spread over simdgroups.
  // The barrier ends every read of the x block before the same memory holds partial sums.
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint r = 0; r < rows; ++r) {
    red[(sg * ROWS + r) * 32u + lane] = acc[r];
    if (swiglu) {
      red[((4u + sg) * ROWS + r) * 32u + lane] = acc_up[r];
    }
    if (sum_x && lane == 0u) {
      sxs[sg * ROWS + r] = acc_x[r];  // the same in every lane of the simdgroup
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint r = sg; r < rows; r += 4u) {
    float gsum = 0.0f, usum = 0.0f;
    for (uint q = 0; q < 4u; ++q) {
      gsum += red[(q * ROWS + r) * 32u + lane];
      if (swiglu) {
        usum += red[((4u + q) * ROWS + r) * 32u + lane];
      }
    }
    if (n < p.N) {
      if (partial) {
        const uint planes = swiglu ? 2u : 1u;
        const uint base = ((b * p.splits + group.y) * planes * p.M + r) * p.N + n;
        c[base] = OutT(gsum);
        if (swiglu) {
          c[base + p.M * p.N] = OutT(usum);
        }
        if (sum_x && lane == 0u) {
          const float xsum = sxs[r] + sxs[ROWS + r] + sxs[2u * ROWS + r] + sxs[3u * ROWS + r];
          c[p.batch * p.splits * planes * p.M * p.N + (b * p.splits + group.y) * p.M + r] = OutT(xsum);
        }
      } else {
        const float v = gemm_epilogue(gsum, usum, r, n, p, epi, bf16, bias, residual + b * p.stride_r);
        c[b * p.stride_c + r * p.ldc + n] = OutT(gemm_act_bits(v, bf16));
      }
    }
  }
}

// Sums the split-K partials in split order (deterministic, no atomics) and applies the epilogue.
// Grid (ceil(M * N / 256), 1, batch) x 256 threads; one output per thread.
// Reads workspace [batch][splits][planes][M][N] float written by gemm_splitk_*. With
// GEMM_FLAG_DEFER_GROUP (per channel) the grid is (ceil(N / 256), 1, batch) and one thread owns a column:
// it reads the column's scale (+ zero point or bias) once and applies it to each row's sum,
// w = value * s + b gives sum(w x) = s * sum(value x) + b * sum(x). The splits' sums of x ([splits][M],
// contiguous) are staged once per threadgroup by one coalesced request (<= 2 KB of threadgroup memory),
// not read once per column.
[[kernel]] void gemm_splitk_reduce(device const uchar* scales [[buffer(1)]],
                                   device const uchar* zeros [[buffer(2)]],
                                   device const float* part [[buffer(3)]],
                                   device ushort* c [[buffer(4)]],
                                   constant GemmParams& p [[buffer(5)]],
                                   device const ushort* bias [[buffer(6)]],
                                   device const ushort* residual [[buffer(7)]],
                                   device const uchar* up_scales [[buffer(9)]],
                                   device const uchar* up_zeros [[buffer(10)]],
                                   uint3 group [[threadgroup_position_in_grid]],
                                   uint tid [[thread_index_in_threadgroup]]) {
  const uint idx = group.x * GEMM_REDUCE_THREADS + tid;
  const uint b = group.z;
  const uint mn = p.M * p.N;
  const uint epi = p.epilogue;
  const bool swiglu = (epi & GEMM_EPI_SWIGLU) != 0u;
  const bool bf16 = (epi & GEMM_EPI_BF16) != 0u;
  const uint planes = swiglu ? 2u : 1u;
  const uint splits = p.splits;  // loop bound in a register, not re-read per split
  const uint flags = p.flags;
  if ((flags & GEMM_FLAG_DEFER_GROUP) == 0u) {
    if (idx < mn) {
      float g = 0.0f, u = 0.0f;
      for (uint q = 0; q < splits; ++q) {
        const uint base = (b * splits + q) * planes * mn;
        g += part[base + idx];
        if (swiglu) {
          u += part[base + mn + idx];
        }
      }
      const uint m = idx / p.N;
      const uint n = idx % p.N;
      const float v = gemm_epilogue(g, u, m, n, p, epi, bf16, bias, residual + b * p.stride_r);
      c[b * p.stride_c + m * p.ldc + n] = gemm_act_bits(v, bf16);
    }
    return;
  }
  threadgroup float xsum[GEMM_SPLIT_MAX_PARTS * GEMM_SMALL_MAX_M];
  const bool sum_x = (flags & GEMM_FLAG_SUM_X) != 0u;
  const uint x_count = splits * p.M;
  if (sum_x) {
    device const float* xs = part + p.batch * splits * planes * mn + b * x_count;
    for (uint e = tid; e < x_count; e += GEMM_REDUCE_THREADS) {
      xsum[e] = xs[e];
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const uint n = idx;
  if (n >= p.N) {
    return;
  }
  // The column's only group (row 0 of scales and zeros / biases of this batch entry).
  const GemmDecode dec = gemm_decode(p, false);
  float s, zb, s_up = 0.0f, zb_up = 0.0f;
  gemm_group(dec, scales, zeros, b * p.stride_s + n, s, zb);
  if (swiglu) {
    gemm_group(gemm_decode(p, true), up_scales, up_zeros, b * p.stride_s + n, s_up, zb_up);
  }
  for (uint m = 0; m < p.M; ++m) {
    float g = 0.0f, u = 0.0f, x = 0.0f;
    for (uint q = 0; q < splits; ++q) {
      const uint base = (b * splits + q) * planes * mn + m * p.N + n;
      g += part[base];
      if (swiglu) {
        u += part[base + mn];
      }
      if (sum_x) {
        x += xsum[q * p.M + m];
      }
    }
    const float gv = fma(g, s, zb * x);
    const float uv = fma(u, s_up, zb_up * x);
    const float v = gemm_epilogue(gv, uv, m, n, p, epi, bf16, bias, residual + b * p.stride_r);
    c[b * p.stride_c + m * p.ldc + n] = gemm_act_bits(v, bf16);
  }
}

#endif  // MM_GEMM_VEC_H
