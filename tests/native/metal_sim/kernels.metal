// Kernels for the metal-sim native tests: each exercises one binding path of the simulated driver.
#include <metal_stdlib>
using namespace metal;

constant float scale [[function_constant(0)]];
constant bool has_scale = is_function_constant_defined(scale);

// out[i] = a[i] * scale + b[i] (scale 1 when the constant is not set); n inline (setBytes).
kernel void axpy(device const float* a [[buffer(0)]], device const float* b [[buffer(1)]],
                 device float* out [[buffer(2)]], constant uint& n [[buffer(3)]],
                 uint i [[thread_position_in_grid]]) {
  if (i < n) out[i] = a[i] * (has_scale ? float(scale) : 1.0f) + b[i];
}

// Reverses each threadgroup's slice of x through threadgroup memory (needs the barrier).
kernel void tg_reverse(device float* x [[buffer(0)]], threadgroup float* tg [[threadgroup(0)]],
                       uint tid [[thread_index_in_threadgroup]], uint tpg [[threads_per_threadgroup]],
                       uint group [[threadgroup_position_in_grid]]) {
  tg[tid] = x[group * tpg + tid];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  x[group * tpg + tid] = tg[tpg - 1 - tid];
}

// A barrier only half the threadgroup reaches: the CPU runtime fails the dispatch.
kernel void broken_barrier(device float* x [[buffer(0)]], uint tid [[thread_index_in_threadgroup]]) {
  if (tid < 16) threadgroup_barrier(mem_flags::mem_device);
  x[tid] = 1.0f;
}

// Counts its invocations; capped at 64 threads per threadgroup by its attribute.
[[max_total_threads_per_threadgroup(64)]] kernel void capped(device atomic_uint* count [[buffer(0)]]) {
  atomic_fetch_add_explicit(count, 1u, memory_order_relaxed);
}

constant bool flag [[function_constant(1)]];
constant ushort small [[function_constant(2)]];
constant long big [[function_constant(3)]];

// Writes the scalar function constants it was specialized with (0 when undefined).
kernel void constants_probe(device long* out [[buffer(0)]]) {
  out[0] = flag ? 1 : 0;
  out[1] = small;
  out[2] = big;
}
