// Dispatch options and the mm_dispatch_desc block they are written into. The block lives in a buffer
// kept per kernel: one FFI call per dispatch, no allocation.
import { DTYPE_ANY, dtypeBytes, dtypeCode, dtypeOfArray } from "./dtype.ts";
import { BindingError, BoundsError, InvalidArgumentError } from "./errors.ts";
import { tensorState } from "./internal.ts";
import { Tensor } from "./tensor.ts";

/** Function constant value: booleans and integers as such, non-integers as float32; force a type with {f32}. */
export type ConstantValue = number | boolean | { f32: number };

/**
 * A buffer argument: a tensor, a tensor from an element offset, or inline constant bytes. `raw: true`
 * binds the tensor as untyped bytes (no dtype check), for kernels that read storage whose element type
 * is data (e.g. scales in f16, bf16 or 8-bit formats, read through a `uchar*`). Default false.
 */
export type KernelArg =
  | Tensor
  | { tensor: Tensor; offset: number; raw?: boolean }
  | ArrayBufferView
  | undefined;

/** Options of Kernel.dispatch(). */
export interface DispatchOptions {
  /** Threadgroups per grid: a count or [x, y?, z?]. */
  grid: number | readonly number[];
  /** Threads per threadgroup: a count or [x, y?, z?]. */
  threadgroupSize: number | readonly number[];
  /** args[i] binds [[buffer(i)]]; typed arrays are copied inline (Uint8Array = untyped bytes). */
  args: readonly KernelArg[];
  /** threadgroupMemory[i] = bytes of [[threadgroup(i)]]. */
  threadgroupMemory?: readonly number[];
  /** function_constant(i) values by index i (0..15). */
  constants?: Readonly<Record<number, ConstantValue>>;
}

const HEADER = 200; // sizeof(mm_dispatch_desc) without bindings
const BINDING = 32; // sizeof(mm_binding)
const f32Bits = new Float32Array(1);
const u32OfF32 = new Uint32Array(f32Bits.buffer);

type ViewCtor = new (
  buffer: ArrayBuffer,
) => ArrayBufferView & { set(src: ArrayLike<unknown>, at: number): void };

/** @internal The mm_dispatch_desc block of one kernel, validated and rewritten in place by each dispatch. */
export class DispatchDesc {
  readonly #name: string;
  readonly #op: string; // "dispatch <name>", built once by the Kernel: no string building per dispatch
  #desc: ArrayBuffer;
  #u8: Uint8Array;
  #dv: DataView;
  // Views of #desc by typed-array type, so inline arguments copy bit-exactly without a view per call.
  #views = new Map<unknown, ArrayBufferView & { set(src: ArrayLike<unknown>, at: number): void }>();

  constructor(name: string, op: string) {
    this.#name = name;
    this.#op = op;
    this.#desc = new ArrayBuffer(HEADER + 31 * BINDING + 256);
    this.#u8 = new Uint8Array(this.#desc);
    this.#dv = new DataView(this.#desc);
  }

  /**
   * Validates `opts` (InvalidArgumentError / BindingError naming the field) and writes the block.
   * Returns the block's bytes, to pass to mm_dispatch; valid until the next build().
   */
  build(opts: DispatchOptions): Uint8Array {
    const args = opts.args;
    if (!Array.isArray(args)) {
      throw new InvalidArgumentError(
        `dispatch ${this.#name}: args must be an array, got ${typeof args}`,
        "dispatch",
      );
    }
    let inline = 0;
    let n = 0;
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === undefined) continue;
      if (a === null || typeof a !== "object") throw this.#badArg(i, a);
      n++;
      if (ArrayBuffer.isView(a)) inline += (a.byteLength + 15) & ~15;
    }
    const start = (HEADER + n * BINDING + 15) & ~15; // inline bytes 16-aligned (float4 constants)
    const size = start + inline;
    if (size > this.#desc.byteLength) this.#grow(size);
    const dv = this.#dv;
    this.#u8.fill(0, 0, HEADER);
    dv.setUint32(0, size, true);
    writeDim3(dv, 4, opts.grid, "grid", this.#name);
    writeDim3(dv, 16, opts.threadgroupSize, "threadgroupSize", this.#name);
    dv.setUint32(28, n, true);
    const tgm = opts.threadgroupMemory;
    if (tgm !== undefined) {
      if (!Array.isArray(tgm) || tgm.length > 8) {
        throw new InvalidArgumentError(
          `dispatch ${this.#name}: threadgroupMemory must be an array of at most 8 byte counts, got ${
            Array.isArray(tgm) ? `${tgm.length} entries` : typeof tgm
          }`,
          "dispatch",
        );
      }
      for (let i = 0; i < tgm.length; i++) {
        const b = tgm[i] ?? 0;
        if (!isU32(b)) {
          throw new InvalidArgumentError(
            `dispatch ${this.#name}: threadgroupMemory[${i}] must be an integer byte count in 0..4294967295, got ${b}`,
            "dispatch",
          );
        }
        dv.setUint32(32 + 4 * i, b, true);
      }
    }
    if (opts.constants) this.#writeConstants(opts.constants);
    let rec = HEADER;
    let bytes = start;
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a === undefined) continue;
      dv.setUint32(rec, i, true);
      if (a instanceof Tensor) {
        const s = tensorState(a, this.#op);
        if (s.parent !== undefined && s.byteLength === 0) throw this.#emptyView(i, 0, 0);
        writeBinding(dv, rec, 1, s.buffer, dtypeCode(s.dtype), s.byteOffset, s.byteLength);
      } else if (ArrayBuffer.isView(a)) {
        const dt = a instanceof Uint8Array || a instanceof DataView ? undefined : dtypeOfArray(a);
        writeBinding(dv, rec, 2, 0, dt === undefined ? DTYPE_ANY : dtypeCode(dt), bytes, a.byteLength);
        this.#copyInline(a, bytes);
        bytes += (a.byteLength + 15) & ~15;
      } else if (a.tensor instanceof Tensor) {
        const s = tensorState(a.tensor, this.#op);
        const off = a.offset * dtypeBytes(s.dtype);
        if (!Number.isSafeInteger(off) || off < 0) {
          throw new InvalidArgumentError(
            `dispatch ${this.#name}: args[${i}].offset must be a non-negative integer (elements), got ${a.offset}`,
            "dispatch",
          );
        }
        // A binding's length 0 means "to the buffer's end", which for a view would be its root's end.
        if (s.parent !== undefined && off >= s.byteLength) {
          throw this.#emptyView(i, a.offset, s.byteLength / dtypeBytes(s.dtype));
        }
        const len = Math.max(0, s.byteLength - off);
        const code = a.raw === true ? DTYPE_ANY : dtypeCode(s.dtype);
        writeBinding(dv, rec, 1, s.buffer, code, s.byteOffset + off, len);
      } else {
        throw this.#badArg(i, a);
      }
      rec += BINDING;
    }
    return this.#u8;
  }

  #emptyView(i: number, offset: number, length: number): BoundsError {
    return new BoundsError(
      `dispatch ${this.#name}: args[${i}] binds a view at element ${offset} of its ${length} elements; ` +
        `nothing is left to bind`,
      "dispatch",
    );
  }

  #badArg(i: number, a: unknown): BindingError {
    const got = a === null ? "null" : typeof a === "object" ? (a.constructor?.name ?? "object") : typeof a;
    return new BindingError(
      `dispatch ${this.#name}: args[${i}] must be a Tensor, { tensor, offset }, a typed array or undefined, got ${got}`,
      "dispatch",
    );
  }

  // Bit-exact copy of an inline argument at byte `at` (16-aligned, so a multiple of any element size).
  #copyInline(a: ArrayBufferView, at: number): void {
    if (a instanceof Uint8Array) {
      this.#u8.set(a, at);
    } else if (a instanceof DataView) {
      for (let j = 0; j < a.byteLength; j++) this.#u8[at + j] = a.getUint8(j);
    } else {
      const ctor = a.constructor as ViewCtor & { BYTES_PER_ELEMENT: number };
      let v = this.#views.get(ctor);
      if (v === undefined) {
        v = new ctor(this.#desc);
        this.#views.set(ctor, v);
      }
      // Same-type TypedArray.set copies the bytes (NaN payloads included).
      v.set(a as unknown as ArrayLike<unknown>, at / ctor.BYTES_PER_ELEMENT);
    }
  }

  #grow(size: number): void {
    this.#desc = new ArrayBuffer(Math.max(size, this.#desc.byteLength * 2));
    this.#u8 = new Uint8Array(this.#desc);
    this.#dv = new DataView(this.#desc);
    this.#views.clear();
  }

  #writeConstants(constants: Readonly<Record<number, ConstantValue>>): void {
    const dv = this.#dv;
    let defined = 0;
    for (const key in constants) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= 16) {
        throw new InvalidArgumentError(
          `dispatch ${this.#name}: function constant index ${key} is outside 0..15`,
          "dispatch",
        );
      }
      const v = constants[i];
      const at = 72 + 8 * i;
      let lo: number;
      let hi = 0;
      if (typeof v === "boolean") lo = v ? 1 : 0;
      else if (typeof v === "number" && Number.isInteger(v)) {
        if (!Number.isSafeInteger(v)) {
          throw new InvalidArgumentError(
            `dispatch ${this.#name}: constants[${i}] = ${v} is not a safe integer; pass { f32: ${v} } for a float`,
            "dispatch",
          );
        }
        lo = v >>> 0;
        hi = v < 0 ? Math.floor(v / 4294967296) >>> 0 : Math.floor(v / 4294967296);
      } else if (
        typeof v === "number" || (typeof v === "object" && v !== null && typeof v.f32 === "number")
      ) {
        f32Bits[0] = typeof v === "number" ? v : v.f32;
        lo = u32OfF32[0];
      } else {
        throw new InvalidArgumentError(
          `dispatch ${this.#name}: constants[${i}] must be a boolean, a number or { f32: number }, got ${
            v === null ? "null" : typeof v
          }`,
          "dispatch",
        );
      }
      dv.setUint32(at, lo, true);
      dv.setUint32(at + 4, hi, true);
      defined |= 1 << i;
    }
    dv.setUint32(64, defined, true);
  }
}

function isU32(x: unknown): x is number {
  return Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;
}

function writeDim3(
  dv: DataView,
  at: number,
  v: number | readonly number[],
  what: string,
  name: string,
): void {
  const arr = typeof v !== "number";
  if (arr && (!Array.isArray(v) || v.length < 1 || v.length > 3)) {
    throw new InvalidArgumentError(
      `dispatch ${name}: ${what} must be a count or an array of 1 to 3 counts, got ${
        Array.isArray(v) ? `${v.length} entries` : typeof v
      }`,
      "dispatch",
    );
  }
  const x = arr ? v[0] : v;
  const y = arr ? v[1] ?? 1 : 1;
  const z = arr ? v[2] ?? 1 : 1;
  for (let i = 0; i < 3; i++) {
    const d = i === 0 ? x : i === 1 ? y : z;
    if (!isU32(d)) {
      const field = arr ? `${what}[${i}]` : what;
      throw new InvalidArgumentError(
        `dispatch ${name}: ${field} must be an integer in 0..4294967295, got ${d}`,
        "dispatch",
      );
    }
  }
  dv.setUint32(at, x, true);
  dv.setUint32(at + 4, y, true);
  dv.setUint32(at + 8, z, true);
}

function writeBinding(
  dv: DataView,
  at: number,
  kind: number,
  buffer: number,
  dtype: number,
  offset: number,
  length: number,
): void {
  dv.setUint32(at + 4, kind, true);
  dv.setUint32(at + 8, buffer, true);
  dv.setUint32(at + 12, dtype, true);
  dv.setUint32(at + 16, offset >>> 0, true);
  dv.setUint32(at + 20, Math.floor(offset / 4294967296), true);
  dv.setUint32(at + 24, length >>> 0, true);
  dv.setUint32(at + 28, Math.floor(length / 4294967296), true);
}
