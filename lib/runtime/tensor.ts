// Tensor: a device buffer with a shape and dtype, exposed zero-copy as a typed array over the buffer's
// host-visible memory. The view is detached on dispose, so stale views read as empty instead of freed memory.
import { type DType, dtypeBytes, type TensorArray, viewOf } from "./dtype.ts";
import { DisposedError, LimitError, OutOfMemoryError, ShapeError } from "./errors.ts";
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

// Set in Tensor's static block: the only way to construct one, kept out of the public type.
let construct: (device: DeviceState, owner: object, shape: readonly number[], dtype: DType) => Tensor;

/** @internal Used by Device.tensor() / Device.empty(). Allocates a zero-filled device buffer. */
export function createTensor(
  device: DeviceState,
  owner: object,
  shape: readonly number[],
  dtype: DType,
): Tensor {
  return construct(device, owner, shape, dtype);
}

/** A typed n-dimensional array in device memory. Create with `dev.tensor()` or `dev.empty()`. */
export class Tensor implements Disposable {
  /** Dimensions, outermost first (elements per dimension). */
  readonly shape: readonly number[];
  /** Element type; `data` is the matching typed array (f16 -> Float16Array, ...). */
  readonly dtype: DType;
  /** Number of elements (the product of `shape`; 1 for shape []). */
  readonly length: number;
  /** Size in bytes (`length` times the dtype's element size). */
  readonly byteLength: number;
  #state: TensorState;
  #view: TensorArray;
  #unregister: () => void;
  // Keeps the Device object reachable while the tensor is, so the device's finalizer cannot run first.
  readonly #owner: object;

  static {
    construct = (device, owner, shape, dtype) => new Tensor(device, owner, shape, dtype);
  }

  private constructor(device: DeviceState, owner: object, shape: readonly number[], dtype: DType) {
    const length = shapeSize(shape, "tensor");
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
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.length = length;
    this.byteLength = byteLength;
    this.#view = view;
    this.#state = { device, buffer, dtype, byteLength, disposed: false };
    attachTensor(this, this.#state);
    owners.set(ab, this);
    finalizer.register(this, { device, buffer }, this);
    this.#unregister = registerChild(device, this);
    this.#owner = owner;
  }

  /**
   * Zero-copy view of the device memory (valid until dispose, then detached: length 0).
   * Read it after `dev.synchronize()` (or use toArray()) when kernels may still be writing.
   */
  get data(): TensorArray {
    this.#live("data");
    return this.#view;
  }

  /** True once dispose() ran (directly or through the device). */
  get disposed(): boolean {
    return this.#state.disposed || this.#state.device.closed;
  }

  /** Waits for the device's pending work and returns a copy of the contents. */
  toArray(): TensorArray {
    const s = this.#live("toArray");
    check(s.device.native, s.device.native.fns.mm_device_synchronize(s.device.handle), "toArray");
    return this.#view.slice();
  }

  /**
   * `Tensor(f16 [2, 3]) [0.5, 1, ..., 6]`: dtype, shape and up to 6 values (first 3 and last 2 when
   * longer). Waits for the device first so the values are final; never throws (a disposed tensor
   * prints `Tensor(f16 [2, 3], disposed)`, a device error prints the error's message).
   */
  toString(): string {
    const head = `Tensor(${this.dtype} [${this.shape.join(", ")}]`;
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

  /** Frees the device buffer and detaches every view of it. Idempotent. */
  dispose(): void {
    const s = this.#state;
    if (s.disposed) return;
    s.disposed = true;
    finalizer.unregister(this);
    this.#unregister();
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
    return s;
  }
}
