// The ONE definition of every 4-bit weight format and its memory layout. shaders/quant_formats.h is
// generated from this file (scripts/gen-quant-header.ts); tests/quant_header.test.ts checks they agree.
//
// Layout shared by all formats (what the GEMM kernels read):
//   packed  Uint32Array [batch?, Kp/8, Np] row-major. Word packed[kp][n] holds k = 8*kp + i (i = 0..7)
//           in bits [4i+3 : 4i]: the lowest k sits in the lowest nibble.
//   scales  [batch?, Kp/gs, Np]: scale of group g = k / gs, column n, stored as scaleDtype: Float16Array
//           ("f16"), Uint16Array of raw bf16 bits ("bf16"), Uint8Array of E8M0 / E4M3 bytes.
//   zeros   Uint8Array [batch?, Kp/gs, Np], "int4" only: integer zero point 0..15, one byte each.
//   biases  [batch?, Kp/gs, Np], "int4-affine" only, same storage type as the scales.
//   Dequantized weight: fp4          w = E2M1[code] * s
//                       int4         w = (code - zero) * s
//                       int4-sym     w = (code - 8) * s
//                       int4-affine  w = s * code + b
//                       mxfp4        w = E2M1[code] * 2^(e - 127)          (gs 32, e = E8M0 byte)
//                       nvfp4        w = E2M1[code] * E4M3(byte) * tensorScale   (gs 16)
//   Group size: any multiple of 8 from 8 to Kp; per-channel = one group over all of K (gs = Kp = roundUp(K, 8)).
//   Padding: Kp = roundUp(K, gs), Np = roundUp(N, nMultiple = 8). Padded positions contribute exactly 0:
//   padded columns have scale 0 (and bias 0; mxfp4, whose E8M0 has no 0, byte 0 = 2^-127 with code 0);
//   padded K rows hold the code of 0 (int4-affine: code 0) and never meet a nonzero activation.

/**
 * The weight formats: FP4 E2M1, INT4 with per-group zero point, INT4 with fixed zero point 8, INT4 affine
 * (w = s·q + b, MLX / GGUF Q4_1), OCP MXFP4 (E2M1 codes, E8M0 scale per 32) and NVFP4 (E2M1 codes, E4M3
 * scale per 16, one f32 scale per tensor).
 */
export type QuantFormat = "fp4" | "int4" | "int4-sym" | "int4-affine" | "mxfp4" | "nvfp4";

/** All format names, in format-id order. */
export const QUANT_FORMATS: readonly QuantFormat[] = [
  "fp4",
  "int4",
  "int4-sym",
  "int4-affine",
  "mxfp4",
  "nvfp4",
];

/** Numeric ids the shaders and the C ABI use (MM_QFMT_* in shaders/quant_formats.h). */
export const FORMAT_IDS: Readonly<Record<QuantFormat, number>> = {
  "fp4": 0,
  "int4": 1,
  "int4-sym": 2,
  "int4-affine": 3,
  "mxfp4": 4,
  "nvfp4": 5,
};

/**
 * Storage of scales (and int4-affine biases): "f16" (Float16Array), "bf16" (Uint16Array of raw bf16 bits),
 * "e8m0" (Uint8Array, power of two 2^(e-127), mxfp4 only), "e4m3" (Uint8Array, FP8 E4M3, nvfp4 only).
 */
export type ScaleDType = "f16" | "bf16" | "e8m0" | "e4m3";

/** Numeric ids of the scale storage types (MM_SCALE_* in shaders/quant_formats.h and metal_marlin.h). */
export const SCALE_DTYPE_IDS: Readonly<Record<ScaleDType, number>> = {
  "f16": 0,
  "bf16": 1,
  "e8m0": 2,
  "e4m3": 3,
};

/** Bytes per stored scale (and bias) element. */
export const SCALE_DTYPE_BYTES: Readonly<Record<ScaleDType, number>> = {
  "f16": 2,
  "bf16": 2,
  "e8m0": 1,
  "e4m3": 1,
};

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
  /** The format's name. */
  readonly name: QuantFormat;
  /** Its MM_FORMAT_* id (FORMAT_IDS). */
  readonly id: number;
  /** true when a zeros array (Uint8Array) is stored ("int4"). */
  readonly hasZeroArray: boolean;
  /** The constant zero point, or undefined if none / per group. */
  readonly fixedZero: number | undefined;
  /** true when a float bias per (group, column) is stored ("int4-affine"). */
  readonly hasBias: boolean;
  /** Code values: "e2m1" (FP4_E2M1_VALUES) or "uint" (the code itself, 0..15). */
  readonly codes: "e2m1" | "uint";
  /** Scale storage types the format allows; the first is the default. */
  readonly scaleDtypes: readonly ScaleDType[];
  /** Group size fixed by the format's definition (mxfp4 32, nvfp4 16), else undefined (any multiple of 8). */
  readonly fixedGroupSize: number | undefined;
  /** Checkpoints that store this format (README Formats table). */
  readonly usedBy: string;
}

const F16_BF16: readonly ScaleDType[] = ["f16", "bf16"];

/** Static facts of every format: stored arrays, code values, scale storage, fixed group size, users. */
export const FORMAT_INFO: Readonly<Record<QuantFormat, FormatInfo>> = {
  "fp4": {
    name: "fp4",
    id: 0,
    hasZeroArray: false,
    fixedZero: undefined,
    hasBias: false,
    codes: "e2m1",
    scaleDtypes: F16_BF16,
    fixedGroupSize: undefined,
    usedBy: "our own FP4 export (E2M1 with a float scale per group)",
  },
  "int4": {
    name: "int4",
    id: 1,
    hasZeroArray: true,
    fixedZero: undefined,
    hasBias: false,
    codes: "uint",
    scaleDtypes: F16_BF16,
    fixedGroupSize: undefined,
    usedBy: "GPTQ (integer zeros, incl. group_size -1 = per channel), AWQ",
  },
  "int4-sym": {
    name: "int4-sym",
    id: 2,
    hasZeroArray: false,
    fixedZero: INT4_SYM_ZERO,
    hasBias: false,
    codes: "uint",
    scaleDtypes: F16_BF16,
    fixedGroupSize: undefined,
    usedBy: "GGUF Q4_0, GPTQ sym=True",
  },
  "int4-affine": {
    name: "int4-affine",
    id: 3,
    hasZeroArray: false,
    fixedZero: undefined,
    hasBias: true,
    codes: "uint",
    scaleDtypes: F16_BF16,
    fixedGroupSize: undefined,
    usedBy: "MLX affine 4-bit (mlx-community, f16 or bf16 scales/biases), GGUF Q4_1",
  },
  "mxfp4": {
    name: "mxfp4",
    id: 4,
    hasZeroArray: false,
    fixedZero: undefined,
    hasBias: false,
    codes: "e2m1",
    scaleDtypes: ["e8m0"],
    fixedGroupSize: 32,
    usedBy: "OCP MX (gpt-oss MoE experts, GGUF MXFP4)",
  },
  "nvfp4": {
    name: "nvfp4",
    id: 5,
    hasZeroArray: false,
    fixedZero: undefined,
    hasBias: false,
    codes: "e2m1",
    scaleDtypes: ["e4m3"],
    fixedGroupSize: 16,
    usedBy: "NVIDIA NVFP4 (TensorRT Model Optimizer / compressed-tensors exports)",
  },
};

/** True when `s` names a format. */
export function isQuantFormat(s: unknown): s is QuantFormat {
  return typeof s === "string" && (QUANT_FORMATS as readonly string[]).includes(s);
}

/** E8M0 byte e whose value is NaN (OCP MX): refused at quantize/upload/import. */
export const E8M0_NAN = 255;
/** E4M3 bytes whose value is NaN (sign either way, exponent and mantissa all ones): refused. */
export const E4M3_NAN: readonly number[] = [0x7f, 0xff];
/** Largest finite E4M3 magnitude (0x7E = 1.75 · 2^8). */
export const E4M3_MAX = 448;
/** Largest finite bf16 (0x7F7F). */
export const BF16_MAX = 3.3895313892515355e38;

/** OCP MX E8M0 scale: 2^(e - 127) for e = 0..254 (2^-127 is a float32 subnormal), NaN for 255. */
export function decodeE8M0(e: number): number {
  return e === E8M0_NAN ? NaN : 2 ** (e - 127);
}

/**
 * FP8 E4M3 (OCP "E4M3FN", the NVFP4 block scale): bit 7 sign, bits 6..3 exponent (bias 7), bits 2..0
 * mantissa; exponent 0 is subnormal (m/8 · 2^-6); no infinities; 0x7F / 0xFF are NaN.
 */
export function decodeE4M3(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const e = (byte >> 3) & 15, m = byte & 7;
  if (e === 15 && m === 7) return NaN;
  return sign * (e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
}

const bfScratch = new Float32Array(1);
const bfBits = new Uint32Array(bfScratch.buffer);

/** bf16 bits (the high half of a float32) -> value, exactly. */
export function decodeBF16(bits: number): number {
  bfBits[0] = (bits & 0xffff) << 16;
  return bfScratch[0];
}

/** The 256 E8M0 values as float32 (index = byte), shared by the host and the generated shader header. */
export const E8M0_VALUES: Float32Array = Float32Array.from({ length: 256 }, (_, e) => decodeE8M0(e));
/** The 256 E4M3 values as float32 (index = byte); all are exact in float32. */
export const E4M3_VALUES: Float32Array = Float32Array.from({ length: 256 }, (_, b) => decodeE4M3(b));

/** Decoded value of stored scale (or bias) element `raw` of storage type `dtype`. */
export function decodeScale(dtype: ScaleDType, raw: number): number {
  switch (dtype) {
    case "f16":
      return raw; // Float16Array elements read as their value
    case "bf16":
      return decodeBF16(raw);
    case "e8m0":
      return decodeE8M0(raw);
    case "e4m3":
      return decodeE4M3(raw);
  }
}

/**
 * Value of one 4-bit code (0..15) in float64 given its group's decoded scale and, by format, the zero
 * point ("int4"), the bias ("int4-affine") or the tensor scale ("nvfp4"); ignored otherwise.
 */
export function decodeCode(format: QuantFormat, code: number, scale: number, extra: number): number {
  switch (format) {
    case "fp4":
    case "mxfp4":
      return FP4_E2M1_VALUES[code] * scale;
    case "nvfp4":
      return FP4_E2M1_VALUES[code] * scale * extra;
    case "int4":
      return (code - extra) * scale;
    case "int4-sym":
      return (code - INT4_SYM_ZERO) * scale;
    case "int4-affine":
      return scale * code + extra;
  }
}

/**
 * Storage bits per weight: 4 for the code plus the per-group scale (and zero point or bias) spread over
 * the group (the nvfp4 tensor scale is negligible and not counted).
 */
export function bitsPerWeight(format: QuantFormat, groupSize: number, scaleDtype?: ScaleDType): number {
  const info = FORMAT_INFO[format];
  const sb = SCALE_DTYPE_BYTES[scaleDtype ?? info.scaleDtypes[0]] * 8;
  const extra = info.hasZeroArray ? 8 : info.hasBias ? sb : 0;
  return 4 + (sb + extra) / groupSize;
}
