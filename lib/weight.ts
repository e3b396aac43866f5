// QuantizedWeight: a QuantizedMatrix resident on a device (packed codes, scales, zero points as device
// tensors) plus the dims GEMM needs. Owned by its device; dispose() frees the three buffers.
import { DisposedError, InvalidArgumentError } from "./errors.ts";
import { deviceState, registerChild } from "./internal.ts";
import { FORMAT_IDS, type QuantFormat } from "./quant/formats.ts";
import type { QuantizedMatrix } from "./quant/types.ts";
import { checkQuantized } from "./quant/validate.ts";
import type { Tensor } from "./tensor.ts";

/** The part of Device that uploading needs (avoids an import cycle with device.ts). */
interface TensorFactory {
  tensor(data: Uint32Array | Float16Array | Uint8Array, shape?: readonly number[]): Tensor;
}

/** A device-resident quantized weight. Create with `dev.upload(q)`. */
export class QuantizedWeight implements Disposable {
  readonly format: QuantFormat;
  /** MM_FORMAT_* id (lib/quant/formats.ts FORMAT_IDS). */
  readonly formatId: number;
  /** Logical K and N (the GEMM is [M, k] x [k, n]). */
  readonly k: number;
  readonly n: number;
  /** Stored (padded) K and N: kp a multiple of groupSize, np a multiple of 8. */
  readonly kp: number;
  readonly np: number;
  readonly groupSize: number;
  /** Number of matrices (1 for an unbatched weight). */
  readonly batch: number;
  /** true when the source had a batch dimension (batched GEMM then pairs batch i with weight i). */
  readonly batched: boolean;
  /** [batch, kp/8, np] uint32 codes. */
  readonly packed: Tensor;
  /** [batch, kp/groupSize, np] float16 scales. */
  readonly scales: Tensor;
  /** [batch, kp/groupSize, np] uint8 zero points ("int4" only). */
  readonly zeros: Tensor | undefined;
  #disposed = false;
  #unregister: () => void;

  /** @internal Use dev.upload(q). Copies q's arrays into device buffers. */
  constructor(dev: TensorFactory & object, q: QuantizedMatrix) {
    const op = "upload";
    deviceState(dev, op);
    checkQuantized(op, q);
    if (q.kp % 8 !== 0) throw new InvalidArgumentError(`${op}: kp = ${q.kp} is not a multiple of 8`, -1, op);
    this.format = q.format;
    this.formatId = FORMAT_IDS[q.format];
    this.k = q.k;
    this.n = q.n;
    this.kp = q.kp;
    this.np = q.np;
    this.groupSize = q.groupSize;
    this.batch = q.batch ?? 1;
    this.batched = q.batch !== undefined;
    const groups = q.kp / q.groupSize;
    this.packed = dev.tensor(q.packed, [this.batch, q.kp / 8, q.np]);
    const made: Tensor[] = [this.packed];
    try {
      this.scales = dev.tensor(q.scales, [this.batch, groups, q.np]);
      made.push(this.scales);
      this.zeros = q.zeros ? dev.tensor(q.zeros, [this.batch, groups, q.np]) : undefined;
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
    if (this.disposed) throw new DisposedError(`${op}: the weight was disposed`, 0, op);
  }

  /** Frees the device buffers. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#unregister();
    this.packed.dispose();
    this.scales.dispose();
    this.zeros?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
