// dequant.metal — GPU dequantization of a packed 4-bit weight to a dense f16 or bf16 [K, N] matrix (the math
// layout of C = A·W), for layers kept dense. One kernel, `dequant`: format, scale storage, group size and
// the nvfp4 tensor scale are data (DequantParams), decoded by the GEMM helpers of gemm_common.h.
#include <metal_stdlib>
using namespace metal;

#include "gemm_common.h"
#include "layer_params.h"

// Four consecutive stored scales (or int4-affine biases) from element idx, a multiple of 4: one 8-byte
// (f16 / bf16) or 4-byte (E8M0 / E4M3) load, each element decoded by gemm_scale_bits.
inline float4 dequant_scale4(device const uchar* raw, uint idx, uint dtype) {
  uint4 bits;
  if (dtype <= MM_SCALE_BF16) {
    ushort4 v;
    v = *((device const ushort4*)(raw + 2u * idx));  // TRACE: scales
    bits = uint4(v);
  } else {
    uchar4 v;
    v = *((device const uchar4*)(raw + idx));
    bits = uint4(v);
  }
  return float4(gemm_scale_bits(bits.x, dtype), gemm_scale_bits(bits.y, dtype), gemm_scale_bits(bits.z, dtype),
                gemm_scale_bits(bits.w, dtype));
}

// Grid (ceil(ceil(N / 4) / 64), Kp / gs, batch) x 64 threads; thread t owns columns n .. n + 3,
// n = 4 (64 group.x + t), of K-group group.y: it reads that group's 4 scales (and zero points or biases)
// once, as one vector each, then walks the group's packed rows with one uint4 load each (lanes along N: 512
// contiguous bytes per simdgroup request) and writes 8 rows of 4 16-bit values (f16 or bf16 by p.out_bf16, one
// 8-byte ushort4 store per row; scalar stores at a ragged right
// edge or when vec = 0). No threadgroup memory. packed/scales need Np % 8 == 0 (always true).
[[kernel]] void dequant(device const uint* packed [[buffer(0)]],
                        device const uchar* scales [[buffer(1)]],
                        device const uchar* zb [[buffer(2)]],
                        device ushort* out [[buffer(3)]],
                        constant DequantParams& p [[buffer(4)]],
                        uint3 group [[threadgroup_position_in_grid]],
                        uint tid [[thread_index_in_threadgroup]]) {
  const uint n = 4u * (group.x * DEQUANT_THREADS + tid);
  if (n >= p.N) {
    return;
  }
  const uint g = group.y;
  const uint b = group.z;
  const GemmDecode dec = gemm_decode_fields(p.format, p.scale_dtype, p.tensor_scale);
  constant float* table = gemm_code_table(dec.format);
  packed += b * p.stride_w;
  out += b * p.stride_o;
  // One read of the group's scales (and zero points or biases) per thread: the "scale cache" is a
  // register. Scales, zero points and biases are indexed in elements of their own type.
  const uint gi = b * p.stride_s + g * p.Np + n;
  const float4 sv = dequant_scale4(scales, gi, dec.scale_dtype);
  float4 zv = float4(0.0f);
  if (dec.format == GEMM_FMT_INT4) {
    uchar4 z4;
    z4 = *((device const uchar4*)(zb + gi));  // TRACE: zeros
    zv = float4(z4);
  } else if (dec.format == GEMM_FMT_INT4_AFFINE) {
    zv = dequant_scale4(zb, gi, dec.scale_dtype);
  }
  float s[4], o[4];
  for (uint c = 0; c < 4u; ++c) {
    gemm_group_of(dec, sv[c], zv[c], s[c], o[c]);
  }
  // Kept as vectors end to end (vector shifts, float4 math, one 8-byte store per row): each lane's word,
  // scales and output row are single 16-, 8- and 8-byte accesses, as on the GPU.
  const float4 sf = float4(s[0], s[1], s[2], s[3]);
  const float4 of = float4(o[0], o[1], o[2], o[3]);
  const bool full = p.vec != 0u && n + 3u < p.N;
  const bool bf16 = p.out_bf16 != 0u;
  const uint kw_end = min((g + 1u) * p.group_size, p.K + 7u) / 8u;
  for (uint kw = g * p.group_size / 8u; kw < kw_end; ++kw) {
    uint4 w4;
    w4 = *((device const uint4*)(packed + kw * p.Np + n));
    for (uint i = 0; i < 8u; ++i) {
      const uint k = kw * 8u + i;
      if (k >= p.K) {
        break;
      }
      const uint4 code = (w4 >> (4u * i)) & 15u;
      // The decode of gemm_dequant8 (gemm_common.h), four columns at once: table[code] * s + b.
      const float4 val = fma(float4(table[code.x], table[code.y], table[code.z], table[code.w]), sf, of);
      if (full) {
        const ushort4 bits = ushort4(gemm_act_bits(val.x, bf16), gemm_act_bits(val.y, bf16),
                                     gemm_act_bits(val.z, bf16), gemm_act_bits(val.w, bf16));
        *((device ushort4*)(out + k * p.ldo + n)) = bits;
      } else {
        for (uint c = 0; c < 4u && n + c < p.N; ++c) {
          out[k * p.ldo + n + c] = gemm_act_bits(val[c], bf16);
        }
      }
    }
  }
}
