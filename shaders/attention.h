// attention.h — flash-style attention over a KV cache: one pass over key tiles with an online softmax
// (running max m, running sum l, unnormalised output o per query), K/V tiles staged in threadgroup
// memory and shared by the 4 tasks of a threadgroup (the query heads and rows that read one KV head).
#ifndef MM_ATTENTION_H
#define MM_ATTENTION_H

#include "layer_params.h"

// "Minus infinity" for the running max: finite, because Metal's fast math may assume no infinities.
// exp(ATTN_NEG - m) is exactly 0 for any real score m.
#define ATTN_NEG (-3.0e38f)

// Grid (ceil(T * G / 4), Hkv, splits) x 128 threads, G = Hq / Hkv. Simdgroup s takes task
// t = 4 * group.x + s = (query row t / G, query head kv_head * G + t % G); so for decode (T = 1) the G
// heads of one KV head share each tile, and for prefill 4 / G rows do. Lane j < TK scores key j of the
// tile; lane l accumulates output dims l, l + 32, ... Threadgroup memory: K and V tiles 2 x TK x DMAX
// half + q 4 x DMAX float + p 4 x TK float (DMAX 128, TK 32: 18.5 KB; DMAX 256, TK 16: 20.3 KB).
// OutT = half: O [T, Hq, D] normalised. OutT = float (split decode): split z covers keys
// [z * chunk, (z + 1) * chunk) and writes unnormalised o [z][T * Hq][D], then (m, l) pairs after all
// splits' o; attn_combine merges them in split order (deterministic, no atomics).
template <uint DMAX, uint TK, typename OutT>
[[kernel]] void attn_tiles(device const half* kc [[buffer(0)]],
                           device const half* vc [[buffer(1)]],
                           device const half* q [[buffer(2)]],
                           device OutT* out [[buffer(3)]],
                           constant AttnParams& p [[buffer(4)]],
                           uint3 group [[threadgroup_position_in_grid]],
                           uint tid [[thread_index_in_threadgroup]],
                           uint sg [[simdgroup_index_in_threadgroup]],
                           uint lane [[thread_index_in_simdgroup]]) {
  threadgroup half ks[TK * DMAX];
  threadgroup half vs[TK * DMAX];
  threadgroup float qs[ATTN_TASKS * DMAX];
  threadgroup float ps[ATTN_TASKS * TK];
  static_assert(sizeof(ks) + sizeof(vs) + sizeof(qs) + sizeof(ps) <= 32768, "attn: threadgroup memory over 32 KB");
  static_assert(TK <= 32u && DMAX % 32u == 0u, "attn: one lane per key, DMAX a multiple of 32");

  const uint D = p.head_dim;
  const uint G = p.q_heads / p.kv_heads;
  const uint kvh = group.y;
  const uint tasks = p.q_rows * G;
  const uint task = group.x * ATTN_TASKS + sg;
  const bool live = task < tasks;
  const uint row = live ? task / G : 0u;
  const uint head = kvh * G + (live ? task % G : 0u);

  // Keys this threadgroup visits: its split's range, cut at the last live row's causal limit.
  const uint last_task = min(tasks, (group.x + 1u) * ATTN_TASKS) - 1u;
  const uint k_begin = group.z * p.chunk;
  uint k_end = min(p.kv_len, k_begin + p.chunk);
  if (p.causal != 0u) {
    k_end = min(k_end, p.q_pos0 + last_task / G + 1u);
  }
  // This task's own limit: the causal mask counts positions from the cache offset q_pos0, so a decode
  // query (row 0, q_pos0 = cache length) sees every cached key, not only key 0.
  const uint my_end = p.causal != 0u ? min(p.kv_len, p.q_pos0 + row + 1u) : p.kv_len;

  if (live) {
    for (uint d = lane; d < D; d += 32u) {
      qs[sg * DMAX + d] = float(q[row * p.ldq + head * D + d]) * p.scale;
    }
  }
  float m = ATTN_NEG;
  float l = 0.0f;
  float o[DMAX / 32u];
  for (uint i = 0; i < DMAX / 32u; ++i) {
    o[i] = 0.0f;
  }

  device const half* kh = kc + kvh * p.kv_head_pitch;
  device const half* vh = vc + kvh * p.kv_head_pitch;
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
    if (live && k0 < my_end) {
      const uint key = k0 + lane;
      const bool ok = lane < n && key < my_end;
      float s = ATTN_NEG;
      if (ok) {
        float acc = 0.0f;
        for (uint d = 0; d < D; ++d) {
          acc += qs[sg * DMAX + d] * float(ks[lane * DMAX + d]);
        }
        s = acc;
      }
      // Every key of the tile is weighted by exp(s_j - m_new) with its own score s_j: the reference
      // repository weighted the tile's first key with the tile maximum instead.
      const float m_new = max(m, simd_max(s));
      const float pj = ok ? exp(s - m_new) : 0.0f;
      const float alpha = exp(m - m_new);  // 0 on the first visible tile (m = ATTN_NEG)
      l = l * alpha + simd_sum(pj);
      if (lane < TK) {
        ps[sg * TK + lane] = pj;
      }
      simdgroup_barrier(mem_flags::mem_threadgroup);
      for (uint i = 0; i < DMAX / 32u; ++i) {
        const uint d = lane + 32u * i;
        if (d < D) {
          float acc = o[i] * alpha;
          for (uint j = 0; j < n; ++j) {
            acc += ps[sg * TK + j] * float(vs[j * DMAX + d]);
          }
          o[i] = acc;
        }
      }
      m = m_new;
    }
  }

  if (!live) {
    return;
  }
  const uint r = row * p.q_heads + head;  // (row, head) index of this task
  if (sizeof(OutT) == 2) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // l = 0 only when no key is visible (kv_len = 0)
    for (uint i = 0; i < DMAX / 32u; ++i) {
      const uint d = lane + 32u * i;
      if (d < D) {
        out[row * p.ldo + head * D + d] = OutT(o[i] * inv);
      }
    }
  } else {
    const uint rows = p.q_rows * p.q_heads;
    for (uint i = 0; i < DMAX / 32u; ++i) {
      const uint d = lane + 32u * i;
      if (d < D) {
        out[(group.z * rows + r) * D + d] = OutT(o[i]);
      }
    }
    if (lane == 0u) {
      const uint ml = p.splits * rows * D + (group.z * rows + r) * 2u;
      out[ml] = OutT(m);
      out[ml + 1u] = OutT(l);
    }
  }
}

#endif  // MM_ATTENTION_H
