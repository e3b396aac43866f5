// Tensor: a device buffer with a shape and dtype, exposed zero-copy as a typed array over the buffer's
// host-visible memory. The view is detached on dispose, so stale views read as empty instead of freed memory.
import { type ArrayOf, type DType, dtypeBytes, type TensorArray, viewOf } from "./dtype.ts";
import {
  BoundsError,
  DisposedError,
  InvalidArgumentError,
  LimitError,
  OutOfMemoryError,
  ShapeError,
} from "./errors.ts";
import {
  attachTensor,
  check,
  type DeviceState,
  outHandle,
  registerChild,
  type TensorState,
} from "./internal.ts";

interface Held {
  device: DeviceState;
  buffer: number;
}

// Backstop for tensors never disposed: frees the buffer. A stale handle (device closed meanwhile) is
// rejected by the C side's generation check, so this can never double-free.
const finalizer = new FinalizationRegistry<Held>((h) => {
  if (!h.device.closed) h.device.native.fns.mm_buffer_free(h.buffer);
});

// A view owns no memory; this only drops its entry from the device's children once it is unreachable,
// so views made per call (a KV-cache row each step) do not pile up there.
const viewFinalizer = new FinalizationRegistry<() => void>((unregister) => unregister());

// View's ArrayBuffer -> tensor: a reachable view keeps its tensor (and so its memory) alive.
const owners = new WeakMap<ArrayBuffer, Tensor>();

/**
 * Validates a shape (an array of non-negative integers; a 0 dimension makes an empty tensor) and returns
 * its element count, which must be a safe integer.
 */
export function shapeSize(shape: readonly number[], op: string): number {
  if (!Array.isArray(shape)) throw new ShapeError(`${op}: shape must be an array of integers`, op);
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError(`${op}: shape [${shape.join(", ")}] has an invalid dimension ${d}`, op);
    }
    n *= d;
  }
  // Checked after the loop: a later 0 dimension makes any product empty, not too large.
  if (!Number.isSafeInteger(n)) {
    throw new LimitError(
      `${op}: shape [${shape.join(", ")}] has ${n} elements, more than 2^53 - 1 (Number.MAX_SAFE_INTEGER)`,
      op,
    );
  }
  return n;
}

/** Byte size of `length` elements of `dtype`, checked against the device and runtime limits. */
function checkedByteLength(
  device: DeviceState,
  shape: readonly number[],
  length: number,
  dtype: DType,
): number {
  const bytes = length * dtypeBytes(dtype);
  const what = `shape [${shape.join(", ")}] of ${dtype} needs ${bytes} bytes`;
  if (!Number.isSafeInteger(bytes)) {
    throw new LimitError(`tensor: ${what}, more than 2^53 - 1`, "tensor");
  }
  if (bytes > device.maxBufferLength) {
    throw new OutOfMemoryError(
      `tensor: ${what} but the device's max_buffer_length is ${device.maxBufferLength} bytes`,
      "tensor",
    );
  }
  if (bytes > device.native.maxViewBytes) {
    throw new LimitError(
      `tensor: ${what} but this runtime's largest zero-copy view is ${device.native.maxViewBytes} bytes`,
      "tensor",
    );
  }
  return bytes;
}

// What a view shares with the tensor that owns the memory (its root: views of views share the root).
interface ViewOf {
  root: Tensor;
  state: TensorState;
  ab: ArrayBuffer;
  byteOffset: number;
}

// Set in Tensor's static block: the only way to construct one, kept out of the public type.
let construct: (
  device: DeviceState,
  owner: object,
  shape: readonly number[],
  dtype: DType,
  from?: ViewOf,
) => Tensor;

/** @internal Used by Device.tensor() / Device.empty(). Allocates a zero-filled device buffer. */
export function createTensor<D extends DType>(
  device: DeviceState,
  owner: object,
  shape: readonly number[],
  dtype: D,
): Tensor<D> {
  return construct(device, owner, shape, dtype) as Tensor<D>;
}

/** @internal The tensor owning a view's memory (the tensor itself when it is no view). */
export function rootOf(t: Tensor): Tensor {
  return roots.get(t) ?? t;
}
const roots = new WeakMap<Tensor, Tensor>();

/**
 * A typed n-dimensional array in device memory. Create with `dev.tensor()` or `dev.empty()`; `view()`
 * and `rows()` make views sharing its memory. `D` is the dtype (`Tensor<"f16">.data` is a Float16Array).
 */
export class Tensor<D extends DType = DType> implements Disposable {
  /** Dimensions, outermost first (elements per dimension). */
  readonly shape: readonly number[];
  /** Element type; `data` is the matching typed array (f16 -> Float16Array, ...). */
  readonly dtype: D;
  /** Number of elements (the product of `shape`; 1 for shape []). */
  readonly length: number;
  /** Size in bytes (`length` times the dtype's element size). */
  readonly byteLength: number;
  #state: TensorState;
  #view: TensorArray;
  #unregister: () => void;
  // Keeps the Device object reachable while the tensor is, so the device's finalizer cannot run first.
  readonly #owner: object;
  // A view's root tensor: a reachable view keeps it (and so its memory) from being collected.
  readonly #root: Tensor | undefined;

  static {
    construct = (device, owner, shape, dtype, from) => new Tensor(device, owner, shape, dtype, from);
  }

  private constructor(
    device: DeviceState,
    owner: object,
    shape: readonly number[],
    dtype: D,
    from?: ViewOf,
  ) {
    const length = shapeSize(shape, from ? "view" : "tensor");
    this.#owner = owner;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.length = length;
    if (from !== undefined) {
      this.byteLength = length * dtypeBytes(dtype);
      this.#root = from.root;
      roots.set(this, from.root);
      this.#view = viewOf(dtype, from.ab, from.byteOffset, length);
      this.#state = {
        device,
        buffer: from.state.buffer,
        dtype,
        byteLength: this.byteLength,
        byteOffset: from.byteOffset,
        disposed: false,
        parent: from.state,
      };
      attachTensor(this, this.#state);
      this.#unregister = registerChild(device, this);
      viewFinalizer.register(this, this.#unregister, this);
      return;
    }
    this.#root = undefined;
    const byteLength = checkedByteLength(device, shape, length, dtype);
    const { native } = device;
    // The C API needs length >= 1; an empty tensor still owns a 1-byte buffer.
    check(native, native.fns.mm_buffer_alloc(device.handle, Math.max(1, byteLength), outHandle), "tensor");
    const buffer = outHandle[0];
    let ab: ArrayBuffer;
    let view: TensorArray;
    try {
      ab = byteLength === 0
        ? new ArrayBuffer(0)
        : native.arrayBuffer(native.fns.mm_buffer_contents(buffer), byteLength);
      view = viewOf(dtype, ab, 0, length);
    } catch (e) {
      // Nothing references the buffer yet: free it here or it leaks until the device closes.
      native.fns.mm_buffer_free(buffer);
      throw new LimitError(
        `tensor: could not create a ${byteLength}-byte view of the device buffer (this runtime's view limit is ${native.maxViewBytes} bytes): ${
          e instanceof Error ? e.message : String(e)
        }`,
        "tensor",
      );
    }
    this.byteLength = byteLength;
    this.#view = view;
    this.#state = { device, buffer, dtype, byteLength, byteOffset: 0, disposed: false };
    attachTensor(this, this.#state);
    owners.set(ab, this);
    finalizer.register(this, { device, buffer }, this);
    this.#unregister = registerChild(device, this);
  }

  /**
   * A view of `shape` over this tensor's elements from element `offset` (row-major, so any contiguous
   * range): no copy, same dtype, same device memory (writes through either show in both). gemm,
   * batchedGemm and kernel dispatch take views like tensors and stay inside them. The view keeps the
   * memory's owner from being garbage-collected; disposing the owner (or the device) invalidates every
   * view of it (DisposedError, `data` detached); disposing a view frees nothing.
   * Throws InvalidArgumentError (offset not a non-negative integer), ShapeError (a bad shape),
   * BoundsError (offset + elements of shape past this tensor's length), DisposedError.
   */
  view(offset: number, shape: readonly number[]): Tensor<D> {
    const s = this.#live("view");
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(
        `view: offset must be a non-negative integer (elements), got ${String(offset)}`,
        "view",
      );
    }
    const n = shapeSize(shape, "view");
    if (offset + n > this.length) {
      throw new BoundsError(
        `view: offset ${offset} + shape [${shape.join(", ")}] (${n} elements) reaches past the tensor's ` +
          `${this.length} elements (shape [${this.shape.join(", ")}])`,
        "view",
      );
    }
    const ab = this.#view.buffer as ArrayBuffer;
    if (ab.detached) {
      // transfer()/structuredClone moved the memory into another ArrayBuffer: no view can reach it.
      throw new InvalidArgumentError(
        "view: the tensor's data buffer was transferred away (ArrayBuffer transfer or structuredClone); " +
          "its memory now belongs to that ArrayBuffer",
        "view",
      );
    }
    const root = this.#root ?? this;
    const rootState = s.parent ?? s;
    const from: ViewOf = {
      root,
      state: rootState,
      ab,
      byteOffset: s.byteOffset + offset * dtypeBytes(this.dtype),
    };
    return construct(s.device, this.#owner, shape, this.dtype, from) as Tensor<D>;
  }

  /**
   * Rows `start` to `end - 1` along the first dimension, as a view (see view()): shape
   * [end - start, ...shape.slice(1)]. E.g. `cache.rows(pos, pos + 1)` is one KV-cache slot.
   * Throws InvalidArgumentError (not integers), ShapeError (a 0-d tensor), BoundsError
   * (not 0 <= start <= end <= shape[0]), DisposedError.
   */
  rows(start: number, end: number): Tensor<D> {
    this.#live("rows");
    if (this.shape.length === 0) throw new ShapeError("rows: the tensor is 0-d (shape [])", "rows");
    for (const [name, v] of [["start", start], ["end", end]] as const) {
      if (!Number.isSafeInteger(v)) {
        throw new InvalidArgumentError(`rows: ${name} must be an integer, got ${String(v)}`, "rows");
      }
    }
    const rowsTotal = this.shape[0];
    if (start < 0 || end < start || end > rowsTotal) {
      throw new BoundsError(
        `rows: [${start}, ${end}) is not a row range of shape [${this.shape.join(", ")}] ` +
          `(need 0 <= start <= end <= ${rowsTotal})`,
        "rows",
      );
    }
    const rest = this.shape.slice(1);
    const per = rest.reduce((x, y) => x * y, 1);
    return this.view(start * per, [end - start, ...rest]);
  }

  /**
   * Zero-copy view of the device memory (valid until dispose, then detached: length 0).
   * Read it after `dev.synchronize()` (or use toArray()) when kernels may still be writing.
   */
  get data(): ArrayOf<D> {
    this.#live("data");
    return this.#view as ArrayOf<D>;
  }

  /** True once dispose() ran (directly or through the device). */
  get disposed(): boolean {
    const s = this.#state;
    return s.disposed || s.parent?.disposed === true || s.device.closed;
  }

  /** Waits for the device's pending work and returns a copy of the contents. */
  toArray(): ArrayOf<D> {
    const s = this.#live("toArray");
    check(s.device.native, s.device.native.fns.mm_device_synchronize(s.device.handle), "toArray");
    return this.#view.slice() as ArrayOf<D>;
  }

  /**
   * `Tensor(f16 [2, 3]) [0.5, 1, ..., 6]`: dtype, shape and up to 6 values (first 3 and last 2 when
   * longer). Waits for the device first so the values are final; never throws (a disposed tensor
   * prints `Tensor(f16 [2, 3], disposed)`, a device error prints the error's message).
   */
  toString(): string {
    const s0 = this.#state;
    const at = this.#root
      ? ` at element ${s0.byteOffset / dtypeBytes(this.dtype)} of [${this.#root.shape.join(", ")}]`
      : "";
    const head = `Tensor(${this.dtype} [${this.shape.join(", ")}]${at}`;
    if (this.disposed) return `${head}, disposed)`;
    try {
      const d = this.#state.device;
      check(d.native, d.native.fns.mm_device_synchronize(d.handle), "toString");
    } catch (e) {
      return `${head}, ${e instanceof Error ? e.message : String(e)})`;
    }
    const v = this.#view, n = v.length;
    const fmt = (i: number): string => String(v[i]);
    const idx = n <= 6 ? [...Array(n).keys()] : [0, 1, 2, -1, n - 2, n - 1];
    return `${head}) [${idx.map((i) => (i < 0 ? "..." : fmt(i))).join(", ")}]`;
  }

  /** Bun and Node's `console.log` / `util.inspect` print toString(). */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }

  /** Deno's `console.log` / `Deno.inspect` print toString(). */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /**
   * Frees the device buffer and detaches every typed array over it; views made by view()/rows() are
   * disposed with it. On a view: marks the view disposed and frees nothing. Idempotent.
   */
  dispose(): void {
    const s = this.#state;
    if (s.disposed) return;
    s.disposed = true;
    this.#unregister();
    if (this.#root !== undefined) {
      // A view owns no memory: its root frees it.
      viewFinalizer.unregister(this);
      return;
    }
    finalizer.unregister(this);
    const ab = this.#view.buffer as ArrayBuffer;
    owners.delete(ab);
    // A view detached before dispose was moved out by the user (ab.transfer(), structuredClone or
    // postMessage with transfer: Bun and Deno both move the external memory into the new ArrayBuffer
    // instead of copying it). That ArrayBuffer still points at the device memory and we cannot see it,
    // so the buffer is not freed here: it stays allocated (and counted in live_buffers), and the device
    // keeps its native side open past dispose (see DeviceState.escaped).
    if (this.length > 0 && ab.detached) {
      s.device.escaped = (s.device.escaped ?? 0) + 1;
      return;
    }
    // Detach first so no view can reach the memory once it is freed.
    if (ab.byteLength > 0) ab.transfer(0);
    if (!s.device.closed) s.device.native.fns.mm_buffer_free(s.buffer);
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(op: string): TensorState {
    const s = this.#state;
    if (s.disposed || s.device.closed) throw new DisposedError(`${op}: the tensor was disposed`, op);
    if (s.parent?.disposed) {
      throw new DisposedError(`${op}: the view's parent tensor was disposed`, op);
    }
    return s;
  }
}
