// Consistency check of a QuantizedMatrix built elsewhere (imports, hand-made, padded): every array
// length must match the recorded dims, so kernels and dequantize never read past an array.
import { checkDim, checkGroupSize } from "./padding.ts";
import { argError, checkFormat, shapeError } from "./check.ts";
import { E4M3_NAN, E8M0_NAN, FORMAT_INFO, type ScaleDType } from "./formats.ts";
import type { QuantizedMatrix } from "./types.ts";

const SCALE_ARRAY: Record<ScaleDType, { ctor: { name: string }; test: (x: unknown) => boolean }> = {
  f16: { ctor: Float16Array, test: (x) => x instanceof Float16Array },
  bf16: { ctor: Uint16Array, test: (x) => x instanceof Uint16Array },
  e8m0: { ctor: Uint8Array, test: (x) => x instanceof Uint8Array },
  e4m3: { ctor: Uint8Array, test: (x) => x instanceof Uint8Array },
};

/** Scale storage of q: its scaleDtype, "f16" for a matrix made before the field existed. */
export function scaleDtypeOf(q: QuantizedMatrix): ScaleDType {
  return q.scaleDtype ?? "f16";
}

/**
 * Throws InvalidArgumentError naming the first NaN-encoding scale byte (E8M0 255, E4M3 0x7F / 0xFF): the
 * formats define those bytes as NaN, which no weight can hold.
 */
export function checkScaleBytes(op: string, dtype: ScaleDType, scales: ArrayLike<number>): void {
  if (dtype !== "e8m0" && dtype !== "e4m3") return;
  for (let i = 0; i < scales.length; i++) {
    const v = scales[i];
    if (dtype === "e8m0" ? v === E8M0_NAN : E4M3_NAN.includes(v)) {
      throw argError(
        op,
        `${op}: ${dtype} scale byte 0x${v.toString(16)} at index ${i} encodes NaN; the weight is not finite`,
      );
    }
  }
}

/** Checks the format-specific fields: scale storage type, fixed group size, biases, tensor scale. */
function checkFormatFields(op: string, q: QuantizedMatrix, nScales: number): void {
  const info = FORMAT_INFO[q.format];
  const sd = scaleDtypeOf(q);
  if (!info.scaleDtypes.includes(sd)) {
    throw argError(
      op,
      `${op}: format "${q.format}" stores scales as ${info.scaleDtypes.join(" or ")}, got scaleDtype ${
        JSON.stringify(sd)
      }`,
    );
  }
  if (info.fixedGroupSize !== undefined && q.groupSize !== info.fixedGroupSize) {
    throw argError(
      op,
      `${op}: ${q.format} has group size ${info.fixedGroupSize} by definition, got ${q.groupSize}`,
    );
  }
  const want = SCALE_ARRAY[sd];
  if (!want.test(q.scales) || q.scales.length !== nScales) {
    const b = q.batch ?? 1;
    const got = want.test(q.scales) ? "" : `${q.scales?.constructor?.name} of `;
    throw shapeError(
      op,
      `${op}: scales must be a ${want.ctor.name}${
        sd === "f16" ? "" : ` (${sd})`
      } of batch*(kp/gs)*np = ${b}*${q.kp / q.groupSize}*${q.np} = ${nScales}, got ${got}${q.scales?.length}`,
    );
  }
  if (info.hasBias) {
    if (!want.test(q.biases) || q.biases!.length !== nScales) {
      throw shapeError(
        op,
        `${op}: int4-affine biases must be a ${want.ctor.name} (${sd}, like the scales) of ${nScales} entries, got ${q.biases?.constructor?.name} of ${q.biases?.length}`,
      );
    }
  } else if (q.biases !== undefined) {
    throw argError(op, `${op}: biases are only used by "int4-affine", but format is "${q.format}"`);
  }
  if (q.format === "nvfp4") {
    const t = q.tensorScale;
    if (typeof t !== "number" || !Number.isFinite(t) || Math.fround(t) !== t) {
      throw argError(op, `${op}: nvfp4 needs a finite float32 tensorScale, got ${String(t)}`);
    }
  }
}

/** Throws ShapeError / InvalidArgumentError (naming `op`) unless q is internally consistent. */
export function checkQuantized(op: string, q: QuantizedMatrix): void {
  if (q === null || typeof q !== "object") throw argError(op, `${op}: expected a QuantizedMatrix`);
  checkFormat(op, q.format);
  checkDim(op, "k", q.k);
  checkDim(op, "n", q.n);
  checkDim(op, "kp", q.kp);
  checkDim(op, "np", q.np);
  checkGroupSize(op, q.groupSize);
  if (q.batch !== undefined) checkDim(op, "batch", q.batch);
  if (q.layout !== "nk" && q.layout !== "kn") {
    throw argError(op, `${op}: layout must be "nk" or "kn", got ${JSON.stringify(q.layout)}`);
  }
  if (q.kp < q.k || q.kp % q.groupSize !== 0) {
    throw shapeError(
      op,
      `${op}: kp = ${q.kp} must be >= k = ${q.k} and a multiple of groupSize ${q.groupSize}`,
    );
  }
  if (q.np < q.n || q.np % 8 !== 0) {
    throw shapeError(op, `${op}: np = ${q.np} must be >= n = ${q.n} and a multiple of 8`);
  }
  const b = q.batch ?? 1;
  const nWords = b * (q.kp / 8) * q.np;
  const nScales = b * (q.kp / q.groupSize) * q.np;
  if (!(q.packed instanceof Uint32Array) || q.packed.length !== nWords) {
    throw shapeError(
      op,
      `${op}: packed must be a Uint32Array of batch*(kp/8)*np = ${b}*${
        q.kp / 8
      }*${q.np} = ${nWords} words, got ${q.packed?.length}`,
    );
  }
  checkFormatFields(op, q, nScales);
  if (q.format === "int4") {
    if (!(q.zeros instanceof Uint8Array) || q.zeros.length !== nScales) {
      throw shapeError(
        op,
        `${op}: int4 zeros must be a Uint8Array of ${nScales} entries, got ${q.zeros?.length}`,
      );
    }
  }
}
