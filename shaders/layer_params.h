// layer_params.h — parameter blocks of the layer kernels (norm, rope, attention, moe, dequant). The host
// packs them as u32/f32 words in this field order (lib/ops/*.ts); plain 4-byte fields only, so both
// sides agree on the layout. Dims, pitches and offsets are in elements unless a name says bytes.
#ifndef MM_LAYER_PARAMS_H
#define MM_LAYER_PARAMS_H

#ifdef __METAL_VERSION__
#include <metal_stdlib>
#else
#include <stdint.h>
#endif

#define NORM_THREADS 128u  /* rms_norm: one row per threadgroup, 4 simdgroups */

typedef struct NormParams {
  uint32_t rows;  // rows of x and y
  uint32_t dim;   // elements normalised per row
  uint32_t ldx;   // row pitch of x
  uint32_t ldy;   // row pitch of y
  float eps;      // added to mean(x^2) before the reciprocal square root
  uint32_t act_bf16; // 1: x and y are bf16 (else f16), loaded by gemm_act, stored by gemm_act_bits
  uint32_t w_bf16;   // 1: the weight is bf16 (else f16), independent of x and y
  uint32_t pad;
} NormParams;

#define ROPE_THREADS 64u   /* rope: one (token, head) per threadgroup */
#define ROPE_HALF_SPLIT 0u /* pairs (i, i + rot/2): Llama / NeoX / HF */
#define ROPE_INTERLEAVED 1u /* pairs (2i, 2i + 1): GPT-J / original RoFormer */

typedef struct RopeParams {
  uint32_t tokens;     // rows (grid.x)
  uint32_t heads;      // heads per row (grid.y)
  uint32_t head_dim;   // elements per head
  uint32_t rot_dim;    // leading elements of each head that rotate (even, <= head_dim); the rest are copied
  uint32_t src_tok;    // pitch between tokens in src
  uint32_t src_head;   // pitch between heads in src
  uint32_t dst_tok;    // pitch between tokens in dst
  uint32_t dst_head;   // pitch between heads in dst
  uint32_t pos0;       // position of token 0 (the KV-cache offset)
  uint32_t mode;       // ROPE_HALF_SPLIT | ROPE_INTERLEAVED
  uint32_t vec2;       // 1: src, dst, pitches and offsets are even, so interleaved pairs load as one ushort2
  uint32_t bf16;       // 1: src and dst are bf16 (else f16), loaded by gemm_act, stored by gemm_act_bits
} RopeParams;

#define ATTN_THREADS 128u  /* attention: 4 simdgroups, one (query row, query head) task each */
#define ATTN_TASKS 4u
#define ATTN_COMBINE_THREADS 64u

typedef struct AttnParams {
  uint32_t q_rows;         // T: query tokens
  uint32_t q_heads;        // Hq
  uint32_t kv_heads;       // Hkv; Hq % Hkv == 0 (GQA group = Hq / Hkv)
  uint32_t head_dim;       // D, a multiple of 8, <= the kernel's DMAX
  uint32_t kv_len;         // keys present in the cache: positions 0 .. kv_len - 1
  uint32_t q_pos0;         // absolute position of query row 0 (= the cache length before these tokens)
  uint32_t causal;         // 1: row i sees keys 0 .. q_pos0 + i; 0: every row sees all kv_len keys
  uint32_t ldq;            // pitch between query tokens (heads are head_dim apart)
  uint32_t ldo;            // pitch between output tokens (heads are head_dim apart)
  uint32_t kv_head_pitch;  // cache elements between KV heads (capacity * D for [Hkv, capacity, D])
  uint32_t kv_tok_pitch;   // cache elements between positions (D)
  uint32_t splits;         // key ranges (grid.z); 1 writes O directly
  uint32_t chunk;          // keys per split, a multiple of the key tile
  float scale;             // softmax scale, usually 1 / sqrt(D)
  uint32_t act_bf16;       // 1: q, the cache and O are bf16 (else f16), read by gemm_act, stored by gemm_act_bits
  uint32_t pad;
} AttnParams;

#define MOE_THREADS 128u      /* router, grouped GEMM, combine */
#define MOE_SORT_THREADS 256u /* sort: one threadgroup, thread e owns expert e (e += 256) */
#define MOE_MAX_EXPERTS 256u  /* router logits and sort counts live in threadgroup memory */
#define MOE_MAX_TOPK 16u
#define MOE_TILE_ROWS 16u     /* grouped GEMM: sorted rows of one expert per threadgroup */
#define MOE_ROUTER_TOKENS 8u  /* router: tokens per threadgroup (router weights read once per 8 tokens) */
#define MOE_ROUTER_CHUNK 512u /* router: x columns staged per step */

typedef struct RouterParams {
  uint32_t tokens;     // T (grid.x = ceil(T / MOE_ROUTER_TOKENS))
  uint32_t experts;    // E <= MOE_MAX_EXPERTS
  uint32_t top_k;      // k <= min(E, MOE_MAX_TOPK)
  uint32_t dim;        // hidden size D
  uint32_t ldx;        // row pitch of x
  uint32_t renorm;     // 1: top-k weights divided by their sum (Mixtral); 0: the softmax probabilities
  uint32_t act_bf16;   // 1: x and the router weights are bf16 (else f16), read by gemm_act
  uint32_t pad;
} RouterParams;

typedef struct SortParams {
  uint32_t pairs;      // T * k (token, slot) pairs, pair p = t * k + slot
  uint32_t experts;    // E
  uint32_t pad[2];
} SortParams;

typedef struct MoeGemmParams {
  uint32_t N;          // output columns
  uint32_t K;          // reduction length
  uint32_t Kw;         // packed rows walked: ceil(K / 8)
  uint32_t Np;         // padded columns (the pitch of packed words, scales and zeros or biases)
  uint32_t lda;        // row pitch of a
  uint32_t ldc;        // row pitch of c
  uint32_t experts;    // E
  uint32_t top_k;      // k (gather: sorted pair p reads token p / k)
  uint32_t stride_w;   // packed words per expert
  uint32_t stride_s;   // scales (and zeros or biases) elements per expert
  uint32_t gather;     // 1: row r of the tile reads a[token of sorted[r]]; 0: a[r] (already sorted)
  uint32_t swiglu;     // 1: c = silu(a W_gate) * (a W_up), up weight at buffers 8..10
  uint32_t format;     // GEMM_FMT_* (gemm_params.h), of both weights
  uint32_t group_size; // K values per scale: any multiple of 8 up to Kp (per channel: Kp)
  uint32_t scale_dtype; // MM_SCALE_* of scales (and int4-affine biases)
  float tensor_scale;  // nvfp4 per-tensor scale of the gate weight (1 for the other formats)
  float up_tensor_scale; // the same for the up weight
  uint32_t act_bf16;   // 1: a and c are bf16 (else f16), read by gemm_act, stored by gemm_act_bits
  uint32_t pad[2];
} MoeGemmParams;

typedef struct CombineParams {
  uint32_t tokens;     // T (grid.y)
  uint32_t N;          // columns
  uint32_t top_k;      // k
  uint32_t ldy;        // row pitch of the sorted expert outputs
  uint32_t ldo;        // row pitch of out
  uint32_t add;        // 1: out also adds `add` (shared expert and/or residual), row pitch ld_add
  uint32_t ld_add;
  uint32_t act_bf16;   // 1: y, add and out are bf16 (else f16)
} CombineParams;

#define DEQUANT_THREADS 64u  /* dequant: one (group, 4 columns) per thread */

typedef struct DequantParams {
  uint32_t K;          // logical rows of the output
  uint32_t N;          // logical columns of the output
  uint32_t Np;         // padded columns: pitch of packed words, scales and zeros
  uint32_t group_size; // K values per scale, a multiple of 8 up to Kp (per channel: Kp)
  uint32_t groups;     // Kp / group_size (grid.y)
  uint32_t ldo;        // row pitch of the output
  uint32_t stride_w;   // packed words per batch entry
  uint32_t stride_s;   // scales (and zeros) per batch entry
  uint32_t stride_o;   // output elements per batch entry
  uint32_t vec;        // 1: ldo % 4 == 0 and the output is 8-byte aligned, so half4 stores are legal
  uint32_t format;     // GEMM_FMT_* (gemm_params.h)
  uint32_t scale_dtype; // MM_SCALE_* of scales (and int4-affine biases)
  float tensor_scale;  // nvfp4 per-tensor scale (1 for the other formats)
  uint32_t out_bf16;   // 1: the output is bf16 (else f16), stored by gemm_act_bits
  uint32_t pad[2];
} DequantParams;

#endif  // MM_LAYER_PARAMS_H
