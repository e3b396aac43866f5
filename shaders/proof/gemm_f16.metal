#include <metal_stdlib>
using namespace metal;

// c[M,N] = a[M,K] * b[K,N]: fp16 in, float accumulation, fp16 out; row-major; any M, N, K.
// Grid: (ceil(N/32), ceil(M/32)) threadgroups of 128 threads = 4 simdgroups in a 2x2 layout, each
// owning a 16x16 block of c as 2x2 simdgroup_float8x8 accumulators. K advances 16 per step.
// Threadgroup memory: a tile 32x16 half (1 KB) + b tile 16x32 half (1 KB) + per-simdgroup 16x16 float
// staging (4 KB) so edge tiles are stored with bounds checks. No alignment requirement.

struct GemmF16Params {
  uint m;
  uint n;
  uint k;
};

constant constexpr uint TILE_M = 32;
constant constexpr uint TILE_N = 32;
constant constexpr uint TILE_K = 16;
constant constexpr uint THREADS = 128;

kernel void gemm_f16(device const half* a [[buffer(0)]],
                     device const half* b [[buffer(1)]],
                     device half* c [[buffer(2)]],
                     constant GemmF16Params& p [[buffer(3)]],
                     uint2 group [[threadgroup_position_in_grid]],
                     uint lid [[thread_index_in_threadgroup]],
                     uint sg [[simdgroup_index_in_threadgroup]],
                     uint lane [[thread_index_in_simdgroup]]) {
  threadgroup half tile_a[TILE_M * TILE_K];
  threadgroup half tile_b[TILE_K * TILE_N];
  threadgroup float staging[4][16 * 16];

  const uint row0 = group.y * TILE_M;
  const uint col0 = group.x * TILE_N;
  const uint sg_row = (sg / 2) * 16;
  const uint sg_col = (sg % 2) * 16;

  simdgroup_float8x8 acc[2][2];
  for (uint i = 0; i < 2; ++i) {
    for (uint j = 0; j < 2; ++j) {
      acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }

  for (uint k0 = 0; k0 < p.k; k0 += TILE_K) {
    // Zero-fill outside the matrices so edge tiles multiply as if padded.
    for (uint e = lid; e < TILE_M * TILE_K; e += THREADS) {
      const uint r = row0 + e / TILE_K;
      const uint kk = k0 + e % TILE_K;
      tile_a[e] = (r < p.m && kk < p.k) ? a[r * p.k + kk] : half(0.0h);
    }
    for (uint e = lid; e < TILE_K * TILE_N; e += THREADS) {
      const uint kk = k0 + e / TILE_N;
      const uint col = col0 + e % TILE_N;
      tile_b[e] = (kk < p.k && col < p.n) ? b[kk * p.n + col] : half(0.0h);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint kk = 0; kk < TILE_K; kk += 8) {
      simdgroup_half8x8 ma[2];
      simdgroup_half8x8 mb[2];
      for (uint i = 0; i < 2; ++i) {
        simdgroup_load(ma[i], &tile_a[0], TILE_K, ulong2(kk, sg_row + 8 * i));
      }
      for (uint j = 0; j < 2; ++j) {
        simdgroup_load(mb[j], &tile_b[0], TILE_N, ulong2(sg_col + 8 * j, kk));
      }
      for (uint i = 0; i < 2; ++i) {
        for (uint j = 0; j < 2; ++j) {
          simdgroup_multiply_accumulate(acc[i][j], ma[i], mb[j], acc[i][j]);
        }
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }

  // Each simdgroup stages its own 16x16 block: no sharing, so no threadgroup barrier is needed.
  for (uint i = 0; i < 2; ++i) {
    for (uint j = 0; j < 2; ++j) {
      simdgroup_store(acc[i][j], &staging[sg][0], 16, ulong2(8 * j, 8 * i));
    }
  }
  simdgroup_barrier(mem_flags::mem_threadgroup);
  for (uint e = lane; e < 16 * 16; e += 32) {
    const uint r = row0 + sg_row + e / 16;
    const uint col = col0 + sg_col + e % 16;
    if (r < p.m && col < p.n) {
      c[r * p.n + col] = half(staging[sg][e]);
    }
  }
}
