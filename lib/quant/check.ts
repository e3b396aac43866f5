// Typed-error construction and option validation shared by quantize, dequantize, padding and the audit.
// Errors carry their class's MM_E_* code (lib/runtime/errors.ts) and the operation name.
import { InvalidArgumentError, ShapeError } from "../runtime/errors.ts";
import { isQuantFormat, QUANT_FORMATS, type QuantFormat } from "./formats.ts";

/** A ShapeError for operation `op`; `message` starts with the op and gives the numbers. */
export function shapeError(op: string, message: string): ShapeError {
  return new ShapeError(message, op);
}

/** An InvalidArgumentError for operation `op`. */
export function argError(op: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, op);
}

/** Throws InvalidArgumentError unless `format` is a known format name. */
export function checkFormat(op: string, format: unknown): asserts format is QuantFormat {
  if (!isQuantFormat(format)) {
    throw argError(
      op,
      `${op}: unknown format ${JSON.stringify(format)}; expected one of ${QUANT_FORMATS.join(", ")}`,
    );
  }
}

/**
 * Index of the first NaN or ±Inf in w, or -1. Summing x - x is NaN only for NaN/Inf, so the common
 * all-finite case costs one pass without branches in the loop body.
 */
export function firstNonFinite(w: ArrayLike<number>): number {
  const len = w.length;
  const BLOCK = 4096;
  for (let s = 0; s < len; s += BLOCK) {
    const e = Math.min(len, s + BLOCK);
    let acc = 0;
    for (let i = s; i < e; i++) acc += w[i] - w[i];
    if (acc !== acc) {
      for (let i = s; i < e; i++) if (!Number.isFinite(w[i])) return i;
    }
  }
  return -1;
}
