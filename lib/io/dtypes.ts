// Element types of the two container formats, and decoding of float storage to Float32Array.
// safetensors dtype names: the safetensors specification. ggml types: ggml.h `enum ggml_type` with
// block sizes (values per block) and bytes per block from ggml.c's type traits.

/** Bytes per element of every safetensors dtype we accept (F4 / F6 packed types are refused as unknown). */
export const SAFETENSORS_DTYPES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** One ggml tensor type: name, values per block, bytes per block. */
export interface GgmlType {
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

/** ggml type id -> traits, for every type whose layout we know (others are refused as unknown). */
export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(
  ([
    [0, "F32", 1, 4],
    [1, "F16", 1, 2],
    [2, "Q4_0", 32, 18],
    [3, "Q4_1", 32, 20],
    [6, "Q5_0", 32, 22],
    [7, "Q5_1", 32, 24],
    [8, "Q8_0", 32, 34],
    [9, "Q8_1", 32, 36],
    [10, "Q2_K", 256, 84],
    [11, "Q3_K", 256, 110],
    [12, "Q4_K", 256, 144],
    [13, "Q5_K", 256, 176],
    [14, "Q6_K", 256, 210],
    [15, "Q8_K", 256, 292],
    [16, "IQ2_XXS", 256, 66],
    [17, "IQ2_XS", 256, 74],
    [18, "IQ3_XXS", 256, 98],
    [19, "IQ1_S", 256, 50],
    [20, "IQ4_NL", 32, 18],
    [21, "IQ3_S", 256, 110],
    [22, "IQ2_S", 256, 82],
    [23, "IQ4_XS", 256, 136],
    [24, "I8", 1, 1],
    [25, "I16", 1, 2],
    [26, "I32", 1, 4],
    [27, "I64", 1, 8],
    [28, "F64", 1, 8],
    [29, "IQ1_M", 256, 56],
    [30, "BF16", 1, 2],
    [34, "TQ1_0", 256, 54],
    [35, "TQ2_0", 256, 66],
    [39, "MXFP4", 32, 17],
  ] as const).map(([id, name, blockSize, typeSize]) => [id, { name, blockSize, typeSize }]),
);

/** Float storage decodable by float(): safetensors and ggml names alike. */
export type FloatStorage = "F32" | "F16" | "BF16";

/** True when `dtype` is a float storage float() decodes. */
export function isFloatStorage(dtype: string): dtype is FloatStorage {
  return dtype === "F32" || dtype === "F16" || dtype === "BF16";
}

/** Little-endian bytes of F32/F16/BF16 storage -> Float32Array (exact: every value is an f32). */
export function decodeFloats(bytes: Uint8Array, dtype: FloatStorage): Float32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  if (dtype === "F32") {
    return new Float32Array(aligned.buffer.slice(aligned.byteOffset, aligned.byteOffset + aligned.length));
  }
  const n = bytes.length / 2;
  const src = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  if (dtype === "F16") return Float32Array.from(new Float16Array(src.buffer, src.byteOffset, n));
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = src[i] << 16; // bf16 is the top half of an f32
  return out;
}

/** Copies `bytes` into a new, 4-byte-aligned ArrayBuffer and views it as little-endian uint32 words. */
export function wordsOf(bytes: Uint8Array): Uint32Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Uint32Array(copy.buffer, 0, bytes.length >>> 2);
}

/** A uint16 view of `bytes` (copied only when unaligned). */
export function halvesOf(bytes: Uint8Array): Uint16Array {
  const a = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
  return new Uint16Array(a.buffer, a.byteOffset, a.length >>> 1);
}

/** A uint32 view of `bytes` (copied only when unaligned). */
export function u32View(bytes: Uint8Array): Uint32Array {
  const a = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  return new Uint32Array(a.buffer, a.byteOffset, a.length >>> 2);
}
