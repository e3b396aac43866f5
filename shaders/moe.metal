// moe.metal — mixture-of-experts kernels: router (logits, softmax, top-k, renormalisation), a stable
// counting sort of (token, slot) pairs by expert, the grouped GEMM over sorted rows (moe.h), and the
// weighted combine. Names: moe_router_f16, moe_sort, moe_gemm_<fp4|int4|int4sym>_gs<32|64|128|256>,
// moe_combine. Nothing here uses atomics or a data-dependent order: results are the same bits every run.
#include <metal_stdlib>
using namespace metal;

#include "moe.h"

// Grid (T) x 128 threads; one token per threadgroup. Simdgroup s computes the logits of experts s, s + 4,
// ...: its lanes stride along D of the router row W[e] (router weights [E, D], row-major: each request
// reads 32 consecutive halves of one row, coalesced) and simd_sum them. Threadgroup memory: E floats.
// Thread 0 then takes the softmax and the top-k: scanning experts upward with a strict '>', so a tie goes
// to the lower expert index; weights are the softmax probabilities, renormalised over the k if asked.
[[kernel]] void moe_router_f16(device const half* w [[buffer(0)]],
                               device const half* x [[buffer(1)]],
                               device uint* ids [[buffer(2)]],
                               device float* weights [[buffer(3)]],
                               constant RouterParams& p [[buffer(4)]],
                               uint t [[threadgroup_position_in_grid]],
                               uint tid [[thread_index_in_threadgroup]],
                               uint sg [[simdgroup_index_in_threadgroup]],
                               uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float logits[MOE_MAX_EXPERTS];
  device const half* xr = x + t * p.ldx;
  for (uint e = sg; e < p.experts; e += MOE_THREADS / 32u) {
    float acc = 0.0f;
    for (uint d = lane; d < p.dim; d += 32u) {
      acc += float(xr[d]) * float(w[e * p.dim + d]);
    }
    acc = simd_sum(acc);
    if (lane == 0u) {
      logits[e] = acc;
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (tid != 0u) {
    return;
  }
  float mx = logits[0];
  for (uint e = 1; e < p.experts; ++e) {
    mx = max(mx, logits[e]);
  }
  float total = 0.0f;
  for (uint e = 0; e < p.experts; ++e) {
    total += exp(logits[e] - mx);
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
      if (!taken && (best == 0xffffffffu || logits[e] > logits[best])) {
        best = e;
      }
    }
    chosen[j] = best;
    picked += exp(logits[best] - mx);
  }
  const float den = p.renorm != 0u ? picked : total;
  for (uint j = 0; j < p.top_k; ++j) {
    ids[t * p.top_k + j] = chosen[j];
    weights[t * p.top_k + j] = exp(logits[chosen[j]] - mx) / den;
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
// race on it (the reference repository did a non-atomic += per expert). No threadgroup memory.
[[kernel]] void moe_combine(device const half* y [[buffer(0)]],
                            device const float* weights [[buffer(1)]],
                            device const uint* inverse [[buffer(2)]],
                            device half* out [[buffer(3)]],
                            constant CombineParams& p [[buffer(4)]],
                            device const half* add [[buffer(5)]],
                            uint2 group [[threadgroup_position_in_grid]],
                            uint tid [[thread_index_in_threadgroup]]) {
  const uint n = group.x * MOE_THREADS + tid;
  const uint t = group.y;
  if (n >= p.N) {
    return;
  }
  float acc = 0.0f;
  for (uint j = 0; j < p.top_k; ++j) {
    const uint q = t * p.top_k + j;
    acc += weights[q] * float(y[inverse[q] * p.ldy + n]);
  }
  if (p.add != 0u) {
    acc += float(add[t * p.ld_add + n]);
  }
  out[t * p.ldo + n] = half(acc);
}

// ---- grouped GEMM instantiations (moe.h) ----
template [[host_name("moe_gemm_fp4_gs32")]] [[kernel]] void moe_gemm<GEMM_FMT_FP4, 32u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_fp4_gs64")]] [[kernel]] void moe_gemm<GEMM_FMT_FP4, 64u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_fp4_gs128")]] [[kernel]] void moe_gemm<GEMM_FMT_FP4, 128u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_fp4_gs256")]] [[kernel]] void moe_gemm<GEMM_FMT_FP4, 256u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4_gs32")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4, 32u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4_gs64")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4, 64u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4_gs128")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4, 128u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4_gs256")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4, 256u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4sym_gs32")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4_SYM, 32u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4sym_gs64")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4_SYM, 64u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4sym_gs128")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4_SYM, 128u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("moe_gemm_int4sym_gs256")]] [[kernel]] void moe_gemm<GEMM_FMT_INT4_SYM, 256u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant MoeGemmParams& p [[buffer(5)]], device const uint* sorted [[buffer(6)]],
    device const uint* offsets [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint2 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
