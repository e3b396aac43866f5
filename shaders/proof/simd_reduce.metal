#include <metal_stdlib>
using namespace metal;

// Two ways to sum each simdgroup's 32 values; they must agree.
// Grid: any number of threadgroups of a multiple of 32 threads; out[gid / 32] gets one sum per simdgroup.
// Threadgroup memory: none. Instantiated for float and uint (uint sums are exact, so both kernels
// must match bit for bit; float sums may differ by rounding order).

template <typename T>
[[kernel]] void simd_sum_reduce(device const T* x [[buffer(0)]],
                     device T* out [[buffer(1)]],
                     uint gid [[thread_position_in_grid]],
                     uint lane [[thread_index_in_simdgroup]]) {
  T total = simd_sum(x[gid]);
  if (lane == 0) {
    out[gid / 32] = total;
  }
}

// Butterfly: after log2(32) xor-shuffles every lane holds the full sum.
template <typename T>
[[kernel]] void shuffle_tree_reduce(device const T* x [[buffer(0)]],
                         device T* out [[buffer(1)]],
                         uint gid [[thread_position_in_grid]],
                         uint lane [[thread_index_in_simdgroup]]) {
  T value = x[gid];
  for (ushort offset = 16; offset > 0; offset >>= 1) {
    value += simd_shuffle_xor(value, offset);
  }
  if (lane == 0) {
    out[gid / 32] = value;
  }
}

template [[host_name("simd_sum_reduce_f32")]] [[kernel]] void simd_sum_reduce<float>(
    device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("simd_sum_reduce_u32")]] [[kernel]] void simd_sum_reduce<uint>(
    device const uint* x [[buffer(0)]], device uint* out [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("shuffle_tree_reduce_f32")]] [[kernel]] void shuffle_tree_reduce<float>(
    device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("shuffle_tree_reduce_u32")]] [[kernel]] void shuffle_tree_reduce<uint>(
    device const uint* x [[buffer(0)]], device uint* out [[buffer(1)]],
    uint gid [[thread_position_in_grid]], uint lane [[thread_index_in_simdgroup]]);
