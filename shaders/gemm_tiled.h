// gemm_tiled.h — prefill GEMM: 64x64 output tiles on 8x8 simdgroup_matrix with float accumulators.
// Weights are dequantized into threadgroup memory once per tile, and the group's scale/bias stay in
// registers of the loading thread (one fixed column per thread). T is the tile element type: half for
// f16 activations (K tiles double-buffered), float for bf16 activations (bf16 is exact in float; one
// buffer, so the tiles still fit 32 KB). Format and group size are runtime parameters as in gemm_vec.h.
#ifndef MM_GEMM_TILED_H
#define MM_GEMM_TILED_H

#include "gemm_common.h"

// Stages K tile `t` into as_/bs_: A 64x32 half (zero outside M and K) and B 32x64 half dequantized.
// Thread tid loads A chunks of 4 halves (tid + 128 i) and B words of column bc = tid % 64, packed rows
// 2 * (tid / 64) + {0, 1} of the tile. With SwiGLU, B columns 32..63 come from the up weight.
template <typename T>
inline void gemm_tiled_stage(device const ushort* a, constant GemmParams& p, uint m0, uint t, uint tid,
                             device const uint* wp, device const uchar* ws, device const uchar* wz, uint sb,
                             GemmDecode dec, constant float* table, bool bf16, uint bcol, uint bc,
                             threadgroup T* as_, threadgroup T* bs_, thread uint& g_end, thread float& s,
                             thread float& z) {
  const uint k0 = t * GEMM_TILE_K;
  const bool vec = (p.flags & GEMM_FLAG_A_VEC4) != 0u;
  // Params in registers for this tile: the loops below would otherwise re-read the constant block.
  const uint M = p.M, K = p.K, lda = p.lda, ldb = p.ldb;
  for (uint i = 0; i < 4; ++i) {
    const uint q = tid + GEMM_THREADS * i;
    const uint r = q / 8u;
    const uint kk = (q % 8u) * 4u;
    const uint gm = m0 + r;
    const uint gk = k0 + kk;
    ushort4 v = ushort4(0);
    if (gm < M) {
      device const ushort* src = a + gm * lda + gk;
      if (vec && gk + 3u < K) {
        v = *((device const ushort4*)src);
      } else {
        for (uint e = 0; e < 4; ++e) {
          if (gk + e < K) {
            v[e] = src[e];
          }
        }
      }
    }
    for (uint e = 0; e < 4; ++e) {
      as_[r * GEMM_TILE_K + kk + e] = T(gemm_act(v[e], bf16));
    }
  }
  for (uint j = 0; j < 2; ++j) {
    const uint kr = (tid / 64u) * 2u + j;
    const uint kw = k0 / 8u + kr;
    float w[8];
    if (bcol < p.Np && kw < p.Kw) {
      if (kw * 8u >= g_end) {  // this thread walks K upward: a compare per word, a division per group
        const uint gs = p.group_size;  // read once per group, not per word
        const uint g = kw * 8u / gs;
        g_end = (g + 1u) * gs;
        gemm_group(dec, ws, wz, sb + g * ldb + bcol, s, z);
      }
      gemm_dequant8(wp[kw * ldb + bcol], table, s, z, w);
    } else {
      for (uint i = 0; i < 8; ++i) {
        w[i] = 0.0f;
      }
    }
    for (uint i = 0; i < 8; ++i) {
      bs_[(kr * 8u + i) * GEMM_TILE_N + bc] = T(w[i]);
    }
  }
}

// Grid (ceil(N / TN), ceil(M / 64), batch) x 128 threads, TN = 64 (32 with SwiGLU). Simdgroup sg owns
// rows 32 (sg / 2) .. +32 and 4 column blocks of 8: 4x4 float 8x8 accumulators. Threadgroup memory:
// T = half: A 2 x 64x32 (8 KB) + B 2 x 32x64 (8 KB); T = float: 1 x each (16 KB); + per-simdgroup
// staging 4 x 2 x 8x32 float (8 KB) = 24 KB either way. Ragged M, N, K take the same path (zero-filled
// tiles, bounds-checked stores from staging). 4-element A loads only when flags has GEMM_FLAG_A_VEC4
// (host checks lda, stride and offset alignment).
template <typename T>
[[kernel]] void gemm_tiled(device const uint* packed [[buffer(0)]],
                           device const uchar* scales [[buffer(1)]],
                           device const uchar* zeros [[buffer(2)]],
                           device const ushort* a [[buffer(3)]],
                           device ushort* c [[buffer(4)]],
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
  // Buffers per tile: 2 for half (double-buffered), 1 for float. Written out in the array bounds so the
  // host's threadgroup-memory reflection (lib/cpu/rewrite_tgbytes.ts) can size them from T alone.
  constexpr uint NBUF = sizeof(T) == 2 ? 2u : 1u;
  threadgroup T as_[sizeof(T) == 2 ? 2u : 1u][GEMM_TILE_M * GEMM_TILE_K];
  threadgroup T bs_[sizeof(T) == 2 ? 2u : 1u][GEMM_TILE_K * GEMM_TILE_N];
  threadgroup float stage[4][2][8 * 32];
  static_assert(sizeof(as_) + sizeof(bs_) + sizeof(stage) <= 32768, "gemm_tiled: threadgroup memory over 32 KB");

  const uint epi = p.epilogue;
  const bool swiglu = (epi & GEMM_EPI_SWIGLU) != 0u;
  const uint tn = swiglu ? GEMM_TILE_N / 2u : GEMM_TILE_N;
  const uint b = group.z;
  const uint m0 = group.y * GEMM_TILE_M;
  const uint n0 = group.x * tn;
  const uint sg_r = sg / 2u;
  const uint sg_c = sg % 2u;
  a += b * p.stride_a;

  // This thread's B column: with SwiGLU, tile columns 0..31 are gate, 32..63 the same outputs' up.
  const uint bc = tid % GEMM_TILE_N;
  const bool from_up = swiglu && bc >= 32u;
  const uint bcol = n0 + (swiglu ? bc % 32u : bc);
  device const uint* wp = (from_up ? up_packed : packed) + b * p.stride_w;
  device const uchar* ws = from_up ? up_scales : scales;
  device const uchar* wz = from_up ? up_zeros : zeros;
  const uint sb = b * p.stride_s;  // scale/zero/bias elements of this batch (gemm_group indexes by type)
  const GemmDecode dec = gemm_decode(p, from_up);
  constant float* table = gemm_code_table(dec.format);
  const bool bf16 = (epi & GEMM_EPI_BF16) != 0u;
  uint g_end = 0u;
  float s = 0.0f, z = 0.0f;

  // Tile column of accumulator block j: plain 8j within the simdgroup's 32; SwiGLU gate j < 2, up j >= 2.
  uint bcol_of[4];
  for (uint j = 0; j < 4; ++j) {
    bcol_of[j] = swiglu ? (j < 2u ? sg_c * 16u + 8u * j : 32u + sg_c * 16u + 8u * (j - 2u))
                        : sg_c * 32u + 8u * j;
  }

  simdgroup_float8x8 acc[4][4];
  typedef simdgroup_matrix<T, 8, 8> tile8x8;
  for (uint i = 0; i < 4; ++i) {
    for (uint j = 0; j < 4; ++j) {
      acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }

  const uint ntiles = (p.Kw * 8u + GEMM_TILE_K - 1u) / GEMM_TILE_K;
  gemm_tiled_stage<T>(a, p, m0, 0u, tid, wp, ws, wz, sb, dec, table, bf16, bcol, bc, &as_[0][0], &bs_[0][0], g_end, s, z);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint t = 0; t < ntiles; ++t) {
    const uint cur = t % NBUF;
    // Double buffer: stage the next tile into the other buffer while this one is multiplied; the barrier
    // at the end of the step orders both (the next step overwrites `cur` only after everyone finished).
    if (NBUF == 2u && t + 1u < ntiles) {
      gemm_tiled_stage<T>(a, p, m0, t + 1u, tid, wp, ws, wz, sb, dec, table, bf16, bcol, bc, &as_[cur ^ 1u][0], &bs_[cur ^ 1u][0],
                          g_end, s, z);
    }
    for (uint kk = 0; kk < GEMM_TILE_K; kk += 8u) {
      tile8x8 ma[4];
      tile8x8 mb[4];
      for (uint i = 0; i < 4; ++i) {
        simdgroup_load(ma[i], &as_[cur][0], GEMM_TILE_K, ulong2(kk, sg_r * 32u + 8u * i));
      }
      for (uint j = 0; j < 4; ++j) {
        simdgroup_load(mb[j], &bs_[cur][0], GEMM_TILE_N, ulong2(bcol_of[j], kk));
      }
      for (uint i = 0; i < 4; ++i) {
        for (uint j = 0; j < 4; ++j) {
          simdgroup_multiply_accumulate(acc[i][j], ma[i], mb[j], acc[i][j]);
        }
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    // Single buffer: the next tile is staged only after every simdgroup finished reading this one.
    if (NBUF == 1u && t + 1u < ntiles) {
      gemm_tiled_stage<T>(a, p, m0, t + 1u, tid, wp, ws, wz, sb, dec, table, bf16, bcol, bc, &as_[0][0], &bs_[0][0], g_end, s, z);
      threadgroup_barrier(mem_flags::mem_threadgroup);
    }
  }

  // Per-simdgroup staging: one 8-row strip (8 x 32, or 8 x 16 gate + 8 x 16 up for SwiGLU) goes
  // through this simdgroup's own slot, then lane l stores column l of its 8 rows with bounds checks
  // and the epilogue, so consecutive lanes write consecutive halves (64-byte runs per row).
  residual += b * p.stride_r;
  c += b * p.stride_c;
  const uint width = swiglu ? 16u : 32u;
  const uint col0 = n0 + sg_c * width;
  for (uint i = 0; i < 4; ++i) {
    for (uint j = 0; j < 4; ++j) {
      // SwiGLU: blocks 0, 1 are gate columns 0..15, blocks 2, 3 the matching up columns (plane 1).
      const uint plane = swiglu && j >= 2u ? 1u : 0u;
      const uint cj = swiglu ? j % 2u : j;
      simdgroup_store(acc[i][j], &stage[sg][plane][0], 32, ulong2(8u * cj, 0));
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
    if (lane < width) {
      const uint gn = col0 + lane;
      for (uint r = 0; r < 8u; ++r) {
        const uint gm = m0 + sg_r * 32u + 8u * i + r;
        if (gm < p.M && gn < p.N) {
          const float u = swiglu ? stage[sg][1][r * 32u + lane] : 0.0f;
          const float v = gemm_epilogue(stage[sg][0][r * 32u + lane], u, gm, gn, p, epi, bf16, bias, residual);
          c[gm * p.ldc + gn] = gemm_act_bits(v, bf16);
        }
      }
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);
  }
}

#endif  // MM_GEMM_TILED_H
