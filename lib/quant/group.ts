// Per-(group, column) kernels of quantize(): scale choice, rounding and packing of one K-group that has
// been gathered into a contiguous Float32Array. Hot loops: typed arrays only, no allocation.
import { FP16_MAX } from "./formats.ts";
import type { WeightLayout } from "./types.ts";

const f16 = new Float16Array(1);
const u16 = new Uint16Array(f16.buffer);

/**
 * Smallest float16 >= v (v >= 0, finite). Rounding the scale UP means absmax never clips, which gives
 * the clean per-element bounds of tests/quant_fp4.test.ts. Returns Infinity above FP16_MAX.
 */
export function f16Up(v: number): number {
  if (v > FP16_MAX) return Infinity;
  f16[0] = v;
  const r = f16[0];
  if (r >= v) return r;
  u16[0] = u16[0] + 1; // positive half: the next bit pattern is the next larger value
  return f16[0];
}

/** Round half to even: the tie rule of every format (matches IEEE and the OCP MX conversion). */
export function rne(x: number): number {
  const r = Math.round(x); // ties toward +Infinity
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

// Magnitude code of FP4 for x = |w| * 4 / s in the open interval (f, f+1): thresholds are at quarter
// units 1, 3, 5, 7, 10, 14, 20 (formats.ts FP4_THRESHOLDS * 4), so one table lookup rounds.
const FP4_QUARTER_LUT = new Uint8Array([
  0,
  1,
  1,
  2,
  2,
  3,
  3,
  4,
  4,
  4,
  5,
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
]);

/**
 * FP4: quantizes col[off .. off+gs) with scale s (> 0) and writes gs/8 words to packed[p], packed[p+np], ...
 * `bits` is a Uint32Array view of col (sign bit without a branch). A table lookup on |w|*4/s gives the
 * code; values within 1e-6 of a quarter unit take the exact path (fp4Mag: threshold compares on the fp16
 * scale, ties to even), so rounding is exact while the common case has no data-dependent branch.
 * A negative value whose magnitude rounds to 0 keeps code 0 (+0), so -0 never appears in the output.
 */
export function packFp4Group(
  col: Float32Array,
  bits: Uint32Array,
  off: number,
  gs: number,
  s: number,
  packed: Uint32Array,
  p: number,
  np: number,
): void {
  const inv4 = 4 / s;
  for (let j = off, end = off + gs; j < end; j += 8) {
    let word = 0;
    for (let i = 0; i < 8; i++) {
      const a = Math.abs(col[j + i]);
      const x = a * inv4;
      let f = x | 0;
      if (f > 31) f = 31;
      const fr = x - f;
      let m = FP4_QUARTER_LUT[f];
      if (fr < 1e-6 || fr > 0.999999) m = fp4Mag(a, s);
      // sign bit -> code bit 3, masked off when the magnitude code is 0 ((m + 7) >> 3 is 1 iff m > 0)
      m |= ((bits[j + i] >>> 28) & 8) & -((m + 7) >> 3);
      word |= m << (i << 2);
    }
    packed[p] = word;
    p += np;
  }
}

/** FP4 magnitude code (0..7) of a = |x| for scale s: counts thresholds passed (">" ties down, ">=" up). */
export function fp4Mag(a: number, s: number): number {
  return (a > 0.25 * s ? 1 : 0) + (a >= 0.75 * s ? 1 : 0) + (a > 1.25 * s ? 1 : 0) + (a >= 1.75 * s ? 1 : 0) +
    (a > 2.5 * s ? 1 : 0) + (a >= 3.5 * s ? 1 : 0) + (a > 5 * s ? 1 : 0);
}

const FP4_MAG = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

/** Squared error of FP4-quantizing col[off .. off+gs) with scale s (for the clipping search). */
export function sseFp4(col: Float32Array, off: number, gs: number, s: number): number {
  let e = 0;
  for (let j = off, end = off + gs; j < end; j++) {
    const x = col[j];
    const a = x < 0 ? -x : x;
    const d = a - FP4_MAG[fp4Mag(a, s)] * s;
    e += d * d;
  }
  return e;
}

/**
 * INT4 (both kinds): code = clamp(rne(x / s) + z, 0, 15), packed like packFp4Group. s > 0. For int4-sym
 * z = 8; for int4 z is the group's zero point. Padded K rows hold x = 0 and so get code z (exactly 0).
 */
export function packInt4Group(
  col: Float32Array,
  off: number,
  gs: number,
  s: number,
  z: number,
  packed: Uint32Array,
  p: number,
  np: number,
): void {
  const inv = 1 / s;
  for (let j = off, end = off + gs; j < end; j += 8) {
    let word = 0;
    for (let i = 0; i < 8; i++) {
      // Division (not x * inv) when near a tie, so ties are decided on the exact quotient.
      const y = col[j + i] * inv;
      let q = Math.round(y);
      if (Math.abs(q - y) > 0.4999) q = rne(col[j + i] / s);
      q += z;
      if (q < 0) q = 0;
      else if (q > 15) q = 15;
      word |= q << (i << 2);
    }
    packed[p] = word;
    p += np;
  }
}

/** Squared error of INT4-quantizing col[off .. off+gs) with scale s and zero point z. */
export function sseInt4(col: Float32Array, off: number, gs: number, s: number, z: number): number {
  let e = 0;
  for (let j = off, end = off + gs; j < end; j++) {
    const x = col[j];
    let q = rne(x / s) + z;
    if (q < 0) q = 0;
    else if (q > 15) q = 15;
    const d = x - (q - z) * s;
    e += d * d;
  }
  return e;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Largest |x| over the group, read through `bits` (a Uint32Array view of the float32 column): with the
 * sign bit cleared, integer order equals float order for finite values, and integer max has no branch.
 */
export function absMax(bits: Uint32Array, off: number, gs: number): number {
  let m = 0;
  for (let j = off, end = off + gs; j < end; j++) {
    const u = bits[j] & 0x7fffffff;
    m = u > m ? u : m;
  }
  u32[0] = m;
  return f32[0];
}

/** [min(0, min x), max(0, max x)] over the group: including 0 keeps the zero point inside [0, 15]. */
export function minMax(col: Float32Array, off: number, gs: number, out: Float64Array): void {
  let lo = 0, hi = 0;
  for (let j = off, end = off + gs; j < end; j++) {
    const x = col[j];
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  out[0] = lo;
  out[1] = hi;
}

/** int4 zero point for range [lo, hi] and scale s > 0: rne(-lo / s) in [0, 15]. */
export function int4Zero(lo: number, s: number): number {
  const z = rne(-lo / s);
  return z < 0 ? 0 : z > 15 ? 15 : z;
}

/** Copies column c of matrix b of w ([k, n] "kn" or [n, k] "nk" per matrix) into col[0..k). */
export function loadColumn(
  col: Float32Array,
  w: Float32Array | Float16Array,
  b: number,
  c: number,
  k: number,
  n: number,
  layout: WeightLayout,
): void {
  const wBase = b * k * n;
  if (layout === "nk") col.set(w.subarray(wBase + c * k, wBase + c * k + k));
  else for (let r = 0, i = wBase + c; r < k; r++, i += n) col[r] = w[i];
}
