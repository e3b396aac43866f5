// Rounding of per-group scales and biases into their storage types (f16, bf16, E8M0, E4M3), and the
// per-group quantizers of the formats whose scale is not a plain float (mxfp4, nvfp4) or that carry a
// float bias (int4-affine). Scales round UP so the group's extreme value never clips.
import { f16Up, rne } from "./group.ts";
import { f32ToBf16Bits } from "./convert.ts";
import { BF16_MAX, decodeBF16, E4M3_VALUES, FP16_MAX, type ScaleDType } from "./formats.ts";

const f16 = new Float16Array(1);

/** Smallest bf16 >= v (v >= 0, finite), as its bits; -1 above BF16_MAX. */
export function bf16UpBits(v: number): number {
  if (v > BF16_MAX) return -1;
  let b = f32ToBf16Bits(v);
  if (decodeBF16(b) < v) b += 1; // positive: the next bit pattern is the next larger value
  return b;
}

/** Largest finite value of a float scale storage type. */
export function scaleMax(dtype: ScaleDType): number {
  return dtype === "bf16" ? BF16_MAX : FP16_MAX;
}

/**
 * v (>= 0) rounded up into `dtype` ("f16" | "bf16"): out = [decoded value, raw element to store] (the
 * value itself for f16, the bits for bf16). Returns false above the type's maximum.
 */
export function roundScaleUp(dtype: ScaleDType, v: number, out: Float64Array): boolean {
  if (dtype === "bf16") {
    const b = bf16UpBits(v);
    if (b < 0) return false;
    out[0] = decodeBF16(b);
    out[1] = b;
    return true;
  }
  const s = f16Up(v);
  if (s === Infinity) return false;
  out[0] = s;
  out[1] = s;
  return true;
}

/** v rounded to nearest even into "f16" | "bf16": [decoded value, raw element] in out. */
export function roundNearest(dtype: ScaleDType, v: number, out: Float64Array): void {
  if (dtype === "bf16") {
    const b = f32ToBf16Bits(v);
    out[0] = decodeBF16(b);
    out[1] = b;
  } else {
    f16[0] = v;
    out[0] = f16[0];
    out[1] = f16[0];
  }
}

/**
 * int4-affine: codes clamp(rne((x - b) / s), 0, 15) of col[off .. off+gs) written as gs/8 words down a
 * column of `packed` from index p; rows at or past `k` (padding) get code 0. s > 0.
 */
export function packAffineGroup(
  col: Float32Array,
  off: number,
  gs: number,
  k: number,
  s: number,
  b: number,
  packed: Uint32Array,
  p: number,
  np: number,
): void {
  for (let j = off, end = off + gs; j < end; j += 8) {
    let word = 0;
    for (let i = 0; i < 8 && j + i < k; i++) {
      let q = rne((col[j + i] - b) / s);
      if (q < 0) q = 0;
      else if (q > 15) q = 15;
      word |= q << (i << 2);
    }
    packed[p] = word;
    p += np;
  }
}

/**
 * E8M0 exponent byte of the smallest power of two 2^(e-127) with amax <= 6 * 2^(e-127) (so nothing
 * clips), clamped to 0..254 (255 is NaN). amax = 0 gives 0.
 */
export function e8m0For(amax: number): number {
  if (amax === 0) return 0;
  let e = Math.ceil(Math.log2(amax / 6)) + 127;
  // log2 of a non-power of two can land one off in float64: fix up exactly.
  while (e > 0 && 6 * 2 ** (e - 1 - 127) >= amax) e--;
  while (6 * 2 ** (e - 127) < amax) e++;
  return Math.min(254, Math.max(0, e));
}

/** Positive E4M3 bytes 0x00..0x7E in value order (the decode table is monotonic there). */
const E4M3_POS = E4M3_VALUES.subarray(0, 0x7f);

/** Byte of the smallest E4M3 value >= v (0 <= v), saturating at 448 (0x7E). */
export function e4m3Up(v: number): number {
  let lo = 0, hi = 0x7e;
  if (v >= E4M3_POS[hi]) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (E4M3_POS[mid] >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * NVFP4 per-tensor scale: the float32 t >= amax / (6 * 448), so every block scale amax_g / (6 t) fits
 * E4M3's 448 (NVIDIA's recipe, rounded up instead of to nearest). 1 for an all-zero tensor.
 */
export function nvfp4TensorScale(amax: number): number {
  if (amax === 0) return 1;
  let t = Math.fround(amax / (6 * 448));
  if (t * 6 * 448 < amax) t = nextUpF32(t);
  return t;
}

const nf = new Float32Array(1);
const nu = new Uint32Array(nf.buffer);
function nextUpF32(x: number): number {
  nf[0] = x;
  nu[0] += 1; // x > 0
  return nf[0];
}

/** int4-affine range of a group: [min, max] of col[off .. off+live) (not widened to include 0). */
export function minMaxPlain(col: Float32Array, off: number, live: number, out: Float64Array): void {
  let lo = col[off], hi = col[off];
  for (let j = off + 1, end = off + live; j < end; j++) {
    const x = col[j];
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  out[0] = lo;
  out[1] = hi;
}
