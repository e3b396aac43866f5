#include <metal_stdlib>
using namespace metal;

// partial[g] = sum of x[g*T .. g*T + T) (zero past n): a tree reduction in threadgroup memory.
// Grid: ceil(n / T) threadgroups of T threads, T a power of two <= 256. Dispatched by threadgroup count
// (dispatchThreadgroups), so every group is full: threads_per_threadgroup is T in each of them.
// Threadgroup memory: 256 floats (1 KB) declared in the body. Every lane reaches every barrier.
kernel void reduce_threadgroup(device const float* x [[buffer(0)]],
                               device float* partial [[buffer(1)]],
                               constant uint& n [[buffer(2)]],
                               uint gid [[thread_position_in_grid]],
                               uint lid [[thread_index_in_threadgroup]],
                               uint group [[threadgroup_position_in_grid]],
                               uint threads [[threads_per_threadgroup]]) {
  threadgroup float sums[256];
  sums[lid] = gid < n ? x[gid] : 0.0f;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint stride = threads / 2; stride > 0; stride >>= 1) {
    if (lid < stride) {
      sums[lid] += sums[lid + stride];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
  if (lid == 0) {
    partial[group] = sums[0];
  }
}
