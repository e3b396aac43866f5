// Float64 reference of RMSNorm: y = x / sqrt(mean(x²) + eps) · w, no rounding anywhere.

/** RMSNorm of `rows` rows of `dim` elements (row pitch dim) in float64. */
export function rmsNormF64(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  dim: number,
  eps: number,
): Float64Array {
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += x[r * dim + d] ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let d = 0; d < dim; d++) y[r * dim + d] = x[r * dim + d] * inv * w[d];
  }
  return y;
}
