// Helpers shared by lib/ code (device, tensor, library, gemm); not part of the public API.
// Private state lives in WeakMaps keyed by the public objects, so no handle ever shows on them.
import { type DType, dtypeCode } from "./dtype.ts";
import { DisposedError, errorFor, InvalidArgumentError } from "./errors.ts";
import type { Native } from "../ffi/native.ts";

/** Anything a device owns and must dispose when it closes. */
export interface Child {
  dispose(): void;
}

/** Native state of an open device. */
export interface DeviceState {
  native: Native;
  handle: number;
  closed: boolean;
  /** mm_device_info.max_buffer_length, bytes: read once at open (a fixed limit). */
  maxBufferLength: number;
  /** Weak so that an unreferenced tensor can still be collected (its finalizer frees it). */
  children: Set<WeakRef<Child>>;
  /**
   * Buffers whose view was transferred away before dispose: the native device is then never closed
   * (closing frees every buffer), so the moved ArrayBuffers never see freed memory.
   */
  escaped?: number;
}

/** Native state of a tensor. */
export interface TensorState {
  device: DeviceState;
  buffer: number;
  dtype: DType;
  byteLength: number;
  /** Bytes from the start of `buffer` (0 for a tensor that owns its buffer; a view's offset otherwise). */
  byteOffset: number;
  disposed: boolean;
  /** A view's owning tensor's state: the view is dead once that one is disposed. */
  parent?: TensorState;
}

const devices = new WeakMap<object, DeviceState>();
const tensors = new WeakMap<object, TensorState>();

/** Called by Device's constructor. */
export function attachDevice(dev: object, state: DeviceState): void {
  devices.set(dev, state);
}

/** Called by Tensor's constructor. */
export function attachTensor(t: object, state: TensorState): void {
  tensors.set(t, state);
}

/** State of an open device; throws DisposedError when it was closed. */
export function deviceState(dev: object, op = "device"): DeviceState {
  const s = devices.get(dev);
  if (!s) throw new InvalidArgumentError(`${op}: not a metal-marlin Device`, op);
  if (s.closed) throw new DisposedError(`${op}: the device was disposed`, op);
  return s;
}

/** Native library and device handle of an open device. */
export function nativeOf(dev: object): { native: Native; handle: number } {
  const s = deviceState(dev);
  return { native: s.native, handle: s.handle };
}

/** State of a live tensor; throws DisposedError after dispose(). */
export function tensorState(t: object, op = "tensor"): TensorState {
  const s = tensors.get(t);
  if (!s) throw new InvalidArgumentError(`${op}: not a metal-marlin Tensor`, op);
  if (s.disposed) throw new DisposedError(`${op}: the tensor was disposed`, op);
  if (s.parent?.disposed) {
    throw new DisposedError(`${op}: the view's parent tensor was disposed`, op);
  }
  if (s.device.closed) throw new DisposedError(`${op}: the tensor's device was disposed`, op);
  return s;
}

/** What a binding of `t` needs: buffer handle, byte offset, byte length and MM_DTYPE_* code. */
export function tensorBinding(
  t: object,
): { buffer: number; byteOffset: number; byteLength: number; dtype: number } {
  const s = tensorState(t, "binding");
  return { buffer: s.buffer, byteOffset: s.byteOffset, byteLength: s.byteLength, dtype: dtypeCode(s.dtype) };
}

/** Adds `child` to the device's owned objects; returns the function that removes it again. */
export function registerChild(dev: object | DeviceState, child: Child): () => void {
  const s = "children" in dev ? dev as DeviceState : deviceState(dev);
  const ref = new WeakRef(child);
  s.children.add(ref);
  return () => s.children.delete(ref);
}

/** Throws the MarlinError subclass for a negative status, with mm_last_error() as the message. */
export function check(native: Native, rc: number, op: string): void {
  if (rc < 0) throw errorFor(rc, op, native.cstring(native.fns.mm_last_error()));
}

/** Reusable out-parameter for handles (mm_device*, mm_buffer*, ...); FFI calls are synchronous. */
export const outHandle: Uint32Array = new Uint32Array(1);

/** Encodes a JS string as a NUL-terminated UTF-8 buffer for `const char*` parameters. */
export function cstr(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Reads a NUL-terminated string from a fixed char[] field of a struct. */
export function fixedString(bytes: Uint8Array, offset: number, size: number): string {
  const field = bytes.subarray(offset, offset + size);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}
