// The one padding helper every path uses (quantize, weight import, GEMM dispatch). Shapes are padded,
// never rejected: zero codes and zero scales make padded positions contribute exactly 0, and the
// original K and N travel with the weight so outputs are sliced back.
import { argError, shapeError } from "./check.ts";

/** Largest dimension the C ABI carries (dims are uint32_t). */
export const MAX_DIM = 0xffffffff;

/** M is padded to a multiple of this while M <= M_PAD_THRESHOLD (one 8x8 simdgroup_matrix row block). */
export const M_PAD_SMALL = 8;
/** Above the threshold, M is padded to a multiple of the prefill tile height. */
export const M_PAD_LARGE = 64;
/**
 * M above which padding goes to M_PAD_LARGE. Past 256 rows a 64-multiple costs at most 63/257 < 25%
 * extra rows and lets every prefill tile run without row bounds checks (seed audit recommendation).
 */
export const M_PAD_THRESHOLD = 256;

/** How activations' row count M is padded before a GEMM. */
export interface MPaddingPolicy {
  /** false: M is used as is (kernels bounds-check rows). Default true. */
  enabled: boolean;
  /** Multiple for 1 < M <= threshold. Default M_PAD_SMALL. */
  small: number;
  /** Multiple for M > threshold. Default M_PAD_LARGE. */
  large: number;
  /** Default M_PAD_THRESHOLD. */
  threshold: number;
}

/** The default M padding policy. M = 1 is never padded so decode keeps the GEMV path. */
export const DEFAULT_M_PADDING: Readonly<MPaddingPolicy> = Object.freeze({
  enabled: true,
  small: M_PAD_SMALL,
  large: M_PAD_LARGE,
  threshold: M_PAD_THRESHOLD,
});

/** Throws unless x is a positive integer <= MAX_DIM. `what` names the value in the message. */
export function checkDim(op: string, what: string, x: number): void {
  if (typeof x !== "number" || !Number.isInteger(x) || x <= 0) {
    throw argError(op, `${op}: ${what} must be a positive integer, got ${String(x)}`);
  }
  if (x > MAX_DIM) {
    throw shapeError(op, `${op}: ${what} = ${x} is above the C ABI's uint32 dimension limit ${MAX_DIM}`);
  }
}

/**
 * Rounds x (a positive integer) up to a multiple of `multiple` (a positive integer). Throws ShapeError if
 * the result no longer fits a uint32 dimension.
 */
export function padTo(x: number, multiple: number, op = "padTo"): number {
  checkDim(op, "x", x);
  checkDim(op, "multiple", multiple);
  const r = Math.ceil(x / multiple) * multiple;
  if (r > MAX_DIM) {
    throw shapeError(
      op,
      `${op}: ${x} rounded up to a multiple of ${multiple} is ${r}, above the uint32 dimension limit ${MAX_DIM}`,
    );
  }
  return r;
}

/** Padded row count for M activations rows under `policy` (default DEFAULT_M_PADDING). */
export function padM(m: number, policy: Readonly<MPaddingPolicy> = DEFAULT_M_PADDING): number {
  checkDim("padM", "m", m);
  if (!policy.enabled || m === 1) return m;
  return padTo(m, m > policy.threshold ? policy.large : policy.small, "padM");
}

/** Padded K for a group size: the group size must divide Kp, and it is a multiple of 8. */
export function padK(k: number, groupSize: number, op = "padK"): number {
  checkGroupSize(op, groupSize);
  return padTo(k, groupSize, op);
}

/** Padded N: a multiple of nMultiple (itself a multiple of 8; default 8). */
export function padN(n: number, nMultiple = 8, op = "padN"): number {
  if (!Number.isInteger(nMultiple) || nMultiple <= 0 || nMultiple % 8 !== 0) {
    throw argError(op, `${op}: nMultiple must be a positive multiple of 8, got ${nMultiple}`);
  }
  return padTo(n, nMultiple, op);
}

/** Throws unless groupSize is a positive multiple of 8 (kernels read one group per packed word). */
export function checkGroupSize(op: string, groupSize: number): void {
  if (!Number.isInteger(groupSize) || groupSize <= 0 || groupSize % 8 !== 0) {
    const hint = Number.isInteger(groupSize) && groupSize > 0
      ? ` (nearest: ${Math.max(8, Math.round(groupSize / 8) * 8)})`
      : "";
    throw argError(op, `${op}: groupSize must be a positive multiple of 8, got ${String(groupSize)}${hint}`);
  }
}

/** Typed arrays padMatrix() and sliceMatrix() accept (row-major matrices). */
export type PlainArray =
  | Uint32Array
  | Uint8Array
  | Uint16Array
  | Int32Array
  | Float32Array
  | Float64Array
  | Float16Array;

/**
 * Copies `batch` row-major [rows, cols] matrices into zero-filled [rowsP, colsP] ones (same element
 * type). rowsP >= rows and colsP >= cols. Returns src itself when nothing grows.
 */
export function padMatrix<T extends PlainArray>(
  src: T,
  batch: number,
  rows: number,
  cols: number,
  rowsP: number,
  colsP: number,
): T {
  if (src.length !== batch * rows * cols) {
    throw shapeError(
      "padMatrix",
      `padMatrix: src has ${src.length} elements but batch*rows*cols = ${batch}*${rows}*${cols} = ${
        batch * rows * cols
      }`,
    );
  }
  if (rowsP < rows || colsP < cols) {
    throw shapeError("padMatrix", `padMatrix: cannot pad [${rows}, ${cols}] down to [${rowsP}, ${colsP}]`);
  }
  if (rowsP === rows && colsP === cols) return src;
  const ctor = src.constructor as new (len: number) => T;
  const dst = new ctor(batch * rowsP * colsP);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      const s = (b * rows + r) * cols;
      // deno-lint-ignore no-explicit-any
      (dst as any).set(src.subarray(s, s + cols), (b * rowsP + r) * colsP);
    }
  }
  return dst;
}

/**
 * Slices `batch` row-major [rowsP, colsP] matrices back to [rows, cols] (e.g. a GEMM output computed on
 * padded M and N). Returns src itself when nothing shrinks.
 */
export function sliceMatrix<T extends PlainArray>(
  src: T,
  batch: number,
  rowsP: number,
  colsP: number,
  rows: number,
  cols: number,
): T {
  if (src.length !== batch * rowsP * colsP) {
    throw shapeError(
      "sliceMatrix",
      `sliceMatrix: src has ${src.length} elements but batch*rows*cols = ${batch}*${rowsP}*${colsP} = ${
        batch * rowsP * colsP
      }`,
    );
  }
  if (rows > rowsP || cols > colsP) {
    throw shapeError("sliceMatrix", `sliceMatrix: [${rows}, ${cols}] is larger than [${rowsP}, ${colsP}]`);
  }
  if (rowsP === rows && colsP === cols) return src;
  const ctor = src.constructor as new (len: number) => T;
  const dst = new ctor(batch * rows * cols);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < rows; r++) {
      const s = (b * rowsP + r) * colsP;
      // deno-lint-ignore no-explicit-any
      (dst as any).set(src.subarray(s, s + cols), (b * rows + r) * cols);
    }
  }
  return dst;
}
