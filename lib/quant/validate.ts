// Consistency check of a QuantizedMatrix built elsewhere (imports, hand-made, padded): every array
// length must match the recorded dims, so kernels and dequantize never read past an array.
import { checkDim, checkGroupSize } from "./padding.ts";
import { argError, checkFormat, shapeError } from "./check.ts";
import type { QuantizedMatrix } from "./types.ts";

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
  if (!(q.scales instanceof Float16Array) || q.scales.length !== nScales) {
    throw shapeError(
      op,
      `${op}: scales must be a Float16Array of batch*(kp/gs)*np = ${b}*${
        q.kp / q.groupSize
      }*${q.np} = ${nScales}, got ${q.scales?.length}`,
    );
  }
  if (q.format === "int4") {
    if (!(q.zeros instanceof Uint8Array) || q.zeros.length !== nScales) {
      throw shapeError(
        op,
        `${op}: int4 zeros must be a Uint8Array of ${nScales} entries, got ${q.zeros?.length}`,
      );
    }
  }
}
