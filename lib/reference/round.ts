// Rounding of float64 reference values to the 16-bit dtypes the device stores, applied where the device
// stores an intermediate tensor, so references and kernels round at the same stages.

/** `x` rounded to f16 (nearest, ties to even), as float64. */
export function roundF16(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float16Array.from(x as ArrayLike<number>));
}

// bf16: 8 significant bits, float32's exponent range (normals from 2^-126, subnormals in steps of 2^-133).
const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;

/**
 * `v` rounded to bf16 (nearest, ties to even; past the largest bf16 plus half an ulp to ±Infinity) in one
 * step from float64, not through float32, which could round twice.
 */
export function roundBf16Value(v: number): number {
  const a = Math.abs(v);
  if (!Number.isFinite(v) || a === 0) return v;
  if (a >= BF16_MAX + 2 ** 119) return Math.sign(v) * Infinity; // 2^119: half an ulp at the top binade
  let e = Math.max(-126, Math.floor(Math.log2(a)));
  // log2 can round across an integer next to a power of two: settle the binade exactly.
  if (e > -126 && 2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (e - 7);
  const q = a / ulp; // exact: a power-of-two scaling
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  return Math.sign(v) * r * ulp;
}

/** `x` rounded to bf16 element by element (roundBf16Value), as float64. */
export function roundBf16(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, roundBf16Value);
}
