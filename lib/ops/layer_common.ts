// What the layer ops (norm, rope, attention, moe, dequant) share: the device shape they need (built-in
// kernels and tensors), operand checks, and params blocks packed as the 4-byte words of
// shaders/layer_params.h. Params go inline with each dispatch (no buffer per call).
import type { DeviceRef } from "../runtime/device.ts";
import type { DType } from "../runtime/dtype.ts";
import { InvalidArgumentError, ShapeError } from "../runtime/errors.ts";
import { tensorState } from "../runtime/internal.ts";
import type { Kernel, Library } from "../runtime/library.ts";
import type { Tensor } from "../runtime/tensor.ts";

/** What the layer ops need of a device: tensors and the built-in kernels (Device has both). */
export interface OpDevice extends DeviceRef {
  /** The kernels built into the native library. */
  builtin(): Library;
}

/** A tensor, or a tensor read from an element offset (e.g. the K columns of a fused QKV output). */
export type Operand = Tensor | { tensor: Tensor; offset: number };

/** The tensor and element offset of an operand. */
export function operandParts(x: Operand): { tensor: Tensor; offset: number } {
  if (x !== null && typeof x === "object" && "tensor" in x) return { tensor: x.tensor, offset: x.offset };
  return { tensor: x as Tensor, offset: 0 };
}

/** Throws unless `t` is a live tensor of `dtype`; returns its element count. */
export function checkDtype(op: string, what: string, t: Tensor, dtype: DType): number {
  const s = tensorState(t, op);
  if (s.dtype !== dtype) {
    throw new InvalidArgumentError(`${op}: ${what} must be ${dtype}, got ${s.dtype}`, op);
  }
  return t.length;
}

/**
 * Checks that an operand of dtype `dtype` holds `rows` rows of `cols` elements at row pitch `pitch`
 * from its offset; returns the parts. ShapeError names every number when it does not fit.
 * `rowsMayInterleave`: a "row" spans several heads, each a pitch apart (head-major caches), so the
 * pitch may be below the span.
 */
export function checkRows(
  op: string,
  what: string,
  x: Operand,
  dtype: DType,
  rows: number,
  cols: number,
  pitch: number,
  rowsMayInterleave = false,
): { tensor: Tensor; offset: number } {
  const p = operandParts(x);
  const len = checkDtype(op, what, p.tensor, dtype);
  if (!Number.isInteger(p.offset) || p.offset < 0) {
    throw new InvalidArgumentError(
      `${op}: ${what} offset must be a non-negative integer, got ${p.offset}`,
      op,
    );
  }
  if (pitch < cols && !rowsMayInterleave) {
    throw new ShapeError(`${op}: ${what} row pitch ${pitch} < row length ${cols}`, op);
  }
  const need = p.offset + (rows - 1) * pitch + cols;
  if (rows > 0 && need > len) {
    throw new ShapeError(
      `${op}: ${what} needs ${need} elements (offset ${p.offset}, ${rows} rows of ${cols} at pitch ${pitch}), has ${len}`,
      op,
    );
  }
  return p;
}

/** Throws InvalidArgumentError unless v is an integer in [min, max]. */
export function checkInt(op: string, what: string, v: number, min: number, max = 0xffffffff): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`${op}: ${what} must be an integer in ${min}..${max}, got ${v}`, op);
  }
  return v;
}

/** A params block of `words` 4-byte fields, written as u32 or f32 (the struct's field types). */
export class Params {
  readonly u32: Uint32Array;
  readonly f32: Float32Array;
  constructor(words: number) {
    this.u32 = new Uint32Array(words);
    this.f32 = new Float32Array(this.u32.buffer);
  }
}

/** The built-in kernel `name` (cached by the library). */
export function kernel(dev: OpDevice, name: string): Kernel {
  return dev.builtin().kernel(name);
}

/**
 * An operand bound as untyped bytes (at its element offset): quantized scales (f16, bf16, E8M0 or E4M3) and
 * int4-affine biases, which the kernels read through a `uchar*` and decode by the scale dtype in their
 * params (gemm_common.h), and f16 / bf16 activations, read as `ushort` and decoded by a params flag.
 */
export function rawBytes(x: Operand): { tensor: Tensor; offset: number; raw: true } {
  return { ...operandParts(x), raw: true };
}

/** The last dimension of a tensor (1 for a scalar). */
export function lastDim(t: Tensor): number {
  return t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1];
}

const scratchTensors = new WeakMap<object, Map<string, Tensor>>();

/**
 * A device-owned scratch tensor of at least `elements` of `dtype`, reused across calls under `key`
 * (work on one device runs in submission order, so a later call may reuse it). Grows, never shrinks.
 */
export function scratch(dev: OpDevice, key: string, elements: number, dtype: DType): Tensor {
  let m = scratchTensors.get(dev);
  if (!m) scratchTensors.set(dev, m = new Map());
  const hit = m.get(key);
  if (hit && !hit.disposed && hit.length >= elements) return hit;
  hit?.dispose();
  const t = dev.empty([Math.max(1, elements)], dtype);
  m.set(key, t);
  return t;
}

/** Whole rows of `span` elements at `pitch` that fit in an operand from its offset (the default row count). */
export function rowsThatFit(x: Operand, span: number, pitch: number): number {
  const p = operandParts(x);
  const room = p.tensor.length - p.offset;
  return room >= span ? Math.floor((room - span) / pitch) + 1 : 0;
}
