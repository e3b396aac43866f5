// Placeholder for the quantized GEMM entry points; the GEMM engineer replaces this file.
// Device.upload/gemm/batchedGemm delegate here so their signatures follow this module's.
import { UnsupportedError } from "./errors.ts";

/** Uploads a quantized weight matrix to the device. Not implemented yet. */
export function uploadWeight(_dev: object, _q: unknown): unknown {
  throw new UnsupportedError("upload: not implemented yet", -12, "upload");
}

/** a [M, K] times quantized w [K, N]. Not implemented yet. */
export function gemm(_dev: object, _a: unknown, _w: unknown, _opts?: unknown): unknown {
  throw new UnsupportedError("gemm: not implemented yet", -12, "gemm");
}

/** Strided batched GEMM. Not implemented yet. */
export function batchedGemm(_dev: object, _a: unknown, _w: unknown, _opts?: unknown): unknown {
  throw new UnsupportedError("batchedGemm: not implemented yet", -12, "batchedGemm");
}
