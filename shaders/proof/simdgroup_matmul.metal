#include <metal_stdlib>
using namespace metal;

// One 8x8x8 product on simdgroup matrices: c = a * b and ct = a * transpose(b).
// Grid: 1 threadgroup of 32 threads (one simdgroup). Inputs row-major 8x8 half, outputs 8x8 float.
// Threadgroup memory: none; every lane passes the same pointers, as simdgroup_load requires.
kernel void simdgroup_matmul_8x8(device const half* a [[buffer(0)]],
                                 device const half* b [[buffer(1)]],
                                 device float* c [[buffer(2)]],
                                 device float* ct [[buffer(3)]]) {
  simdgroup_half8x8 ma;
  simdgroup_half8x8 mb;
  simdgroup_half8x8 mbt;
  simdgroup_float8x8 acc = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
  simdgroup_float8x8 acc_t = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
  simdgroup_load(ma, a, 8);
  simdgroup_load(mb, b, 8);
  simdgroup_load(mbt, b, 8, ulong2(0, 0), true);
  simdgroup_multiply_accumulate(acc, ma, mb, acc);
  simdgroup_multiply_accumulate(acc_t, ma, mbt, acc_t);
  simdgroup_store(acc, c, 8);
  simdgroup_store(acc_t, ct, 8);
}
