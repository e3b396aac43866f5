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
  uint32_t pad[3];
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
  uint32_t pad[2];
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
  uint32_t pad[2];
} AttnParams;

#endif  // MM_LAYER_PARAMS_H
