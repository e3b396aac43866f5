// moe.h — the grouped GEMM of a mixture of experts: rows sorted by expert (moe_sort), each threadgroup
// one expert's tile of up to 16 rows, so every row of a tile uses the tile's own expert (the reference
// repository gave a whole tile the first token's expert) and each expert weight word is read once per tile.
#ifndef MM_MOE_H
#define MM_MOE_H

#include "gemm_common.h"
#include "layer_params.h"

// Grid (ceil(N / 32), min(ceil(P / 16) + E, P)) x 128 threads: grid.y enumerates (expert, tile) pairs in
// expert order, an upper bound on sum_e ceil(count_e / 16); threadgroups past the last tile return at once.
// Lane l owns column 32 * group.x + l; simdgroup s walks words [8s, 8s + 8) of each 256-deep K block,
// as gemm_vec (gemm_vec.h). Threadgroup memory: 16 x 256 float (16 KB): the gathered x rows, then the
// cross-simdgroup reduction. Format, scale storage, group size and nvfp4 tensor scales are runtime
// parameters decoded by gemm_common.h (gemm_group / gemm_dequant8); zb: int4 zero points or int4-affine
// biases (buffers 2 and 10). a and c are raw f16 or bf16 bits (p.act_bf16: gemm_act / gemm_act_bits).
// No alignment requirement.
[[kernel]] void moe_gemm(device const uint* packed [[buffer(0)]],
                         device const uchar* scales [[buffer(1)]],
                         device const uchar* zb [[buffer(2)]],
                         device const ushort* a [[buffer(3)]],
                         device ushort* c [[buffer(4)]],
                         constant MoeGemmParams& p [[buffer(5)]],
                         device const uint* sorted [[buffer(6)]],
                         device const uint* offsets [[buffer(7)]],
                         device const uint* up_packed [[buffer(8)]],
                         device const uchar* up_scales [[buffer(9)]],
                         device const uchar* up_zb [[buffer(10)]],
                         uint2 group [[threadgroup_position_in_grid]],
                         uint tid [[thread_index_in_threadgroup]],
                         uint sg [[simdgroup_index_in_threadgroup]],
                         uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float xs[MOE_TILE_ROWS * GEMM_VEC_KBLOCK];
  threadgroup float* red = &xs[0];

  // Which expert and tile: walk the experts' tile counts (uniform across the threadgroup).
  uint e = 0xffffffffu;
  uint r0 = 0u, rows = 0u;
  uint seen = 0u;
  for (uint x = 0; x < p.experts; ++x) {
    const uint lo = offsets[x];
    const uint cnt = offsets[x + 1u] - lo;
    const uint nt = (cnt + MOE_TILE_ROWS - 1u) / MOE_TILE_ROWS;
    if (group.y < seen + nt) {
      e = x;
      r0 = lo + (group.y - seen) * MOE_TILE_ROWS;
      rows = min(MOE_TILE_ROWS, offsets[x + 1u] - r0);
      break;
    }
    seen += nt;
  }
  if (e == 0xffffffffu) {
    return;  // past the last tile: uniform for the whole threadgroup, before any barrier
  }

  const bool swiglu = p.swiglu != 0u;
  const bool bf16 = p.act_bf16 != 0u;
  const uint n = group.x * GEMM_VEC_COLS + lane;
  const bool col_ok = n < p.Np;
  const uint wpb = GEMM_VEC_KBLOCK / 8u;
  packed += e * p.stride_w;
  up_packed += e * p.stride_w;
  // Scales, zero points and biases are indexed in elements of their own type (gemm_group).
  const uint sb = e * p.stride_s;
  // Params the loop uses, read once into registers (not re-read from the constant block per word).
  const GemmDecode dec = gemm_decode_fields(p.format, p.scale_dtype, p.tensor_scale);
  const GemmDecode dec_up = gemm_decode_fields(p.format, p.scale_dtype, p.up_tensor_scale);
  constant float* table = gemm_code_table(dec.format);
  const uint gs = p.group_size, np = p.Np, kw_end = p.Kw;

  float acc[MOE_TILE_ROWS];
  float acc_up[MOE_TILE_ROWS];
  for (uint r = 0; r < MOE_TILE_ROWS; ++r) {
    acc[r] = 0.0f;
    acc_up[r] = 0.0f;
  }
  // As gemm_vec: each thread walks K upward, so one compare per word finds the next group and the
  // division by the runtime group size runs once per group.
  uint g_end = 0u;
  float s = 0.0f, z = 0.0f, s_up = 0.0f, z_up = 0.0f;

  for (uint kb = 0; kb < kw_end; kb += wpb) {
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint i = tid; i < rows * GEMM_VEC_KBLOCK; i += MOE_THREADS) {
      const uint r = i / GEMM_VEC_KBLOCK;
      const uint k = kb * 8u + i % GEMM_VEC_KBLOCK;
      const uint src = p.gather != 0u ? sorted[r0 + r] / p.top_k : r0 + r;
      xs[i] = k < p.K ? gemm_act(a[src * p.lda + k], bf16) : 0.0f;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (col_ok) {
      for (uint j = 0; j < 8u; ++j) {
        const uint kw = kb + sg * 8u + j;
        if (kw < kw_end) {
          if (kw * 8u >= g_end) {
            const uint g = kw * 8u / gs;
            g_end = (g + 1u) * gs;
            gemm_group(dec, scales, zb, sb + g * np + n, s, z);
            if (swiglu) {
              gemm_group(dec_up, up_scales, up_zb, sb + g * np + n, s_up, z_up);
            }
          }
          float w[8];
          gemm_dequant8(packed[kw * np + n], table, s, z, w);
          const uint x0 = (sg * 8u + j) * 8u;
          for (uint r = 0; r < rows; ++r) {
            float t = 0.0f;
            for (uint i = 0; i < 8u; ++i) {
              t += w[i] * xs[r * GEMM_VEC_KBLOCK + x0 + i];
            }
            acc[r] += t;
          }
          if (swiglu) {
            gemm_dequant8(up_packed[kw * np + n], table, s_up, z_up, w);
            for (uint r = 0; r < rows; ++r) {
              float t = 0.0f;
              for (uint i = 0; i < 8u; ++i) {
                t += w[i] * xs[r * GEMM_VEC_KBLOCK + x0 + i];
              }
              acc_up[r] += t;
            }
          }
        }
      }
    }
  }

  // Fixed-order combine of the 4 simdgroups' K slices (as gemm_vec): same bits on every run.
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint r = 0; r < rows; ++r) {
    red[(sg * MOE_TILE_ROWS + r) * 32u + lane] = acc[r];
    if (swiglu) {
      red[((4u + sg) * MOE_TILE_ROWS + r) * 32u + lane] = acc_up[r];
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint r = sg; r < rows; r += 4u) {
    float gsum = 0.0f, usum = 0.0f;
    for (uint q = 0; q < 4u; ++q) {
      gsum += red[(q * MOE_TILE_ROWS + r) * 32u + lane];
      if (swiglu) {
        usum += red[((4u + q) * MOE_TILE_ROWS + r) * 32u + lane];
      }
    }
    if (n < p.N) {
      c[(r0 + r) * p.ldc + n] = gemm_act_bits(swiglu ? gemm_silu(gsum) * usum : gsum, bf16);
    }
  }
}

#endif  // MM_MOE_H
