// gemm_routing.h — the one place that picks a GEMM kernel (name, grid, split-K) from the problem's
// dims (format, group size and scale type are runtime data of every kernel). Pure function of its inputs: every backend uses it unchanged.
#pragma once

#include <cstdint>

#include "../include/metal_marlin.h"

namespace mm::core {

// What routing looks at. Dims are the logical ones; kw = ceil(k / 8) packed rows walked.
struct GemmShape {
  uint32_t m = 0, n = 0, k = 0;
  uint32_t format = 0;      // MM_FORMAT_* (checked; kernels take it as data, it does not pick a kernel)
  uint32_t group_size = 0;  // checked by gemm.cpp; any multiple of 8 runs on the same kernels
  uint32_t act_dtype = 0;   // MM_ACT_*: picks the tiled kernel's tile type
  uint32_t batch = 1;
  bool swiglu = false;      // SwiGLU halves the tiled kernel's outputs per threadgroup
  uint32_t split_k = 0;     // request: 0 auto, 1 never, > 1 about this many parts
};

// Named thresholds (values and where they come from are in gemm_routing.cpp).
extern const uint32_t kGemvMaxM;
extern const uint32_t kSmallMaxM;
extern const uint32_t kSplitTargetThreadgroups;
extern const uint32_t kSplitMinChunk;
extern const uint32_t kSplitMaxParts;

// ceil(a / b) for b > 0 without the overflow of (a + b - 1) / b near 2^32 (which made a split chunk 0
// and the next division trap).
inline uint32_t ceil_div(uint32_t a, uint32_t b) { return a / b + (a % b != 0); }

// Split-K over a per-channel weight (one group spans the whole K walked, so every split would need
// each column's scale): the splits then accumulate sum(code value * x) with s = 1, b = 0 (and sum(x) when
// the format has an offset b), and the reduction applies s and b once per column (w = value * s + b).
// Returns 0 when not deferred (also above kSplitMaxParts parts, which only an explicit split_k makes),
// 1 deferred without sum(x) (fp4 family: b = 0), 2 with sum(x).
uint32_t gemm_split_defers_group(const GemmShape& s, uint32_t splits);

// Fills `out` (kind, kernel names, grid, threadgroup, splits, k_chunk, workspace bytes). Returns
// MM_E_INVALID_ARG for an unknown format or activation dtype and for zero dims.
int gemm_route(const char* op, const GemmShape& s, mm_gemm_route_info* out);

// Format rules (gemm_format.cpp): bytes per stored scale / bias element of an MM_SCALE_* type, and the
// check of format, scale storage, activation dtype, group size and nvfp4 tensor scales
// (MM_E_INVALID_ARG naming the field).
uint32_t scale_bytes(uint32_t scale_dtype);
int check_format(const char* op, const mm_gemm_params& p);

}  // namespace mm::core
