// gemm.metal — every GEMM kernel the library ships: one pipeline per kernel family (and per tile type
// for the tiled kernel), six in all. Format (fp4, int4, int4-sym, int4-affine, mxfp4, nvfp4), group size
// (any multiple of 8, per channel included), scale storage (f16, bf16, E8M0, E4M3) and the activation
// dtype of the vector kernels are runtime fields of GemmParams, not compiled variants.
// Names (shared with csrc/core/gemm_routing.cpp and shaders/manifest.json):
//   gemv | gemm_small | gemm_splitk | gemm_splitk_reduce | gemm_tiled_f16 | gemm_tiled_bf16
// Geometry and memory of each kind: see the header comments in gemm_vec.h (gemv, small, split-K,
// reduce) and gemm_tiled.h (tiled prefill).
#include <metal_stdlib>
using namespace metal;

#include "gemm_tiled.h"
#include "gemm_vec.h"

template [[host_name("gemv")]] [[kernel]] void gemm_vec<1u, ushort>(
    device const uint* packed [[buffer(0)]], device const uchar* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const ushort* a [[buffer(3)]], device ushort* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const ushort* bias [[buffer(6)]],
    device const ushort* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const uchar* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small")]] [[kernel]] void gemm_vec<GEMM_SMALL_MAX_M, ushort>(
    device const uint* packed [[buffer(0)]], device const uchar* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const ushort* a [[buffer(3)]], device ushort* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const ushort* bias [[buffer(6)]],
    device const ushort* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const uchar* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk")]] [[kernel]] void gemm_vec<GEMM_SMALL_MAX_M, float>(
    device const uint* packed [[buffer(0)]], device const uchar* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const ushort* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const ushort* bias [[buffer(6)]],
    device const ushort* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const uchar* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_f16")]] [[kernel]] void gemm_tiled<half>(
    device const uint* packed [[buffer(0)]], device const uchar* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const ushort* a [[buffer(3)]], device ushort* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const ushort* bias [[buffer(6)]],
    device const ushort* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const uchar* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_bf16")]] [[kernel]] void gemm_tiled<float>(
    device const uint* packed [[buffer(0)]], device const uchar* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const ushort* a [[buffer(3)]], device ushort* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const ushort* bias [[buffer(6)]],
    device const ushort* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const uchar* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
