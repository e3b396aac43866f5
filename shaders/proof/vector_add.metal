#include <metal_stdlib>
using namespace metal;

// out[i] = a[i] + b[i] for i < n.
// Grid: ceil(n / T) threadgroups of T threads (any T <= 1024); one element per thread.
// Threadgroup memory: none. Alignment: 4-byte elements; the tail is bounds-checked.
kernel void vector_add(device const float* a [[buffer(0)]],
                       device const float* b [[buffer(1)]],
                       device float* out [[buffer(2)]],
                       constant uint& n [[buffer(3)]],
                       uint gid [[thread_position_in_grid]]) {
  if (gid < n) {
    out[gid] = a[gid] + b[gid];
  }
}
