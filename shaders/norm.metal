// norm.metal — RMSNorm: y = x * rsqrt(mean(x^2) + eps) * weight, float accumulation. x and y are f16 or
// bf16 together (p.act_bf16), the weight f16 or bf16 on its own (p.w_bf16: MLX bf16 models ship bf16
// norms); one kernel for every mix, the 16-bit buffers bound as raw ushort and decoded by gemm_act.
// The sum of squares is reduced in a fixed order (lane sums, then simdgroups 0..3), so the result is
// the same bits on every run and any number of worker threads.
#include <metal_stdlib>
using namespace metal;

#include "gemm_common.h"
#include "layer_params.h"

// Grid (rows) x 128 threads (4 simdgroups); one row per threadgroup, thread t walks columns t, t+128, ...
// (coalesced loads and stores). Threadgroup memory: 4 floats (the simdgroup partial sums). The norm is
// computed once per row, then reused for every column. No alignment requirement; x and y may alias.
[[kernel]] void rms_norm(device const ushort* weight [[buffer(0)]],
                         device const ushort* x [[buffer(1)]],
                         device ushort* y [[buffer(2)]],
                         constant NormParams& p [[buffer(3)]],
                         uint row [[threadgroup_position_in_grid]],
                         uint tid [[thread_index_in_threadgroup]],
                         uint sg [[simdgroup_index_in_threadgroup]],
                         uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float partial[NORM_THREADS / 32u];
  const bool bf16 = p.act_bf16 != 0u;
  const bool w_bf16 = p.w_bf16 != 0u;
  device const ushort* xr = x + row * p.ldx;
  float ss = 0.0f;
  for (uint d = tid; d < p.dim; d += NORM_THREADS) {
    const float v = gemm_act(xr[d], bf16);
    ss += v * v;
  }
  ss = simd_sum(ss);
  if (lane == 0u) {
    partial[sg] = ss;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const float total = partial[0] + partial[1] + partial[2] + partial[3];
  const float inv = rsqrt(total / float(p.dim) + p.eps);
  // Every lane read x above; the writes below may overwrite it in place (x == y) only for its own columns.
  device ushort* yr = y + row * p.ldy;
  for (uint d = tid; d < p.dim; d += NORM_THREADS) {
    yr[d] = gemm_act_bits(gemm_act(xr[d], bf16) * inv * gemm_act(weight[d], w_bf16), bf16);
  }
}
