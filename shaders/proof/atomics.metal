#include <metal_stdlib>
using namespace metal;

// Device atomics hit from every threadgroup at once: a 16-bin histogram of x % 16 and a total count.
// Grid: ceil(n / T) threadgroups of T threads. Threadgroup memory: none. hist and total start at 0.
kernel void atomic_histogram(device const uint* x [[buffer(0)]],
                             device atomic_uint* hist [[buffer(1)]],
                             device atomic_uint* total [[buffer(2)]],
                             constant uint& n [[buffer(3)]],
                             uint gid [[thread_position_in_grid]]) {
  if (gid < n) {
    atomic_fetch_add_explicit(&hist[x[gid] % 16], 1u, memory_order_relaxed);
    atomic_fetch_add_explicit(total, 1u, memory_order_relaxed);
  }
}
