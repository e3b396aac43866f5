// gemm.metal — every GEMM kernel the library ships, one explicit instantiation per host name.
// Name grammar (shared with csrc/core/gemm_routing.cpp and shaders/manifest.json):
//   <kind>_<format>_gs<group size>   kind: gemv | gemm_small | gemm_splitk | gemm_tiled
//   format: fp4 | int4 | int4sym     group size: 32 | 64 | 128 | 256
// plus gemm_splitk_reduce. Geometry and memory of each kind: see the header comments in
// gemm_vec.h (gemv, small, split-K, reduce) and gemm_tiled.h (tiled prefill).
#include <metal_stdlib>
using namespace metal;

#include "gemm_tiled.h"
#include "gemm_vec.h"


// ---- gemv ----
template [[host_name("gemv_fp4_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 32u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_fp4_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 64u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_fp4_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 128u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_fp4_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 256u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 32u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 64u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 128u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 256u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4sym_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 32u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4sym_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 64u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4sym_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 128u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemv_int4sym_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 256u, 1u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);

// ---- gemm_small ----
template [[host_name("gemm_small_fp4_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 32u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_fp4_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 64u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_fp4_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 128u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_fp4_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 256u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 32u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 64u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 128u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 256u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4sym_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 32u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4sym_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 64u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4sym_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 128u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_small_int4sym_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 256u, 16u, half>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);

// ---- gemm_splitk ----
template [[host_name("gemm_splitk_fp4_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 32u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_fp4_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 64u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_fp4_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 128u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_fp4_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_FP4, 256u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 32u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 64u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 128u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4, 256u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4sym_gs32")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 32u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4sym_gs64")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 64u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4sym_gs128")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 128u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_splitk_int4sym_gs256")]] [[kernel]] void gemm_vec<GEMM_FMT_INT4_SYM, 256u, 16u, float>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device float* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);

// ---- gemm_tiled ----
template [[host_name("gemm_tiled_fp4_gs32")]] [[kernel]] void gemm_tiled<GEMM_FMT_FP4, 32u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_fp4_gs64")]] [[kernel]] void gemm_tiled<GEMM_FMT_FP4, 64u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_fp4_gs128")]] [[kernel]] void gemm_tiled<GEMM_FMT_FP4, 128u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_fp4_gs256")]] [[kernel]] void gemm_tiled<GEMM_FMT_FP4, 256u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4_gs32")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4, 32u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4_gs64")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4, 64u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4_gs128")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4, 128u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4_gs256")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4, 256u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4sym_gs32")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4_SYM, 32u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4sym_gs64")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4_SYM, 64u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4sym_gs128")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4_SYM, 128u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
template [[host_name("gemm_tiled_int4sym_gs256")]] [[kernel]] void gemm_tiled<GEMM_FMT_INT4_SYM, 256u>(
    device const uint* packed [[buffer(0)]], device const half* scales [[buffer(1)]],
    device const uchar* zeros [[buffer(2)]], device const half* a [[buffer(3)]], device half* c [[buffer(4)]],
    constant GemmParams& p [[buffer(5)]], device const half* bias [[buffer(6)]],
    device const half* residual [[buffer(7)]], device const uint* up_packed [[buffer(8)]],
    device const half* up_scales [[buffer(9)]], device const uchar* up_zeros [[buffer(10)]],
    uint3 group [[threadgroup_position_in_grid]], uint tid [[thread_index_in_threadgroup]],
    uint sg [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]);
