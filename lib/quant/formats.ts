// The ONE definition of every 4-bit weight format and its memory layout. shaders/quant_formats.h is
// generated from this file (scripts/gen-quant-header.ts); tests/quant_header.test.ts checks they agree.
//
// Layout shared by all formats (what the GEMM kernels read):
//   packed  Uint32Array [batch?, Kp/8, Np] row-major. Word packed[kp][n] holds k = 8*kp + i (i = 0..7)
//           in bits [4i+3 : 4i]: the lowest k sits in the lowest nibble.
//   scales  Float16Array [batch?, Kp/gs, Np]: scale of group g = k / gs, column n.
//   zeros   Uint8Array [batch?, Kp/gs, Np], "int4" only: integer zero point 0..15, one byte each.
//           "int4-sym" has no array: its zero point is the constant 8. "fp4" has no zero point.
//   Dequantized weight: fp4       w[k][n] = FP4_E2M1_VALUES[code] * scale[g][n]
//                       int4      w[k][n] = (code - zeros[g][n]) * scale[g][n]
//                       int4-sym  w[k][n] = (code - 8) * scale[g][n]
//   Padding: Kp = roundUp(K, gs), Np = roundUp(N, nMultiple = 8). Padded positions dequantize to exactly 0:
//   fp4 code 0 (+0); int4 code = the group's zero point (8 for int4-sym); padded columns have scale 0.

/** The weight formats: FP4 E2M1, INT4 with per-group zero point, INT4 with fixed zero point 8. */
export type QuantFormat = "fp4" | "int4" | "int4-sym";

/** All format names, in format-id order. */
export const QUANT_FORMATS: readonly QuantFormat[] = ["fp4", "int4", "int4-sym"];

/** Numeric ids the shaders and the C ABI use (MM_QFMT_* in shaders/quant_formats.h). */
export const FORMAT_IDS: Readonly<Record<QuantFormat, number>> = { "fp4": 0, "int4": 1, "int4-sym": 2 };

/**
 * FP4 E2M1 decode table, indexed by the 4-bit code. Bit 3 sign, bits 2..1 exponent (bias 1), bit 0
 * mantissa. Codes 8..15 are the negatives of 0..7 (8 is -0). Same as OCP MXFP4, NVFP4, llama.cpp, MLX.
 */
// deno-fmt-ignore
export const FP4_E2M1_VALUES: Float32Array = new Float32Array([
  0, 0.5, 1, 1.5, 2, 3, 4, 6,
  -0, -0.5, -1, -1.5, -2, -3, -4, -6,
]);

/** Largest FP4 magnitude: the default scale is absmax / FP4_MAX so absmax maps to code 7. */
export const FP4_MAX = 6;
/** Largest |code - 8| used by int4-sym: the default scale is absmax / INT4_SYM_MAX (code 0 = -8 unused). */
export const INT4_SYM_MAX = 7;
/** The fixed zero point of int4-sym. */
export const INT4_SYM_ZERO = 8;
/** Largest 4-bit code. */
export const CODE_MAX = 15;
/** K values per packed uint32 word. */
export const K_PER_WORD = 8;
/** Bits per code. Code i of a word: (word >>> (NIBBLE_BITS * i)) & NIBBLE_MASK. */
export const NIBBLE_BITS = 4;
export const NIBBLE_MASK = 0xf;
/** Default group size along K. */
export const DEFAULT_GROUP_SIZE = 128;
/** Default N padding multiple (GEMV reads 8 columns per step). */
export const DEFAULT_N_MULTIPLE = 8;
/** Largest finite float16; a scale above it cannot be stored. */
export const FP16_MAX = 65504;

/**
 * Rounding thresholds of FP4 on |w| / scale, midpoints between neighbouring magnitudes. Ties go to the
 * even code (mantissa bit 0), as IEEE and the OCP MX conversion do: 0.25 -> 0, 0.75 -> 1.0, 1.25 -> 1.0,
 * 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4. FP4_TIE_UP[i] says whether a tie at FP4_THRESHOLDS[i] rounds up.
 */
export const FP4_THRESHOLDS: readonly number[] = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5];
export const FP4_TIE_UP: readonly boolean[] = [false, true, false, true, false, true, false];

/** Static facts about one format. */
export interface FormatInfo {
  readonly name: QuantFormat;
  readonly id: number;
  /** true when a zeros array (Uint8Array) is stored. */
  readonly hasZeroArray: boolean;
  /** The constant zero point, or undefined if none / per group. */
  readonly fixedZero: number | undefined;
}

export const FORMAT_INFO: Readonly<Record<QuantFormat, FormatInfo>> = {
  "fp4": { name: "fp4", id: 0, hasZeroArray: false, fixedZero: undefined },
  "int4": { name: "int4", id: 1, hasZeroArray: true, fixedZero: undefined },
  "int4-sym": { name: "int4-sym", id: 2, hasZeroArray: false, fixedZero: INT4_SYM_ZERO },
};

/** True when `s` names a format. */
export function isQuantFormat(s: unknown): s is QuantFormat {
  return typeof s === "string" && (QUANT_FORMATS as readonly string[]).includes(s);
}

/** Value of one 4-bit code (0..15) given its group's scale and zero point (float64 arithmetic). */
export function decodeCode(format: QuantFormat, code: number, scale: number, zero: number): number {
  if (format === "fp4") return FP4_E2M1_VALUES[code] * scale;
  return (code - (format === "int4-sym" ? INT4_SYM_ZERO : zero)) * scale;
}
