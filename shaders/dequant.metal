// dequant.metal — GPU dequantization of a packed 4-bit weight to a dense f16 [K, N] matrix (the math
// layout of C = A·W), for layers kept dense. Names: dequant_fp4, dequant_int4, dequant_int4sym.
#include <metal_stdlib>
using namespace metal;

#include "gemm_common.h"
#include "layer_params.h"

// Grid (ceil(ceil(N / 4) / 64), Kp / gs, batch) x 64 threads; thread t owns columns n .. n + 3,
// n = 4 (64 group.x + t), of K-group group.y: it reads that group's 4 scales (and zero points) once, as
// one half4 (uchar4), then walks the group's packed rows with one uint4 load each (lanes along N: 512
// contiguous bytes per simdgroup request) and writes 8 rows of half4 (scalar stores at a ragged right
// edge or when vec = 0). No threadgroup memory. packed/scales need Np % 8 == 0 (always true).
template <int FMT>
[[kernel]] void dequant4(device const uint* packed [[buffer(0)]],
                         device const half* scales [[buffer(1)]],
                         device const uchar* zeros [[buffer(2)]],
                         device half* out [[buffer(3)]],
                         constant DequantParams& p [[buffer(4)]],
                         uint3 group [[threadgroup_position_in_grid]],
                         uint tid [[thread_index_in_threadgroup]]) {
  const uint n = 4u * (group.x * DEQUANT_THREADS + tid);
  if (n >= p.N) {
    return;
  }
  const uint g = group.y;
  const uint b = group.z;
  packed += b * p.stride_w;
  scales += b * p.stride_s;
  zeros += b * p.stride_s;
  out += b * p.stride_o;
  // One read of the group's scales (and zero points) per thread: the "scale cache" is a register.
  // Assignment (not initialisation) from the cast pointer, as gemm_tiled.h: one vector access.
  const uint gi = g * p.Np + n;  // params read here, so the next line reads only the scales
  half4 s4;
  s4 = *((device const half4*)(scales + gi));  // TRACE: scales
  float4 z4 = float4(FMT == GEMM_FMT_INT4_SYM ? 8.0f : 0.0f);
  if (FMT == GEMM_FMT_INT4) {
    uchar4 zb;
    zb = *((device const uchar4*)(zeros + gi));  // TRACE: zeros
    z4 = float4(zb);
  }
  // Kept as vectors end to end (vector shifts, float4 math, one half4 store per row): each lane's word,
  // scales and output row are single 16-, 8- and 8-byte accesses, as on the GPU.
  const float4 sf = float4(s4);
  const bool full = p.vec != 0u && n + 3u < p.N;
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
      // The same decode as gemm_dequant8 (gemm_common.h), four columns at once.
      float4 val;
      if (FMT == GEMM_FMT_FP4) {
        val = float4(mm_fp4_e2m1_values[code.x], mm_fp4_e2m1_values[code.y], mm_fp4_e2m1_values[code.z],
                     mm_fp4_e2m1_values[code.w]) * sf;
      } else {
        val = (float4(code) - z4) * sf;
      }
      if (full) {
        *((device half4*)(out + k * p.ldo + n)) = half4(val);
      } else {
        for (uint c = 0; c < 4u && n + c < p.N; ++c) {
          out[k * p.ldo + n + c] = half(val[c]);
        }
      }
    }
  }
}

template [[host_name("dequant_fp4")]] [[kernel]] void dequant4<GEMM_FMT_FP4>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device half* out [[buffer(3)]], constant DequantParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]]);
template [[host_name("dequant_int4")]] [[kernel]] void dequant4<GEMM_FMT_INT4>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device half* out [[buffer(3)]], constant DequantParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]]);
template [[host_name("dequant_int4sym")]] [[kernel]] void dequant4<GEMM_FMT_INT4_SYM>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device half* out [[buffer(3)]], constant DequantParams& p [[buffer(4)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]]);
