// gemm_routing.cpp — kernel choice for quantized GEMM. Read top to bottom: GEMV for one row, the
// small-batch kernel up to 16 rows, split-K when those leave the GPU idle on a deep K, else tiled.
#include "gemm_routing.h"

#include <cstdio>
#include <cstring>

#include "../../shaders/gemm_params.h"
#include "internal.h"

namespace mm::core {

// M = 1 is decode: the bandwidth-bound GEMV (1 row of registers, 1.5 KB threadgroup memory). Never
// pad M = 1 up (reference repo bug 8 sent decode to a 64-row tile).
const uint32_t kGemvMaxM = 1;
// Rows one small-batch threadgroup applies each weight word to: 16 float accumulators per lane and a
// 16 x 256 half x-block (8 KB). The small-batch range is 2..16; from 17 rows on, a 64-row tile
// of 8x8 simdgroup_matrix blocks reads each weight once per 64 rows instead of once per 16.
const uint32_t kSmallMaxM = GEMM_SMALL_MAX_M;
// Split K when the vector kernels would launch fewer threadgroups than this. 64 = 2 per GPU core on
// a 32-core M-series Max (Apple's largest common part), so every core has a second group to hide
// latency with; llama.cpp/MLX launch one threadgroup per 8 rows and starve small-N decode instead.
const uint32_t kSplitTargetThreadgroups = 64;
// Smallest K per split: 4 x-blocks of 256. Below ~1K values the float partial write and the extra
// reduction pass cost more than the parallelism gains (partials = 4 bytes/output/split vs 0.5 byte
// per weight read). Chunks align to the group size (below) so each group is staged by one split only.
const uint32_t kSplitMinChunk = 4 * GEMM_VEC_KBLOCK;
// Upper bound on parts: keeps the workspace (splits x M x N floats) and the reduction short.
const uint32_t kSplitMaxParts = GEMM_SPLIT_MAX_PARTS;

namespace {

// a * b, or UINT64_MAX when that does not fit (workspace sizes of absurd raw-ABI dims must not wrap
// to a small number).
uint64_t mul_sat(uint64_t a, uint64_t b) { return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b; }

}  // namespace

uint32_t gemm_split_defers_group(const GemmShape& s, uint32_t splits) {
  if (splits < 2 || s.group_size == 0 || s.group_size < ceil_div(s.k, 8) * 8) return 0;
  // The reduction stages the splits' sums of x in threadgroup memory sized for routing's own limit; an
  // explicit split_k finer than that (up to one part per 256 K) reads the scale in each split instead.
  if (splits > kSplitMaxParts) return 0;
  const bool fp4_family = s.format == MM_FORMAT_FP4 || s.format == MM_FORMAT_MXFP4 || s.format == MM_FORMAT_NVFP4;
  return fp4_family ? 1 : 2;
}

int gemm_route(const char* op, const GemmShape& s, mm_gemm_route_info* out) {
  if (s.format > MM_FORMAT_NVFP4) {
    return fail(MM_E_INVALID_ARG,
                "%s: unknown format %u (MM_FORMAT_FP4 0, INT4 1, INT4_SYM 2, INT4_AFFINE 3, MXFP4 4, NVFP4 5)", op,
                s.format);
  }
  if (s.act_dtype > MM_ACT_BF16) {
    return fail(MM_E_INVALID_ARG, "%s: unknown act_dtype %u (MM_ACT_F16 0, MM_ACT_BF16 1)", op, s.act_dtype);
  }
  if (s.m == 0 || s.n == 0 || s.k == 0 || s.batch == 0) {
    return fail(MM_E_INVALID_ARG, "%s: m=%u n=%u k=%u batch=%u must all be >= 1", op, s.m, s.n, s.k, s.batch);
  }
  if (s.k > UINT32_MAX - GEMM_VEC_KBLOCK) {  // k_span below and one K block past it stay in 32 bits
    return fail(MM_E_LIMIT, "%s: k = %u is above %u", op, s.k, UINT32_MAX - GEMM_VEC_KBLOCK);
  }
  const uint32_t k_words = ceil_div(s.k, 8);
  const uint32_t k_span = k_words * 8;  // K values the kernels walk
  // 64-bit: n near 2^32 times a large batch wrapped to 0 threadgroups (then a division by zero).
  const uint64_t vec_groups = uint64_t(ceil_div(s.n, GEMM_VEC_COLS)) * s.batch;

  uint32_t kind;
  uint32_t splits = 1;
  if (s.m <= kSmallMaxM) {
    // Parts that keep >= kSplitMinChunk K each; auto mode only when threadgroups are too few.
    const uint32_t max_parts = k_span / kSplitMinChunk < kSplitMaxParts ? k_span / kSplitMinChunk : kSplitMaxParts;
    uint32_t want = 1;
    if (s.split_k > 1) {
      // Explicit request: honoured up to one part per 256-K block. Clamped before dividing, so any
      // uint32 (0xFFFFFFFF from a -1 that wrapped) gives the finest split instead of a zero chunk.
      const uint32_t blocks = ceil_div(k_span, GEMM_VEC_KBLOCK);
      want = s.split_k < blocks ? s.split_k : blocks;
    } else if (s.split_k == 0 && vec_groups < kSplitTargetThreadgroups && max_parts >= 2) {
      want = ceil_div(kSplitTargetThreadgroups, uint32_t(vec_groups));
      if (want > max_parts) want = max_parts;
    }
    if (want > 1) {
      // Split boundaries fall on group boundaries, so no split re-reads a group another split staged.
      // The 256-rounded chunk is kept when the group size divides 256 (as before: gs 8..256 unchanged);
      // else the chunk is the largest multiple of the group size not above it (more, shorter parts, so
      // no part is longer than before), or the ceiling multiple if that would pass kSplitMaxParts, or one
      // group when a group is longer than the 256-rounded chunk (gs > 256 not dividing it: those parts are
      // up to gs long, the one case a split runs longer than before). A per-channel group (>= the K span)
      // cannot be cut: it keeps 256, and the reduction applies its scale (gemm_split_defers_group).
      const uint32_t c256 = ceil_div(ceil_div(k_span, want), GEMM_VEC_KBLOCK) * GEMM_VEC_KBLOCK;
      const uint32_t gs = s.group_size;
      uint32_t chunk = c256;
      if (gs != 0 && GEMM_VEC_KBLOCK % gs != 0 && gs < k_span) {
        // A multiple of 16 values too where it fits, so each part's x rows start on a 32-byte sector
        // (gs 40 at 1000-value parts read 1/16 more x sectors); a misaligned start beats a longer part.
        const uint32_t g16 = gs % 16 == 0 ? gs : 2 * gs;
        chunk = c256 / g16 * g16;
        if (chunk == 0) chunk = c256 / gs * gs;
        if (chunk == 0) chunk = gs;
        if (ceil_div(k_span, chunk) > kSplitMaxParts) chunk = ceil_div(ceil_div(k_span, want), gs) * gs;
      }
      splits = ceil_div(k_span, chunk);  // no empty parts
      out->k_chunk = chunk;
    }
    kind = splits > 1 ? MM_GEMM_KIND_SPLITK : (s.m <= kGemvMaxM ? MM_GEMM_KIND_GEMV : MM_GEMM_KIND_SMALL);
  } else {
    kind = MM_GEMM_KIND_TILED;
  }

  // One pipeline per family; the tiled kernel has a tile type per activation dtype (half, or float for bf16).
  const char* name = kind == MM_GEMM_KIND_GEMV     ? "gemv"
                     : kind == MM_GEMM_KIND_SMALL  ? "gemm_small"
                     : kind == MM_GEMM_KIND_SPLITK ? "gemm_splitk"
                     : s.act_dtype == MM_ACT_BF16  ? "gemm_tiled_bf16"
                                                   : "gemm_tiled_f16";
  out->kind = kind;
  std::snprintf(out->kernel, sizeof out->kernel, "%s", name);
  std::memset(out->reduce_kernel, 0, sizeof out->reduce_kernel);
  out->splits = splits;
  if (splits == 1) out->k_chunk = k_span;
  out->threadgroup[0] = GEMM_THREADS;
  out->threadgroup[1] = 1;
  out->threadgroup[2] = 1;
  out->workspace_bytes = 0;
  if (kind == MM_GEMM_KIND_TILED) {
    const uint32_t tn = s.swiglu ? GEMM_TILE_N / 2 : GEMM_TILE_N;
    out->grid[0] = ceil_div(s.n, tn);
    out->grid[1] = ceil_div(s.m, GEMM_TILE_M);
  } else {
    out->grid[0] = ceil_div(s.n, GEMM_VEC_COLS);
    out->grid[1] = splits;
  }
  out->grid[2] = s.batch;
  if (kind == MM_GEMM_KIND_SPLITK) {
    std::snprintf(out->reduce_kernel, sizeof out->reduce_kernel, "gemm_splitk_reduce");
    const uint64_t planes = s.swiglu ? 2 : 1;
    // [batch][splits][planes][M][N] partials, then (per-channel offset formats) [batch][splits][M] sums of x.
    const uint64_t x_sums = gemm_split_defers_group(s, splits) == 2 ? uint64_t(s.m) : 0;
    out->workspace_bytes =
        mul_sat(mul_sat(uint64_t(s.batch) * splits, mul_sat(planes * s.m, s.n) + x_sums), sizeof(float));
  }
  return MM_OK;
}

}  // namespace mm::core
