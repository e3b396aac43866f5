// rope.metal — rotary position embedding, half-split (Llama, HF) or interleaved (GPT-J) pairs, with a
// position offset (the KV-cache length before these tokens) and partial rotary dims. src and dst may be
// the same tensor (in place) or dst a KV cache row range, so Q/K are rotated and K lands in the cache
// in one pass; rot_dim = 0 is a plain strided copy (V into the cache). src and dst are f16 or bf16 together
// (p.bf16): one kernel, bound as raw ushort, decoded by gemm_act and rounded back by gemm_act_bits.
#include <metal_stdlib>
using namespace metal;

#include "gemm_common.h"
#include "layer_params.h"

// Grid (tokens, heads) x 64 threads; thread t rotates pairs t, t+64, ... and copies the pass-through
// elements [rot_dim, head_dim). inv_freq[i] (f32, rot_dim/2 entries) is the host's base^(-2i/rot_dim),
// so scaled variants only change that table. No threadgroup memory; no alignment requirement.
// Each thread reads both elements of its pair before writing them, so in place needs no barrier.
[[kernel]] void rope(device const float* inv_freq [[buffer(0)]],
                     device const ushort* src [[buffer(1)]],
                     device ushort* dst [[buffer(2)]],
                     constant RopeParams& p [[buffer(3)]],
                     uint2 group [[threadgroup_position_in_grid]],
                     uint tid [[thread_index_in_threadgroup]]) {
  const uint t = group.x;
  const uint h = group.y;
  const bool bf16 = p.bf16 != 0u;
  device const ushort* s = src + t * p.src_tok + h * p.src_head;
  device ushort* d = dst + t * p.dst_tok + h * p.dst_head;
  const float pos = float(p.pos0 + t);
  const uint half_rot = p.rot_dim / 2u;
  if (p.mode == ROPE_INTERLEAVED && p.vec2 != 0u) {
    // Interleaved pairs are adjacent: one 4-byte ushort2 load and store per lane keeps the row contiguous
    // across the simdgroup (two scalar accesses 4 bytes apart would touch every sector twice).
    for (uint i = tid; i < half_rot; i += ROPE_THREADS) {
      const float angle = pos * inv_freq[i];
      const float c = precise::cos(angle);
      const float sn = precise::sin(angle);
      // Declared, then assigned: written as `const ushort2 hv = *(...)` the CPU runtime's trace counts this
      // load at 2x its ideal sectors; the assignment traces as the one 4-byte load per lane a GPU makes.
      ushort2 hv;
      hv = *((device const ushort2*)(s + 2u * i));
      const float2 x = float2(gemm_act(hv.x, bf16), gemm_act(hv.y, bf16));
      const float2 r = x * c + x.yx * float2(-sn, sn);
      *((device ushort2*)(d + 2u * i)) = ushort2(gemm_act_bits(r.x, bf16), gemm_act_bits(r.y, bf16));
    }
  } else if (p.mode == ROPE_INTERLEAVED) {
    // Interleaved from an odd element offset (no ushort2): stride-2 scalar accesses, correct at twice the
    // sectors; the host takes the ushort2 path whenever offsets and pitches are even.
    for (uint i = tid; i < half_rot; i += ROPE_THREADS) {
      const float angle = pos * inv_freq[i];
      const float c = precise::cos(angle);
      const float sn = precise::sin(angle);
      const float x0 = gemm_act(s[2u * i], bf16);
      const float x1 = gemm_act(s[2u * i + 1u], bf16);
      d[2u * i] = gemm_act_bits(x0 * c - x1 * sn, bf16);
      d[2u * i + 1u] = gemm_act_bits(x0 * sn + x1 * c, bf16);
    }
  } else {
    // Half-split: lanes read two contiguous runs, i and i + rot/2.
    for (uint i = tid; i < half_rot; i += ROPE_THREADS) {
      // precise:: because fast-math sin/cos lose accuracy for the large angles of long caches.
      const float angle = pos * inv_freq[i];
      const float c = precise::cos(angle);
      const float sn = precise::sin(angle);
      const float x0 = gemm_act(s[i], bf16);
      const float x1 = gemm_act(s[i + half_rot], bf16);
      d[i] = gemm_act_bits(x0 * c - x1 * sn, bf16);
      d[i + half_rot] = gemm_act_bits(x0 * sn + x1 * c, bf16);
    }
  }
  // Pass-through dims are copied as bits (src and dst share the dtype): no rounding, NaN payloads kept.
  for (uint i = p.rot_dim + tid; i < p.head_dim; i += ROPE_THREADS) {
    d[i] = s[i];
  }
}
