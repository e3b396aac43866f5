#include <metal_stdlib>
using namespace metal;

// One value per lane from each simd collective, for checking against a host model.
// Grid: threadgroups of 32 threads (one simdgroup). Threadgroup memory: none.
// out layout: out[op * 32 + lane] for op = 0..7 (see the host test for the expected values).
kernel void simd_collectives(device const uint* x [[buffer(0)]],
                             device uint* out [[buffer(1)]],
                             uint lane [[thread_index_in_simdgroup]]) {
  uint v = x[lane];
  out[0 * 32 + lane] = simd_prefix_inclusive_sum(v);
  out[1 * 32 + lane] = simd_prefix_exclusive_sum(v);
  out[2 * 32 + lane] = simd_shuffle(v, ushort(31 - lane));
  out[3 * 32 + lane] = simd_shuffle_down(v, ushort(1));
  out[4 * 32 + lane] = simd_shuffle_up(v, ushort(1));
  out[5 * 32 + lane] = simd_broadcast(v, ushort(5));
  out[6 * 32 + lane] = simd_max(v);
  out[7 * 32 + lane] = uint(uint64_t(simd_ballot(v % 3 == 0)));
}
