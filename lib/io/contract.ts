// The format contract of issue #11 (fixed in its brief so importers could be written in parallel with it):
// int4-affine (w = s*q + b), mxfp4 (E8M0 scales), nvfp4, and bf16 scales. Importers build matrices in the
// contract's shape, which is lib/quant's QuantizedMatrix now that #11 has landed.
import type { QuantizedMatrix } from "../quant/types.ts";

/** Every weight format of the contract. */
export type ContractFormat = "fp4" | "int4" | "int4-sym" | "int4-affine" | "mxfp4" | "nvfp4";
/** Scale storage of the contract: f16 / bf16 (raw bits) / E8M0 bytes / E4M3 bytes. */
export type ScaleDType = "f16" | "bf16" | "e8m0" | "e4m3";

/** A QuantizedMatrix as the contract defines it (the shape of lib/quant's type). */
export interface ImportedMatrix {
  readonly format: ContractFormat;
  readonly k: number;
  readonly n: number;
  readonly kp: number;
  readonly np: number;
  readonly groupSize: number;
  readonly batch: number | undefined;
  readonly layout: "nk";
  readonly packed: Uint32Array;
  readonly scaleDtype: ScaleDType;
  readonly scales: Float16Array | Uint16Array | Uint8Array;
  readonly zeros: Uint8Array | undefined;
  readonly biases?: Float16Array | Uint16Array;
  readonly tensorScale?: number;
}

/** The matrix as lib/quant's QuantizedMatrix (same object: the contract only adds fields). */
export function asQuantized(m: ImportedMatrix): QuantizedMatrix {
  return m as unknown as QuantizedMatrix;
}

/** Scales array of the right type for `dtype`, `n` entries, over a fresh zeroed buffer. */
export function scaleArray(dtype: ScaleDType, n: number): Float16Array | Uint16Array | Uint8Array {
  if (dtype === "f16") return new Float16Array(n);
  if (dtype === "bf16") return new Uint16Array(n);
  return new Uint8Array(n);
}

/** Raw 16-bit view of an f16 / bf16 scales (or biases) array, for copying bits exactly. */
export function bits16(a: Float16Array | Uint16Array): Uint16Array {
  return a instanceof Uint16Array ? a : new Uint16Array(a.buffer, a.byteOffset, a.length);
}

/** Rounds x up to a multiple of m. */
export function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

/**
 * An int4 (zero-point) matrix from AutoGPTQ/AutoAWQ data already moved to our layout: `scaleBits` holds the
 * f16 scales as [groups, n] raw bits, laid out here with row pitch np (rows past `groups` stay 0: padded K).
 */
export function int4Matrix(
  k: number,
  n: number,
  kp: number,
  np: number,
  groupSize: number,
  packed: Uint32Array,
  scaleBits: Uint16Array,
  zeros: Uint8Array,
): ImportedMatrix {
  const s = new Uint16Array((kp / groupSize) * np);
  for (let g = 0; g < scaleBits.length / n; g++) s.set(scaleBits.subarray(g * n, (g + 1) * n), g * np);
  const scales = new Float16Array(s.buffer);
  return {
    format: "int4",
    k,
    n,
    kp,
    np,
    groupSize,
    batch: undefined,
    layout: "nk",
    packed,
    scaleDtype: "f16",
    scales,
    zeros,
  };
}
