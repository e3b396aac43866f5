// Element types shared by tensors and kernel bindings. The numeric codes are the MM_DTYPE_* values of
// csrc/include/metal_marlin.h, sent with every binding so the C side can check it against reflection.

/** Element type of a tensor. "bf16" tensors hold raw bfloat16 bits (a Uint16Array view). */
export type DType = "f16" | "f32" | "i32" | "u32" | "u16" | "u8" | "i16" | "i8" | "bf16";

/** Typed arrays that can back a tensor. */
export type TensorArray =
  | Float16Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Uint16Array
  | Uint8Array
  | Int16Array
  | Int8Array;

/** The typed array of each dtype (what `Tensor<D>.data` and `toArray()` return). */
export interface DTypeArrays {
  /** IEEE half precision. */
  f16: Float16Array;
  /** IEEE single precision. */
  f32: Float32Array;
  /** Signed 32-bit integers. */
  i32: Int32Array;
  /** Unsigned 32-bit integers (also packed 4-bit codes). */
  u32: Uint32Array;
  /** Unsigned 16-bit integers. */
  u16: Uint16Array;
  /** Bytes (also int4 zero points). */
  u8: Uint8Array;
  /** Signed 16-bit integers. */
  i16: Int16Array;
  /** Signed bytes. */
  i8: Int8Array;
  /** Raw bfloat16 bits. */
  bf16: Uint16Array;
}

/** Typed array of dtype `D`: `ArrayOf<"f16">` is Float16Array; the union TensorArray for `DType`. */
export type ArrayOf<D extends DType> = DTypeArrays[D];

/** Dtype a typed array makes with `dev.tensor(array)`: Float16Array -> "f16", Uint16Array -> "u16", ... */
export type DTypeOfArray<A extends TensorArray> = A extends Float16Array ? "f16"
  : A extends Float32Array ? "f32"
  : A extends Int32Array ? "i32"
  : A extends Uint32Array ? "u32"
  : A extends Uint16Array ? "u16"
  : A extends Uint8Array ? "u8"
  : A extends Int16Array ? "i16"
  : A extends Int8Array ? "i8"
  : DType;

interface DTypeInfo {
  code: number;
  bytes: number;
  ctor: new (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorArray;
}

/** MM_DTYPE_ANY: untyped data (structs); skips the C-side dtype check. */
export const DTYPE_ANY = 0;

const table: Record<DType, DTypeInfo> = {
  f16: { code: 1, bytes: 2, ctor: Float16Array },
  f32: { code: 2, bytes: 4, ctor: Float32Array },
  i32: { code: 3, bytes: 4, ctor: Int32Array },
  u32: { code: 4, bytes: 4, ctor: Uint32Array },
  u16: { code: 5, bytes: 2, ctor: Uint16Array },
  u8: { code: 6, bytes: 1, ctor: Uint8Array },
  i16: { code: 7, bytes: 2, ctor: Int16Array },
  i8: { code: 8, bytes: 1, ctor: Int8Array },
  bf16: { code: 9, bytes: 2, ctor: Uint16Array },
};

const byCode: DType[] = [];
for (const [name, info] of Object.entries(table)) byCode[info.code] = name as DType;

/** MM_DTYPE_* code of a dtype. */
export function dtypeCode(d: DType): number {
  return table[d].code;
}

/** Bytes per element of a dtype. */
export function dtypeBytes(d: DType): number {
  return table[d].bytes;
}

/** Dtype name of an MM_DTYPE_* code, or "any" for 0 / unknown codes. */
export function dtypeName(code: number): DType | "any" {
  return byCode[code] ?? "any";
}

/** True when `d` names a supported dtype. */
export function isDType(d: unknown): d is DType {
  return typeof d === "string" && Object.hasOwn(table, d);
}

/** Creates a typed-array view of `length` elements of dtype `d` over `buffer`. */
export function viewOf(d: DType, buffer: ArrayBuffer, byteOffset: number, length: number): TensorArray {
  return new table[d].ctor(buffer, byteOffset, length);
}

/** Dtype of a typed array, or undefined for arrays that cannot back a tensor (e.g. Float64Array). */
export function dtypeOfArray(a: ArrayBufferView): DType | undefined {
  if (a instanceof Float16Array) return "f16";
  if (a instanceof Float32Array) return "f32";
  if (a instanceof Int32Array) return "i32";
  if (a instanceof Uint32Array) return "u32";
  if (a instanceof Uint16Array) return "u16";
  if (a instanceof Uint8Array) return "u8";
  if (a instanceof Int16Array) return "i16";
  if (a instanceof Int8Array) return "i8";
  return undefined;
}
