// QuantizedWeight: a QuantizedMatrix resident on a device (packed codes, scales, zero points as device
// tensors) plus the dims GEMM needs. Owned by its device; dispose() frees the three buffers.
import { DisposedError, InvalidArgumentError } from "../runtime/errors.ts";
import { deviceState, registerChild } from "../runtime/internal.ts";
import {
  CODE_MAX,
  FORMAT_IDS,
  type QuantFormat,
  SCALE_DTYPE_IDS,
  type ScaleDType,
} from "../quant/formats.ts";
import type { QuantizedMatrix } from "../quant/types.ts";
import { checkQuantized, checkScaleBytes, scaleDtypeOf } from "../quant/validate.ts";
import type { Tensor } from "../runtime/tensor.ts";

export type { QuantFormat, QuantizedMatrix, Tensor };

/** The part of Device that uploading needs (lib/ops sees devices only through such shapes, never Device). */
interface TensorFactory {
  tensor(data: Uint32Array | Float16Array | Uint16Array | Uint8Array, shape?: readonly number[]): Tensor;
}

// Why the TS side checks what C cannot see: zero points are data (a 16 or 255 silently computes garbage),
// and a typed-array mix-up should name the type it got, not only a length.
function typeName(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  return (x as { constructor?: { name?: string } }).constructor?.name ?? typeof x;
}

function checkUpload(op: string, q: QuantizedMatrix): void {
  const hasZeros = q.zeros !== undefined && q.zeros !== null;
  const sd = q.scaleDtype ?? "f16";
  const scaleArray = sd === "f16" ? Float16Array : sd === "bf16" ? Uint16Array : Uint8Array;
  const arrays: [string, unknown, { name: string; prototype: unknown }][] = [
    ["packed", q.packed, Uint32Array],
    ["scales", q.scales, scaleArray],
  ];
  if (q.biases !== undefined) arrays.push(["biases", q.biases, scaleArray]);
  if (hasZeros) arrays.push(["zeros", q.zeros, Uint8Array]);
  for (const [name, got, want] of arrays) {
    if (!(got instanceof (want as unknown as new () => object))) {
      throw new InvalidArgumentError(`${op}: ${name} must be a ${want.name}, got ${typeName(got)}`, op);
    }
  }
  if (hasZeros && q.format !== "int4") {
    throw new InvalidArgumentError(
      `${op}: zeros are only used by format "int4", but format is "${q.format}" (drop zeros or use "int4")`,
      op,
    );
  }
}

function checkZeroPoints(op: string, zeros: Uint8Array): void {
  for (let i = 0; i < zeros.length; i++) {
    if (zeros[i] > CODE_MAX) {
      throw new InvalidArgumentError(
        `${op}: int4 zero point ${zeros[i]} at index ${i} is outside 0..${CODE_MAX}`,
        op,
      );
    }
  }
}

/**
 * A quantized weight resident on a device: W is k x n (the GEMM is [M, k] x [k, n]), stored padded to
 * kp x np in 4-bit codes with one scale (and for "int4" one zero point) per group of `groupSize` K
 * values and column. Create with `dev.upload(q)`; owned by its device, freed by dispose().
 */
export class QuantizedWeight implements Disposable {
  /** Quantization format (lib/quant/formats.ts has each one's definition). */
  readonly format: QuantFormat;
  /** MM_FORMAT_* id of `format` (lib/quant/formats.ts FORMAT_IDS). */
  readonly formatId: number;
  /** Logical K in elements: the reduction length (rows of W, columns of A). */
  readonly k: number;
  /** Logical N in elements: output columns. */
  readonly n: number;
  /** Stored K in elements: >= k and a multiple of groupSize (padding rows are zero codes). */
  readonly kp: number;
  /** Stored N in elements: >= n and a multiple of 8 (one packed word holds 8 codes along K). */
  readonly np: number;
  /** K values sharing one scale (and zero point or bias): any multiple of 8 up to kp (kp: per channel). */
  readonly groupSize: number;
  /** Storage of scales (and biases): "f16", "bf16", "e8m0" (mxfp4) or "e4m3" (nvfp4). */
  readonly scaleDtype: ScaleDType;
  /** MM_SCALE_* id of scaleDtype (lib/quant/formats.ts SCALE_DTYPE_IDS). */
  readonly scaleDtypeId: number;
  /** nvfp4's per-tensor f32 scale; 1 for the other formats. */
  readonly tensorScale: number;
  /** Number of matrices (1 for an unbatched weight). */
  readonly batch: number;
  /** true when the source had a batch dimension (batched GEMM then pairs batch i with weight i). */
  readonly batched: boolean;
  /** Packed codes: u32 tensor [batch, kp/8, np], 8 4-bit codes per word along K. */
  readonly packed: Tensor;
  /** Scales [batch, kp/groupSize, np]: f16, u16 (bf16 bits) or u8 (E8M0 / E4M3 bytes) tensor. */
  readonly scales: Tensor;
  /** Zero points 0..15: u8 tensor [batch, kp/groupSize, np] for "int4"; undefined for the other formats. */
  readonly zeros: Tensor | undefined;
  /** Biases [batch, kp/groupSize, np] for "int4-affine" (same storage as the scales); else undefined. */
  readonly biases: Tensor | undefined;
  #disposed = false;
  #unregister: () => void;

  /**
   * @internal Use dev.upload(q). Copies q's arrays into device buffers. Throws InvalidArgumentError for
   * wrong array types, zeros with a format other than "int4", or a zero point outside 0..15 (naming the
   * first bad index), ShapeError for array lengths that do not match the dims.
   */
  constructor(dev: TensorFactory & object, q: QuantizedMatrix) {
    const op = "upload";
    deviceState(dev, op);
    if (q !== null && typeof q === "object") checkUpload(op, q);
    checkQuantized(op, q);
    if (q.zeros) checkZeroPoints(op, q.zeros);
    checkScaleBytes(op, scaleDtypeOf(q), q.scales);
    if (q.kp % 8 !== 0) throw new InvalidArgumentError(`${op}: kp = ${q.kp} is not a multiple of 8`, op);
    this.format = q.format;
    this.formatId = FORMAT_IDS[q.format];
    this.k = q.k;
    this.n = q.n;
    this.kp = q.kp;
    this.np = q.np;
    this.groupSize = q.groupSize;
    this.scaleDtype = scaleDtypeOf(q);
    this.scaleDtypeId = SCALE_DTYPE_IDS[this.scaleDtype];
    this.tensorScale = q.format === "nvfp4" ? q.tensorScale! : 1;
    this.batch = q.batch ?? 1;
    this.batched = q.batch !== undefined;
    const groups = q.kp / q.groupSize;
    this.packed = dev.tensor(q.packed, [this.batch, q.kp / 8, q.np]);
    const made: Tensor[] = [this.packed];
    try {
      this.scales = dev.tensor(q.scales, [this.batch, groups, q.np]);
      made.push(this.scales);
      this.zeros = q.zeros ? dev.tensor(q.zeros, [this.batch, groups, q.np]) : undefined;
      if (this.zeros) made.push(this.zeros);
      this.biases = q.biases ? dev.tensor(q.biases, [this.batch, groups, q.np]) : undefined;
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
    this.#unregister = registerChild(dev, this);
  }

  /** True once dispose() ran (directly or through the device). */
  get disposed(): boolean {
    return this.#disposed || this.packed.disposed;
  }

  /** Throws DisposedError when the weight (or its device) is gone. */
  assertLive(op: string): void {
    if (this.disposed) throw new DisposedError(`${op}: the weight was disposed`, op);
  }

  /** Frees the device buffers. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#unregister();
    this.packed.dispose();
    this.scales.dispose();
    this.zeros?.dispose();
    this.biases?.dispose();
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
