// The format contract of issue #11 (fixed in its brief so importers could be written in parallel):
// int4-affine (w = s*q + b), mxfp4 (E8M0 scales), nvfp4, and bf16 scales. Importers build matrices in the
// contract's shape; a format that lib/quant does not list yet is refused with an InexactImportError naming
// it, so nothing downstream ever sees a format it cannot decode.
import { QUANT_FORMATS } from "../quant/formats.ts";
import type { QuantizedMatrix } from "../quant/types.ts";

/** Every weight format of the contract. */
export type ContractFormat = "fp4" | "int4" | "int4-sym" | "int4-affine" | "mxfp4" | "nvfp4";
/** Scale storage of the contract: f16 / bf16 (raw bits) / E8M0 bytes / E4M3 bytes. */
export type ScaleDType = "f16" | "bf16" | "e8m0" | "e4m3";

/** A QuantizedMatrix as the contract defines it (lib/quant's type once #11 lands). */
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

/** True when lib/quant implements `format` (quantize, dequantize, upload). */
export function formatAvailable(format: ContractFormat): boolean {
  return (QUANT_FORMATS as readonly string[]).includes(format);
}

/** True when lib/quant accepts scales stored as `dtype` ("f16" always; the rest arrive with #11). */
export function scaleDtypeAvailable(dtype: ScaleDType): boolean {
  if (dtype === "f16") return true;
  if (dtype === "e8m0") return formatAvailable("mxfp4");
  if (dtype === "e4m3") return formatAvailable("nvfp4");
  return formatAvailable("int4-affine"); // bf16 scales arrive together with int4-affine (#11)
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
