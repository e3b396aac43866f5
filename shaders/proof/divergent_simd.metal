#include <metal_stdlib>
using namespace metal;

// Simd collectives in divergent control flow: only the lanes that reach a call take part in it.
// Grid: any number of threadgroups of a multiple of 32 threads. Threadgroup memory: none.

// Even lanes sum x; odd lanes sum 10*x, at a different call site. Each lane gets its branch's sum.
kernel void divergent_simd_sum(device const float* x [[buffer(0)]],
                               device float* out [[buffer(1)]],
                               uint gid [[thread_position_in_grid]],
                               uint lane [[thread_index_in_simdgroup]]) {
  float v = x[gid];
  float r;
  if ((lane & 1) == 0) {
    r = simd_sum(v);
  } else {
    r = simd_sum(v * 10.0f);
  }
  out[gid] = r;
}

// Lane L runs (L % 4) + 1 iterations; each iteration counts the lanes still looping
// (32, 24, 16, 8), packed base 64 into one uint per lane.
kernel void loop_simd_count(device uint* out [[buffer(0)]],
                            uint gid [[thread_position_in_grid]],
                            uint lane [[thread_index_in_simdgroup]]) {
  uint acc = 0;
  for (uint it = 0; it < (lane % 4) + 1; ++it) {
    acc = acc * 64 + simd_sum(1u);
  }
  out[gid] = acc;
}
