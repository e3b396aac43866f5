// gemm_common.h — helpers every GEMM kernel shares: 4-bit decode of one packed word and the epilogue.
// Formats and epilogue bits are defined in gemm_params.h; the layout is lib/quant/formats.ts.
#ifndef MM_GEMM_COMMON_H
#define MM_GEMM_COMMON_H

#include "gemm_params.h"
#include "quant_formats.h"  // the one FP4 codebook, generated from lib/quant/formats.ts

// Decodes the 8 codes of word w (lowest k in the lowest nibble) into out[0..7], scaled.
// zero is the group's zero point for int4 (ignored for fp4; 8 for int4-sym).
template <int FMT>
inline void gemm_dequant8(uint w, float scale, float zero, thread float* out) {
  for (uint i = 0; i < 8; ++i) {
    const uint c = (w >> (4u * i)) & 15u;
    if (FMT == GEMM_FMT_FP4) {
      out[i] = mm_fp4_e2m1_values[c] * scale;
    } else {
      out[i] = (float(c) - zero) * scale;
    }
  }
}

// Zero point of (group row g, column col) for the format: read only for int4.
template <int FMT>
inline float gemm_zero(device const uchar* zeros, uint index) {
  if (FMT == GEMM_FMT_INT4) {
    return float(zeros[index]);
  }
  return FMT == GEMM_FMT_INT4_SYM ? 8.0f : 0.0f;
}

inline float gemm_silu(float x) {
  return x / (1.0f + exp(-x));
}

// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// tanh(y) = 1 - 2 / (exp(2y) + 1) keeps it to exp(), exact at both infinities.
inline float gemm_gelu(float x) {
  const float y = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  const float t = 1.0f - 2.0f / (exp(2.0f * y) + 1.0f);
  return 0.5f * x * (1.0f + t);
}

// The epilogue for output (m, n): g = accumulated A*W (gate), u = A*Wup (SwiGLU only).
// Order: swiglu -> +bias -> relu|silu|gelu -> *alpha -> +residual (documented in the README).
// residual points at this batch's residual matrix.
inline float gemm_epilogue(float g, float u, uint m, uint n, constant GemmParams& p,
                           device const half* bias, device const half* residual) {
  const uint e = p.epilogue;
  float v = g;
  if ((e & GEMM_EPI_SWIGLU) != 0u) {
    v = gemm_silu(g) * u;
  }
  if ((e & GEMM_EPI_BIAS) != 0u) {
    v += float(bias[n]);
  }
  if ((e & GEMM_EPI_RELU) != 0u) {
    v = max(v, 0.0f);
  } else if ((e & GEMM_EPI_SILU) != 0u) {
    v = gemm_silu(v);
  } else if ((e & GEMM_EPI_GELU) != 0u) {
    v = gemm_gelu(v);
  }
  if ((e & GEMM_EPI_SCALE) != 0u) {
    v *= p.alpha;
  }
  if ((e & GEMM_EPI_RESIDUAL) != 0u) {
    v += float(residual[m * p.ldr + n]);
  }
  return v;
}

#endif  // MM_GEMM_COMMON_H
