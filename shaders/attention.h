// attention.h — flash-style attention over a KV cache: one pass over key tiles with an online softmax
// (running max m, running sum l, unnormalised output o per query), K/V tiles staged in threadgroup
// memory and shared by every task of the threadgroup (the query rows and heads that read one KV head).
// q, the cache and O are raw 16-bit elements, f16 or bf16 by p.act_bf16 (gemm_act / gemm_act_bits of
// gemm_common.h): one kernel per head-dim class, not one per dtype.
#ifndef MM_ATTENTION_H
#define MM_ATTENTION_H

#include "gemm_common.h"
#include "layer_params.h"

// "Minus infinity" for the running max: finite, because Metal's fast math may assume no infinities.
// exp(ATTN_NEG - m) is exactly 0 for any real score m.
#define ATTN_NEG (-3.0e38f)

// Grid (ceil(T * G / (4 R)), Hkv, splits) x 128 threads, G = Hq / Hkv. Simdgroup s owns R tasks
// t = (4 group.x + s) R + r, each t = (query row t / G, query head kv_head * G + t % G): decode (T = 1)
// shares each tile among the G heads of a KV head, prefill among 4 R / G rows as well, so a K/V tile is
// read once per 4 R tasks. Lane j < TK scores key j of the tile; lane l accumulates output dims l, l + 32,
// ... Threadgroup memory: K and V tiles 2 x TK x DMAX ushort + q 4R x DMAX float + p 4R x TK float
// (DMAX 128, TK 32, R 4: 26 KB; DMAX 256, TK 16, R 2: 24.5 KB). The tiles hold the cache's raw bits
// (f16 or bf16) and are decoded as read: the same 2 bytes per element for both dtypes, where staging
// decoded floats would double them to 32 KB for the tiles alone.
// OutT = ushort: O [T, Hq, D] normalised, f16 or bf16 bits. OutT = float (split decode): split z
// covers keys [z * chunk, (z + 1) * chunk) and writes unnormalised o [z][T * Hq][D], then (m, l) pairs
// after all splits' o; attn_combine merges them in split order (deterministic, no atomics).
template <uint DMAX, uint TK, uint R, typename OutT>
[[kernel]] void attn_tiles(device const ushort* kc [[buffer(0)]],
                           device const ushort* vc [[buffer(1)]],
                           device const ushort* q [[buffer(2)]],
                           device OutT* out [[buffer(3)]],
                           constant AttnParams& p [[buffer(4)]],
                           uint3 group [[threadgroup_position_in_grid]],
                           uint tid [[thread_index_in_threadgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]],
                           uint lane [[thread_index_in_simdgroup]]) {
  threadgroup ushort ks[TK * DMAX];
  threadgroup ushort vs[TK * DMAX];
  threadgroup float qs[ATTN_TASKS * R * DMAX];
  threadgroup float ps[ATTN_TASKS * R * TK];
  static_assert(sizeof(ks) + sizeof(vs) + sizeof(qs) + sizeof(ps) <= 32768, "attn: threadgroup memory over 32 KB");
  static_assert(TK <= 32u && DMAX % 32u == 0u, "attn: one lane per key, DMAX a multiple of 32");

  const uint D = p.head_dim;
  const bool bf16 = p.act_bf16 != 0u;
  const uint G = p.q_heads / p.kv_heads;
  const uint kvh = group.y;
  const uint tasks = p.q_rows * G;
  const uint task0 = (group.x * ATTN_TASKS + sg) * R;  // this simdgroup's first task

  // Keys this threadgroup visits: its split's range, cut at the last live row's causal limit.
  const uint last_task = min(tasks, (group.x + 1u) * ATTN_TASKS * R) - 1u;
  const uint k_begin = group.z * p.chunk;
  uint k_end = min(p.kv_len, k_begin + p.chunk);
  if (p.causal != 0u) {
    k_end = min(k_end, p.q_pos0 + last_task / G + 1u);
  }

  // Per task: row, head, and its own key limit. The causal mask counts positions from the cache offset
  // q_pos0, so a decode query (row 0, q_pos0 = cache length) sees every cached key, not only key 0.
  uint row[R];
  uint head[R];
  uint my_end[R];
  float m[R];
  float l[R];
  float o[R][DMAX / 32u];
  for (uint r = 0; r < R; ++r) {
    const bool live = task0 + r < tasks;
    row[r] = live ? (task0 + r) / G : 0u;
    head[r] = kvh * G + (live ? (task0 + r) % G : 0u);
    my_end[r] = !live ? 0u : p.causal != 0u ? min(p.kv_len, p.q_pos0 + row[r] + 1u) : p.kv_len;
    m[r] = ATTN_NEG;
    l[r] = 0.0f;
    for (uint i = 0; i < DMAX / 32u; ++i) {
      o[r][i] = 0.0f;
    }
    if (live) {
      for (uint d = lane; d < D; d += 32u) {
        qs[(sg * R + r) * DMAX + d] = gemm_act(q[row[r] * p.ldq + head[r] * D + d], bf16) * p.scale;
      }
    }
  }

  device const ushort* kh = kc + kvh * p.kv_head_pitch;
  device const ushort* vh = vc + kvh * p.kv_head_pitch;
  for (uint k0 = k_begin; k0 < k_end; k0 += TK) {
    const uint n = min(TK, k_end - k0);
    threadgroup_barrier(mem_flags::mem_threadgroup);  // every task is done with the previous tile
    for (uint e = tid; e < n * D; e += ATTN_THREADS) {
      const uint j = e / D;
      const uint d = e - j * D;
      ks[j * DMAX + d] = kh[(k0 + j) * p.kv_tok_pitch + d];
      vs[j * DMAX + d] = vh[(k0 + j) * p.kv_tok_pitch + d];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float alpha[R];
    uint used = 0u;  // tasks of this simdgroup that see at least one key of the tile (a prefix: rows ascend)
    for (uint r = 0; r < R; ++r) {
      alpha[r] = 1.0f;
      if (k0 < my_end[r]) {
        used = r + 1u;
        const uint key = k0 + lane;
        const bool ok = lane < n && key < my_end[r];
        float s = ATTN_NEG;
        if (ok) {
          float acc = 0.0f;
          for (uint d = 0; d < D; ++d) {
            acc += qs[(sg * R + r) * DMAX + d] * gemm_act(ks[lane * DMAX + d], bf16);
          }
          s = acc;
        }
        // Every key of the tile is weighted by exp(s_j - m_new) with its own score s_j: the reference
        // repository weighted the tile's first key with the tile maximum instead.
        const float m_new = max(m[r], simd_max(s));
        const float pj = ok ? exp(s - m_new) : 0.0f;
        alpha[r] = exp(m[r] - m_new);  // 0 on the first visible tile (m = ATTN_NEG)
        l[r] = l[r] * alpha[r] + simd_sum(pj);
        m[r] = m_new;
        if (lane < TK) {
          ps[(sg * R + r) * TK + lane] = pj;
        }
      }
    }
    if (used > 0u) {
      simdgroup_barrier(mem_flags::mem_threadgroup);
      for (uint i = 0; i < DMAX / 32u; ++i) {
        const uint d = lane + 32u * i;
        if (d < D) {
          float acc[R];
          for (uint r = 0; r < R; ++r) {
            acc[r] = o[r][i] * alpha[r];
          }
          for (uint j = 0; j < n; ++j) {
            const float v = gemm_act(vs[j * DMAX + d], bf16);  // one V read serves every task of the simdgroup
            for (uint r = 0; r < used; ++r) {
              acc[r] += ps[(sg * R + r) * TK + j] * v;
            }
          }
          for (uint r = 0; r < used; ++r) {
            o[r][i] = acc[r];
          }
        }
      }
    }
  }

  const uint rows = p.q_rows * p.q_heads;
  for (uint r = 0; r < R; ++r) {
    if (task0 + r >= tasks) {
      break;
    }
    const uint rh = row[r] * p.q_heads + head[r];  // (row, head) index of this task
    // Both branches are compiled for both OutT (a plain if, as before): only the matching one runs.
    if (sizeof(OutT) == 2) {
      const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;  // l = 0 only when no key is visible (kv_len = 0)
      for (uint i = 0; i < DMAX / 32u; ++i) {
        const uint d = lane + 32u * i;
        if (d < D) {
          out[row[r] * p.ldo + head[r] * D + d] = OutT(gemm_act_bits(o[r][i] * inv, bf16));
        }
      }
    } else {
      for (uint i = 0; i < DMAX / 32u; ++i) {
        const uint d = lane + 32u * i;
        if (d < D) {
          out[(group.z * rows + rh) * D + d] = OutT(o[r][i]);
        }
      }
      if (lane == 0u) {
        const uint ml = p.splits * rows * D + (group.z * rows + rh) * 2u;
        out[ml] = OutT(m[r]);
        out[ml + 1u] = OutT(l[r]);
      }
    }
  }
}

#endif  // MM_ATTENTION_H
