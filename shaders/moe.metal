// moe.metal — mixture-of-experts kernels: router (logits, softmax, top-k, renormalisation), a stable
// counting sort of (token, slot) pairs by expert, the grouped GEMM over sorted rows (moe.h), and the
// weighted combine. Names: moe_router_f16, moe_sort, moe_gemm (one kernel: format and group size are data,
// as in the GEMM kernels), moe_combine. Nothing here uses atomics or a data-dependent order: results are
// the same bits every run. Activations are f16 or bf16 by a params field (raw 16-bit elements read by
// gemm_act, stored by gemm_act_bits); moe_router_f16 keeps its name but reads bf16 as well.
#include <metal_stdlib>
using namespace metal;

#include "moe.h"

// Grid (ceil(T / 8)) x 128 threads; 8 tokens per threadgroup, so the router weights are read once per 8
// tokens. The tokens' x rows are staged in threadgroup memory 512 columns at a time; simdgroup s computes
// the logits of experts s, s + 4, ...: its lanes stride along D of the router row W[e] (router weights
// [E, D], row-major: each request reads 32 consecutive 16-bit elements of one row, coalesced), each weight
// applied to all 8 tokens, and adds the simd_sum per chunk in chunk order (deterministic). x and the
// router are f16 or bf16 (p.act_bf16); x is staged as its raw bits, decoded as read. Threadgroup memory:
// 8 x 512 ushort + 8 x E float (16 KB at E = 256). Thread t < 8 then takes token t's softmax and top-k: scanning
// experts upward with a strict '>', so a tie goes to the lower expert index; weights are the softmax
// probabilities, renormalised over the k if asked.
[[kernel]] void moe_router_f16(device const ushort* w [[buffer(0)]],
                               device const ushort* x [[buffer(1)]],
                               device uint* ids [[buffer(2)]],
                               device float* weights [[buffer(3)]],
                               constant RouterParams& p [[buffer(4)]],
                               uint tg [[threadgroup_position_in_grid]],
                               uint tid [[thread_index_in_threadgroup]],
                               uint sg [[simdgroup_index_in_threadgroup]],
                               uint lane [[thread_index_in_simdgroup]]) {
  threadgroup ushort xs[MOE_ROUTER_TOKENS * MOE_ROUTER_CHUNK];
  threadgroup float logits[MOE_ROUTER_TOKENS * MOE_MAX_EXPERTS];
  const bool bf16 = p.act_bf16 != 0u;
  const uint t0 = tg * MOE_ROUTER_TOKENS;
  const uint rows = min(MOE_ROUTER_TOKENS, p.tokens - t0);
  for (uint i = tid; i < MOE_ROUTER_TOKENS * MOE_MAX_EXPERTS; i += MOE_THREADS) {
    logits[i] = 0.0f;
  }
  for (uint c0 = 0; c0 < p.dim; c0 += MOE_ROUTER_CHUNK) {
    const uint len = min(MOE_ROUTER_CHUNK, p.dim - c0);
    threadgroup_barrier(mem_flags::mem_threadgroup);  // the previous chunk's readers are done
    for (uint i = tid; i < MOE_ROUTER_TOKENS * MOE_ROUTER_CHUNK; i += MOE_THREADS) {
      const uint t = i / MOE_ROUTER_CHUNK;
      const uint d = i - t * MOE_ROUTER_CHUNK;
      xs[i] = t < rows && d < len ? x[(t0 + t) * p.ldx + c0 + d] : ushort(0u);  // +0 in f16 and bf16
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint e = sg; e < p.experts; e += MOE_THREADS / 32u) {
      float acc[MOE_ROUTER_TOKENS];
      for (uint t = 0; t < MOE_ROUTER_TOKENS; ++t) {
        acc[t] = 0.0f;
      }
      for (uint d = lane; d < len; d += 32u) {
        const float wv = gemm_act(w[e * p.dim + c0 + d], bf16);
        for (uint t = 0; t < MOE_ROUTER_TOKENS; ++t) {
          acc[t] += gemm_act(xs[t * MOE_ROUTER_CHUNK + d], bf16) * wv;
        }
      }
      for (uint t = 0; t < rows; ++t) {
        const float s = simd_sum(acc[t]);
        if (lane == 0u) {
          logits[t * MOE_MAX_EXPERTS + e] += s;
        }
      }
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (tid >= rows) {
    return;
  }
  threadgroup const float* lg = logits + tid * MOE_MAX_EXPERTS;
  const uint t = t0 + tid;
  float mx = lg[0];
  for (uint e = 1; e < p.experts; ++e) {
    mx = max(mx, lg[e]);
  }
  float total = 0.0f;
  for (uint e = 0; e < p.experts; ++e) {
    total += exp(lg[e] - mx);
  }
  uint chosen[MOE_MAX_TOPK];
  float picked = 0.0f;
  for (uint j = 0; j < p.top_k; ++j) {
    uint best = 0xffffffffu;
    for (uint e = 0; e < p.experts; ++e) {
      bool taken = false;
      for (uint i = 0; i < j; ++i) {
        taken = taken || chosen[i] == e;
      }
      if (!taken && (best == 0xffffffffu || lg[e] > lg[best])) {
        best = e;
      }
    }
    chosen[j] = best;
    picked += exp(lg[best] - mx);
  }
  const float den = p.renorm != 0u ? picked : total;
  for (uint j = 0; j < p.top_k; ++j) {
    ids[t * p.top_k + j] = chosen[j];
    weights[t * p.top_k + j] = exp(lg[chosen[j]] - mx) / den;
  }
}

// Grid (1) x 256 threads: a stable counting sort of the P = T * k pairs by expert. Thread e counts the
// pairs of expert e (e, e + 256, ...), thread 0 forms the exclusive prefix sum in expert order, then
// thread e writes its pairs in ascending pair order: sorted[offsets[e] + i] = the i-th pair of expert e,
// inverse[pair] = its sorted position. Stable and deterministic by construction (no atomics). Reads of
// ids are broadcasts (every thread walks the same index). Threadgroup memory: 257 uints.
// Pairs with an id >= E are skipped (never written): the router never produces one.
[[kernel]] void moe_sort(device const uint* ids [[buffer(0)]],
                         device uint* sorted [[buffer(1)]],
                         device uint* offsets [[buffer(2)]],
                         device uint* inverse [[buffer(3)]],
                         constant SortParams& p [[buffer(4)]],
                         uint tid [[thread_index_in_threadgroup]]) {
  threadgroup uint start[MOE_MAX_EXPERTS + 1u];
  for (uint e = tid; e < p.experts; e += MOE_SORT_THREADS) {
    uint cnt = 0u;
    for (uint q = 0; q < p.pairs; ++q) {
      cnt += ids[q] == e ? 1u : 0u;
    }
    start[e + 1u] = cnt;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (tid == 0u) {
    start[0] = 0u;
    for (uint e = 0; e < p.experts; ++e) {
      start[e + 1u] += start[e];
    }
    for (uint e = 0; e <= p.experts; ++e) {
      offsets[e] = start[e];
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint e = tid; e < p.experts; e += MOE_SORT_THREADS) {
    uint pos = start[e];
    for (uint q = 0; q < p.pairs; ++q) {
      if (ids[q] == e) {
        sorted[pos] = q;
        inverse[q] = pos;
        ++pos;
      }
    }
  }
}

// Grid (ceil(N / 128), T) x 128 threads; thread n of token t: out = add + sum over slots in order of
// weight[t, slot] * y[inverse[t * k + slot], n]. Each output has exactly one writer, so experts never
// race on it (the reference repository did a non-atomic += per expert). y, add and out are f16 or bf16
// (p.act_bf16). No threadgroup memory.
[[kernel]] void moe_combine(device const ushort* y [[buffer(0)]],
                            device const float* weights [[buffer(1)]],
                            device const uint* inverse [[buffer(2)]],
                            device ushort* out [[buffer(3)]],
                            constant CombineParams& p [[buffer(4)]],
                            device const ushort* add [[buffer(5)]],
                            uint2 group [[threadgroup_position_in_grid]],
                            uint tid [[thread_index_in_threadgroup]]) {
  const uint n = group.x * MOE_THREADS + tid;
  const uint t = group.y;
  if (n >= p.N) {
    return;
  }
  const bool bf16 = p.act_bf16 != 0u;
  float acc = 0.0f;
  for (uint j = 0; j < p.top_k; ++j) {
    const uint q = t * p.top_k + j;
    acc += weights[q] * gemm_act(y[inverse[q] * p.ldy + n], bf16);
  }
  if (p.add != 0u) {
    acc += gemm_act(add[t * p.ld_add + n], bf16);
  }
  out[t * p.ldo + n] = gemm_act_bits(acc, bf16);
}
