// gemm_params.h — the parameter block every GEMM kernel reads, shared by the shaders (MSL) and the
// host (csrc/core/gemm.cpp). Plain fixed-width fields only, so both compilers agree on the layout;
// gemm.cpp static_asserts the size. Dims and strides are in elements unless a name says bytes.
#ifndef MM_GEMM_PARAMS_H
#define MM_GEMM_PARAMS_H

#ifdef __METAL_VERSION__
#include <metal_stdlib>  // uint32_t and friends, whatever the including file included first
#else
#include <stdint.h>
#endif

// Weight formats (same ids as lib/quant/formats.ts FORMAT_IDS, MM_QFMT_* in quant_formats.h and
// MM_FORMAT_* in metal_marlin.h). Scale storage ids are MM_SCALE_* of quant_formats.h.
#define GEMM_FMT_FP4 0u
#define GEMM_FMT_INT4 1u
#define GEMM_FMT_INT4_SYM 2u
#define GEMM_FMT_INT4_AFFINE 3u
#define GEMM_FMT_MXFP4 4u
#define GEMM_FMT_NVFP4 5u


// Epilogue bits, applied in this order: swiglu -> +bias -> activation -> *alpha -> +residual.
// Same values as MM_EPILOGUE_* in metal_marlin.h.
#define GEMM_EPI_BIAS 1u
#define GEMM_EPI_RELU 2u
#define GEMM_EPI_SILU 4u
#define GEMM_EPI_GELU 8u      /* tanh approximation */
#define GEMM_EPI_RESIDUAL 16u
#define GEMM_EPI_SCALE 32u
#define GEMM_EPI_SWIGLU 64u   /* out = silu(A*Wgate) * (A*Wup); the up weight is bound at 8..10 */
// Not an epilogue step: A, bias, residual and C are bf16 (else f16); set by the host from act_dtype. It
// rides in `epilogue` because every kernel reads that word anyway (no extra constant-block read).
#define GEMM_EPI_BF16 128u

// Flags.
#define GEMM_FLAG_A_VEC4 1u   /* lda % 4 == 0 and A is 8-byte aligned: half4 loads are legal */
// Split-K over one group spanning all of K (per channel): the splits accumulate sum(value(code) * x)
// with s = 1, b = 0 and the reduction applies the column's s and b (w = value * s + b) once.
#define GEMM_FLAG_DEFER_GROUP 2u
#define GEMM_FLAG_SUM_X 4u    /* with DEFER_GROUP: the splits also write sum(x) per row (b != 0 formats) */

// Buffer indices (STYLE.md order: weights, scales, zeros, activations, output, params, extras).
#define GEMM_BUF_PACKED 0
#define GEMM_BUF_SCALES 1
#define GEMM_BUF_ZEROS 2  /* int4 zero points (u8) or int4-affine biases (scale dtype) */
#define GEMM_BUF_A 3
#define GEMM_BUF_C 4
#define GEMM_BUF_PARAMS 5
#define GEMM_BUF_BIAS 6
#define GEMM_BUF_RESIDUAL 7
#define GEMM_BUF_UP_PACKED 8
#define GEMM_BUF_UP_SCALES 9
#define GEMM_BUF_UP_ZEROS 10

// Kernel geometry the host must match (grid math lives in csrc/core/gemm_routing.cpp).
#define GEMM_THREADS 128u        /* every GEMM kernel: 4 simdgroups of 32 */
#define GEMM_TILE_M 64u          /* tiled: rows per threadgroup */
#define GEMM_TILE_N 64u          /* tiled: columns per threadgroup (32 outputs with SwiGLU) */
#define GEMM_TILE_K 32u          /* tiled: K per pipeline stage */
#define GEMM_VEC_COLS 32u        /* gemv / small / split-K: columns per threadgroup (one per lane) */
#define GEMM_VEC_KBLOCK 256u     /* gemv / small / split-K: K values staged per step; split-K chunk unit */
#define GEMM_SMALL_MAX_M 16u     /* small / split-K: rows per threadgroup */
#define GEMM_REDUCE_THREADS 256u /* split-K reduction: outputs per threadgroup */
#define GEMM_SPLIT_MAX_PARTS 32u /* split-K: most parts routing makes (kSplitMaxParts) */

typedef struct GemmParams {
  uint32_t size;      // sizeof(GemmParams)
  uint32_t M;         // rows of A and C
  uint32_t N;         // output columns (the logical N, <= Np)
  uint32_t K;         // logical K; A columns >= K are never read
  uint32_t Kw;        // packed rows the kernel walks: ceil(K / 8) (<= Kp / 8)
  uint32_t Np;        // columns of the weight view that may be read
  uint32_t ldb;       // row pitch of packed (words), scales and zeros (elements)
  uint32_t lda;       // row pitch of A
  uint32_t ldc;       // row pitch of C
  uint32_t ldr;       // row pitch of the residual
  uint32_t batch;     // grid.z
  uint32_t stride_a;  // batch strides; 0 broadcasts
  uint32_t stride_w;  // packed words per batch
  uint32_t stride_s;  // scales and zeros elements per batch
  uint32_t stride_c;
  uint32_t stride_r;
  uint32_t epilogue;  // GEMM_EPI_* bits (GEMM_EPI_BF16: activations and outputs are bf16)
  float alpha;        // output scale (GEMM_EPI_SCALE)
  uint32_t splits;    // split-K partitions (1 otherwise)
  uint32_t k_chunk;   // K values per split: a multiple of 256, or of group_size (never cuts a group)
  uint32_t flags;     // GEMM_FLAG_*
  uint32_t format;    // GEMM_FMT_*
  uint32_t group_size;  // K values per scale, any multiple of 8 up to Kp (per channel: Kp)
  uint32_t scale_dtype; // MM_SCALE_* of scales (and int4-affine biases)
  uint32_t reserved0;
  float tensor_scale;   // nvfp4 per-tensor scale (1 for the other formats)
  float up_tensor_scale; // the same for SwiGLU's separate up weight
  uint32_t reserved[1];
} GemmParams;

#endif  // MM_GEMM_PARAMS_H
