// Float64 reference for every GEMM test: dequantize in float64, then a plain triple-loop matmul.
// Slow on purpose (no blocking, no reassociation tricks), so it is easy to trust.
import { shapeError } from "../quant/check.ts";
import { groupTable } from "../quant/dequantize.ts";
import { checkQuantized } from "../quant/validate.ts";
import type { QuantizedMatrix } from "../quant/types.ts";

/**
 * Dequantizes q in float64 to the math layout [batch?, K, N] (original, unpadded k and n), whatever layout
 * q was quantized from. Values are value(code) * scale exactly (no float32 rounding).
 */
export function dequantizeF64(q: QuantizedMatrix): Float64Array {
  checkQuantized("dequantizeF64", q);
  const { k, n, np, groupSize: gs } = q;
  const batch = q.batch ?? 1, groups = q.kp / gs, words = q.kp / 8;
  const out = new Float64Array(batch * k * n);
  const lut = new Float64Array(16);
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < groups; g++) {
      for (let c = 0; c < n; c++) {
        groupTable(q, (b * groups + g) * np + c, lut);
        for (let kk = g * gs; kk < (g + 1) * gs && kk < k; kk++) {
          const word = q.packed[(b * words + (kk >> 3)) * np + c];
          out[(b * k + kk) * n + c] = lut[(word >>> ((kk & 7) << 2)) & 15];
        }
      }
    }
  }
  return out;
}

/**
 * C = A·B in float64. A is [batch?, M, K] row-major; B is [batch?, K, N] ("kn", default) or [batch?, N, K]
 * ("nk"). Any numeric array works (Float16Array activations included). Returns [batch?, M, N].
 * With `batch` set, B may also be shared ([K, N] once) by passing bBatched: false.
 */
export function matmulF64(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
  opts: { batch?: number; bLayout?: "kn" | "nk"; bBatched?: boolean } = {},
): Float64Array {
  const batch = opts.batch ?? 1;
  const bBatched = opts.bBatched ?? true;
  if (a.length !== batch * m * k) {
    throw shapeError(
      "matmulF64",
      `matmulF64: a has ${a.length} elements but batch*m*k = ${batch}*${m}*${k} = ${batch * m * k}`,
    );
  }
  const bWant = (bBatched ? batch : 1) * k * n;
  if (b.length !== bWant) {
    throw shapeError(
      "matmulF64",
      `matmulF64: b has ${b.length} elements but expected ${bWant} (k=${k}, n=${n})`,
    );
  }
  const nk = opts.bLayout === "nk";
  const c = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    const aOff = bi * m * k, bOff = bBatched ? bi * k * n : 0, cOff = bi * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) {
          acc += a[aOff + i * k + t] * b[bOff + (nk ? j * k + t : t * n + j)];
        }
        c[cOff + i * n + j] = acc;
      }
    }
  }
  return c;
}

/**
 * Reference of a quantized GEMM: A [batch?, M, K] times dequantized q -> [batch?, M, N] in float64. For a
 * batched q, A must be batched alike; for a single q and opts.batch, every A batch uses the same weight.
 */
export function referenceGemm(
  a: ArrayLike<number>,
  m: number,
  q: QuantizedMatrix,
  opts: { batch?: number } = {},
): Float64Array {
  const w = dequantizeF64(q);
  const batch = q.batch ?? opts.batch ?? 1;
  if (q.batch !== undefined && opts.batch !== undefined && opts.batch !== q.batch) {
    throw shapeError(
      "referenceGemm",
      `referenceGemm: opts.batch = ${opts.batch} but the weight has batch ${q.batch}`,
    );
  }
  return matmulF64(a, w, m, q.k, q.n, { batch, bBatched: q.batch !== undefined });
}

/** Worst absolute and relative difference of `actual` against `expected` (same length). */
export function compareF64(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { maxAbs: number; maxRel: number; worstIndex: number } {
  if (actual.length !== expected.length) {
    throw shapeError(
      "compareF64",
      `compareF64: actual has ${actual.length} elements, expected ${expected.length}`,
    );
  }
  let maxAbs = 0, maxRel = 0, worstIndex = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxAbs)) {
      maxAbs = d;
      worstIndex = i;
    }
    const r = d / Math.max(Math.abs(expected[i]), 1e-30);
    if (r > maxRel) maxRel = r;
  }
  return { maxAbs, maxRel, worstIndex };
}
