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
  const half4 s4 = *((device const half4*)(scales + g * p.Np + n));
  float4 z4 = float4(FMT == GEMM_FMT_INT4_SYM ? 8.0f : 0.0f);
  if (FMT == GEMM_FMT_INT4) {
    z4 = float4(*((device const uchar4*)(zeros + g * p.Np + n)));
  }
  const float s[4] = {float(s4.x), float(s4.y), float(s4.z), float(s4.w)};
  const float z[4] = {z4.x, z4.y, z4.z, z4.w};
  const bool full = p.vec != 0u && n + 3u < p.N;
  const uint kw_end = min((g + 1u) * p.group_size, p.K + 7u) / 8u;
  for (uint kw = g * p.group_size / 8u; kw < kw_end; ++kw) {
    const uint4 w4 = *((device const uint4*)(packed + kw * p.Np + n));
    const uint wv[4] = {w4.x, w4.y, w4.z, w4.w};
    float v[4][8];
    for (uint c = 0; c < 4u; ++c) {
      gemm_dequant8<FMT>(wv[c], s[c], z[c], v[c]);
    }
    for (uint i = 0; i < 8u; ++i) {
      const uint k = kw * 8u + i;
      if (k < p.K) {
        if (full) {
          *((device half4*)(out + k * p.ldo + n)) = half4(half(v[0][i]), half(v[1][i]), half(v[2][i]), half(v[3][i]));
        } else {
          for (uint c = 0; c < 4u && n + c < p.N; ++c) {
            out[k * p.ldo + n + c] = half(v[c][i]);
          }
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
