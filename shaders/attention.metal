// attention.metal — flash attention over a KV cache (attention.h) and the split-decode combine.
// Names: attn_d<DMAX> (O directly) and attn_split_d<DMAX> (partials for attn_combine), each for f16 and
// bf16 (AttnParams.act_bf16); DMAX 128 takes
// head dims 8..128 with 32-key tiles and 16 tasks per threadgroup, DMAX 256 head dims 136..256 with 16-key
// tiles and 8 tasks (the 32 KB limit).
#include <metal_stdlib>
using namespace metal;

#include "attention.h"

template [[host_name("attn_d128")]] [[kernel]] void attn_tiles<128u, 32u, 4u, ushort>(
    device const ushort* kc [[buffer(0)]], device const ushort* vc [[buffer(1)]], device const ushort* q [[buffer(2)]],
    device ushort* out [[buffer(3)]], constant AttnParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("attn_d256")]] [[kernel]] void attn_tiles<256u, 16u, 2u, ushort>(
    device const ushort* kc [[buffer(0)]], device const ushort* vc [[buffer(1)]], device const ushort* q [[buffer(2)]],
    device ushort* out [[buffer(3)]], constant AttnParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("attn_split_d128")]] [[kernel]] void attn_tiles<128u, 32u, 4u, float>(
    device const ushort* kc [[buffer(0)]], device const ushort* vc [[buffer(1)]], device const ushort* q [[buffer(2)]],
    device float* out [[buffer(3)]], constant AttnParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("attn_split_d256")]] [[kernel]] void attn_tiles<256u, 16u, 2u, float>(
    device const ushort* kc [[buffer(0)]], device const ushort* vc [[buffer(1)]], device const ushort* q [[buffer(2)]],
    device float* out [[buffer(3)]], constant AttnParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);

// Merges the split partials of attn_split_*: per (row, head), M = max m_z, then
// O = sum_z exp(m_z - M) o_z / sum_z exp(m_z - M) l_z, splits in order (same bits on every run).
// Grid (T * Hq) x 64 threads; thread t owns dims t, t + 64, ... O is stored as f16 or bf16 bits
// (p.act_bf16). No threadgroup memory.
[[kernel]] void attn_combine(device const float* part [[buffer(0)]],
                             device ushort* out [[buffer(1)]],
                             constant AttnParams& p [[buffer(2)]],
                             uint r [[threadgroup_position_in_grid]],
                             uint tid [[thread_index_in_threadgroup]]) {
  const uint D = p.head_dim;
  const bool bf16 = p.act_bf16 != 0u;
  const uint rows = p.q_rows * p.q_heads;
  device const float* ml = part + p.splits * rows * D;
  float mx = ATTN_NEG;
  for (uint z = 0; z < p.splits; ++z) {
    mx = max(mx, ml[(z * rows + r) * 2u]);
  }
  float den = 0.0f;
  for (uint z = 0; z < p.splits; ++z) {
    const float mz = ml[(z * rows + r) * 2u];
    den += exp(mz - mx) * ml[(z * rows + r) * 2u + 1u];  // a split that saw no key has l = 0
  }
  const float inv = den > 0.0f ? 1.0f / den : 0.0f;
  const uint row = r / p.q_heads;
  const uint head = r - row * p.q_heads;
  for (uint d = tid; d < D; d += ATTN_COMBINE_THREADS) {
    float acc = 0.0f;
    for (uint z = 0; z < p.splits; ++z) {
      acc += exp(ml[(z * rows + r) * 2u] - mx) * part[(z * rows + r) * D + d];
    }
    out[row * p.ldo + head * D + d] = gemm_act_bits(acc * inv, bf16);
  }
}
