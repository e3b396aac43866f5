// gemm_common.h — helpers every GEMM kernel shares: the group decode (scale, bias) of every format, the
// 4-bit decode of one packed word, activation loads/stores in f16 or bf16, and the epilogue.
// Formats and epilogue bits are defined in gemm_params.h; the layout is lib/quant/formats.ts.
#ifndef MM_GEMM_COMMON_H
#define MM_GEMM_COMMON_H

#include "gemm_params.h"
#include "quant_formats.h"  // code and scale tables, generated from lib/quant/formats.ts

// Every format decodes as w = table[code] * s + b, with s and b fixed per (group, column):
//   fp4, mxfp4: E2M1[code] * s          int4: code * s - zero * s (exact: both products fit a float)
//   int4-sym: code * s - 8 * s          int4-affine: code * s + bias      nvfp4: E2M1[code] * (s * t)
// so the hot loop has no per-format branch; the format only picks the table and the group's s and b.
inline constant float* gemm_code_table(uint format) {
  return (format == GEMM_FMT_FP4 || format == GEMM_FMT_MXFP4 || format == GEMM_FMT_NVFP4) ? mm_fp4_e2m1_values
                                                                                              : mm_uint4_values;
}

// Scales and int4-affine biases are 16-bit (f16, bf16) or 8-bit (E8M0, E4M3) elements; zero points u8.
inline bool gemm_scale_wide(uint dtype) {
  return dtype == MM_SCALE_F16 || dtype == MM_SCALE_BF16;
}

// The raw bits of element idx of a scale, zero-point or bias array (wide: 16-bit elements, else 8-bit).
// Raw bits, not floats, so the vector kernels can stage them in 16 bits of threadgroup memory each.
inline uint gemm_raw_at(device const uchar* raw, uint idx, bool wide) {
  return wide ? uint(((device const ushort*)raw)[idx]) : uint(raw[idx]);
}

// The value of one stored scale (or int4-affine bias) element of type `dtype` (MM_SCALE_*) from its bits
// (dequant loads four at once and decodes each).
inline float gemm_scale_bits(uint v, uint dtype) {
  if (dtype == MM_SCALE_F16) {
    return float(as_type<half>(ushort(v)));
  }
  if (dtype == MM_SCALE_BF16) {
    return as_type<float>(v << 16);
  }
  return dtype == MM_SCALE_E8M0 ? mm_e8m0_values[v] : mm_e4m3_values[v];
}

// What decoding a weight needs from the params, copied to registers once per kernel: reading the
// constant block at every group change would add a request per field to the hot loop.
struct GemmDecode {
  uint format;       // GEMM_FMT_*
  uint scale_dtype;  // MM_SCALE_*
  float ts;          // nvfp4 tensor scale of this weight (gate or up)
};

// From the fields of any params block (the layer kernels' blocks carry the same three).
inline GemmDecode gemm_decode_fields(uint format, uint scale_dtype, float tensor_scale) {
  GemmDecode d;
  d.format = format;
  d.scale_dtype = scale_dtype;
  d.ts = format != GEMM_FMT_NVFP4 ? 1.0f : tensor_scale;
  return d;
}

inline GemmDecode gemm_decode(constant GemmParams& p, bool up) {
  return gemm_decode_fields(p.format, p.scale_dtype, up ? p.up_tensor_scale : p.tensor_scale);
}

// Which formats store a second per-group array (int4 zero points, int4-affine biases) in `zeros`.
inline bool gemm_has_zb(uint format) {
  return format == GEMM_FMT_INT4 || format == GEMM_FMT_INT4_AFFINE;
}

// Scale s and offset b of a group from its decoded stored scale sv and zv (int4: the zero point;
// int4-affine: the bias value; unused otherwise): w = table[code] * s + b.
inline void gemm_group_of(GemmDecode d, float sv, float zv, thread float& s, thread float& b) {
  s = sv;
  b = 0.0f;
  if (d.format == GEMM_FMT_INT4) {
    b = -zv * s;
  } else if (d.format == GEMM_FMT_INT4_SYM) {
    b = -8.0f * s;
  } else if (d.format == GEMM_FMT_INT4_AFFINE) {
    b = zv;
  } else if (d.format == GEMM_FMT_NVFP4) {
    s *= d.ts;
  }
}

// Scale s and offset b of one (group, column) from its stored bits: w = table[code] * s + b.
// sv: the scale's bits; zv: the int4 zero point or int4-affine bias bits (ignored by the other formats).
inline void gemm_group_bits(GemmDecode d, uint sv, uint zv, thread float& s, thread float& b) {
  const float z = d.format == GEMM_FMT_INT4 ? float(zv)
                  : d.format == GEMM_FMT_INT4_AFFINE ? gemm_scale_bits(zv, d.scale_dtype)
                                                      : 0.0f;
  gemm_group_of(d, gemm_scale_bits(sv, d.scale_dtype), z, s, b);
}

// Scale s and offset b of (group, column) element index idx, read from device memory.
// zb holds the int4 zero points (u8) or the int4-affine biases (scale dtype); unused otherwise.
inline void gemm_group(GemmDecode d, device const uchar* scales, device const uchar* zb, uint idx, thread float& s,
                       thread float& b) {
  const uint sv = gemm_raw_at(scales, idx, gemm_scale_wide(d.scale_dtype));
  uint zv = 0u;
  if (gemm_has_zb(d.format)) {
    zv = gemm_raw_at(zb, idx, d.format == GEMM_FMT_INT4_AFFINE && gemm_scale_wide(d.scale_dtype));
  }
  gemm_group_bits(d, sv, zv, s, b);
}

// Decodes the 8 codes of word w (lowest k in the lowest nibble) into out[0..7].
inline void gemm_dequant8(uint w, constant float* table, float s, float b, thread float* out) {
  for (uint i = 0; i < 8; ++i) {
    out[i] = fma(table[(w >> (4u * i)) & 15u], s, b);
  }
}

// Activations, outputs, bias and residual are raw 16-bit elements: f16, or bf16 with GEMM_EPI_BF16.
inline float gemm_act(ushort v, bool bf16) {
  return bf16 ? as_type<float>(uint(v) << 16) : float(as_type<half>(v));
}

// float -> f16 or bf16 bits, round to nearest even (bf16: NaN stays NaN, overflow goes to infinity).
inline ushort gemm_act_bits(float v, bool bf16) {
  if (!bf16) {
    return as_type<ushort>(half(v));
  }
  const uint u = as_type<uint>(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    return ushort((u >> 16) | 0x40u);
  }
  return ushort((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
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
// residual points at this batch's residual matrix; bias and residual are in the activation dtype
// (e: the caller's register copy of p.epilogue; bf16: its GEMM_EPI_BF16 bit).
inline float gemm_epilogue(float g, float u, uint m, uint n, constant GemmParams& p, uint e, bool bf16,
                           device const ushort* bias, device const ushort* residual) {
  float v = g;
  if ((e & GEMM_EPI_SWIGLU) != 0u) {
    v = gemm_silu(g) * u;
  }
  if ((e & GEMM_EPI_BIAS) != 0u) {
    v += gemm_act(bias[n], bf16);
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
    v += gemm_act(residual[m * p.ldr + n], bf16);
  }
  return v;
}

#endif  // MM_GEMM_COMMON_H
