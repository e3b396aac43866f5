// Host conversions between float32, float16 and bfloat16 arrays (round to nearest, ties to even), for
// users who arrive with f32 data: bf16 tensors hold raw bits in a Uint16Array.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN, ±Inf stays ±Inf. */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bf16 bits -> float32 value (exact). */
export function bf16BitsToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** Float32Array (or any numbers) -> bf16 bits, round to nearest even. */
export function f32ToBf16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16Bits(src[i]);
  return out;
}

/** bf16 bits -> Float32Array (exact). */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  new Uint32Array(out.buffer).set(src);
  const w = new Uint32Array(out.buffer);
  for (let i = 0; i < w.length; i++) w[i] <<= 16;
  return out;
}

/** Float32Array (or any numbers) -> Float16Array, round to nearest even (the Float16Array conversion). */
export function f32ToF16(src: ArrayLike<number>): Float16Array {
  return Float16Array.from(src);
}

/** Float16Array -> Float32Array (exact). */
export function f16ToF32(src: Float16Array): Float32Array {
  return Float32Array.from(src);
}

/** Float16Array -> bf16 bits: exact f16 -> f32, then one round to nearest even. */
export function f16ToBf16(src: Float16Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16Bits(src[i]);
  return out;
}

/** bf16 bits -> Float16Array: exact bf16 -> f32, then one round to nearest even (overflow to ±Inf). */
export function bf16ToF16(src: Uint16Array): Float16Array {
  const out = new Float16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = bf16BitsToF32(src[i]);
  return out;
}
