// Shared pieces of the MoE tests (moe.test.ts: f16, moe_bf16.test.ts: bf16): seeded router and expert
// weights, and the grouped GEMM case that checks every sorted row against its own expert in float64.
import assert from "node:assert/strict";
import { assertWithin, openTestDevice, randF16, rng } from "./layer_helpers.ts";
import { sortPairsF64 } from "../lib/reference/moe.ts";
import { dequantizeF64, matmulF64 } from "../lib/reference/gemm.ts";
import { gemmF16Tolerance } from "./util/reference_f16.ts";
import {
  bf16ToF32,
  f16ToBf16,
  f32ToBf16,
  type QuantFormat,
  quantize,
  type QuantizedMatrix,
  type ScaleDType,
} from "../mod.ts";

export type GroupSize = number | "channel";

/**
 * Asserts the router's top-k ids equal the reference's for every token of [T, E] float64 logits. A float
 * sum over D terms errs by <= (D + 2)·2^-24·Σ|x·w|: ids compare wherever the k-th and (k+1)-th logits are
 * further apart than that (exact ties always compare: equal rows); a near-tie fails the seed, not the kernel.
 */
export function assertRouteIds(
  logits: Float64Array,
  got: Uint32Array,
  want: Uint32Array,
  T: number,
  E: number,
  k: number,
): void {
  for (let t = 0; t < T; t++) {
    const row = Array.from(logits.subarray(t * E, (t + 1) * E)).sort((a, b) => b - a);
    const gap = k < E ? row[k - 1] - row[k] : Infinity;
    assert.ok(gap === 0 || gap > 1e-4, `token ${t}: near-tie ${gap} (pick another seed)`);
    assert.deepEqual(
      [...got.subarray(t * k, (t + 1) * k)],
      [...want.subarray(t * k, (t + 1) * k)],
      `token ${t} ids`,
    );
  }
}

/** Router weights [E, D]: random rows, expert 3 boosted (skew) and, if `tied`, rows 5 = 6 and 9 = 2. */
export function routerWeights(E: number, D: number, seed: number, tied: boolean): Float16Array {
  const w = randF16(E * D, seed);
  for (let d = 0; d < D; d++) w[3 * D + d] *= 1.5; // skew: expert 3 tends to win
  if (tied && E > 9) {
    for (let d = 0; d < D; d++) {
      w[6 * D + d] = w[5 * D + d];
      w[9 * D + d] = w[2 * D + d];
    }
  }
  return w;
}

/** Weight options of a grouped GEMM case: K (default 72), scale storage, and a factor on the up weights. */
export interface CaseOpts {
  K?: number;
  scaleDtype?: ScaleDType;
  /** Up weights are random · upScale, so nvfp4's up tensor scale differs from the gate's. Default 1. */
  upScale?: number;
  /** Activation dtype of a and the output. Default "f16". */
  act?: "f16" | "bf16";
}

/** Quantized E x [K, N] weights from seeded values in [-1, 1) times `scale`. */
export function expertWeight(
  K: number,
  N: number,
  format: QuantFormat,
  gs: GroupSize,
  seed: number,
  E: number,
  scale: number,
  scaleDtype?: ScaleDType,
): QuantizedMatrix {
  const r = rng(seed);
  const w = Float32Array.from({ length: E * K * N }, () => r() * scale);
  return quantize(w, { k: K, n: N, format, groupSize: gs, layout: "nk", batch: E, scaleDtype });
}

/** Grouped GEMM case: T tokens routed by `ids` [T, k]; checks every sorted row against its own expert. */
export function gemmCase(
  format: QuantFormat,
  groupSize: GroupSize,
  T: number,
  k: number,
  E: number,
  ids: Uint32Array,
  swiglu: boolean,
  opts: CaseOpts = {},
): void {
  using dev = openTestDevice();
  const act = opts.act ?? "f16";
  const [K, N] = [opts.K ?? 72, 40];
  const gq = expertWeight(K, N, format, groupSize, 5, E, 1, opts.scaleDtype);
  const uq = expertWeight(K, N, format, groupSize, 6, E, opts.upScale ?? 1, opts.scaleDtype);
  if (format === "nvfp4" && opts.upScale) {
    // The case only tells gate and up tensor scales apart if they differ.
    const ratio = uq.tensorScale! / gq.tensorScale!;
    assert.ok(Math.abs(ratio - opts.upScale) < 0.1, `up/gate tensor scale ${ratio}`);
  }
  using g = dev.upload(gq), u = dev.upload(uq);
  const x16 = randF16(T * K, 9);
  // bf16: the f16 values rounded once more; the reference takes the exact bf16 values.
  const xBits = act === "bf16" ? f16ToBf16(x16) : undefined;
  const x = xBits ? bf16ToF32(xBits) : x16;
  using xt = xBits ? dev.tensor(xBits, [T, K], "bf16") : dev.tensor(x16, [T, K]);
  using idt = dev.tensor(ids, [T, k]);
  const s = dev.moeSort(idt, E);
  using y = dev.moeGemm(xt, g, s, { gather: true, up: swiglu ? u : undefined });
  assert.equal(y.dtype, act);
  const got = act === "bf16" ? bf16ToF32(y.toArray() as Uint16Array) : y.toArray() as Float16Array;
  const { sorted } = sortPairsF64(ids, E);
  const gd = dequantizeF64(gq), ud = dequantizeF64(uq);
  // Half an ulp of the output: 2^-11 relative for f16 (11-bit significand), 2^-8 for bf16 (8 bits).
  const half = act === "bf16" ? 2 ** -8 : 2 ** -11;
  for (let i = 0; i < T * k; i++) {
    const p = sorted[i], t = Math.floor(p / k), e = ids[p];
    const a = x.subarray(t * K, (t + 1) * K);
    const we = gd.subarray(e * K * N, (e + 1) * K * N);
    const row = got.subarray(i * N, (i + 1) * N);
    const label = `${format} gs${gq.groupSize} K=${K} scales ${gq.scaleDtype} ${act} T=${T} k=${k} E=${E} ` +
      `row ${i} (token ${t}, expert ${e})`;
    if (!swiglu) {
      assertWithin(label, row, matmulF64(a, we, 1, K, N), gemmF16Tolerance(a, we, 1, N, K, act));
    } else {
      const gv = matmulF64(a, we, 1, K, N),
        uv = matmulF64(a, ud.subarray(e * K * N, (e + 1) * K * N), 1, K, N);
      // Gate and up are float sums, never stored: their bounds need no store term beyond f16's slack.
      const eg = gemmF16Tolerance(a, we, 1, N, K),
        eu = gemmF16Tolerance(a, ud.subarray(e * K * N, (e + 1) * K * N), 1, N, K);
      const silu = (v: number) => v / (1 + Math.exp(-v));
      const want = gv.map((v, n) => silu(v) * uv[n]);
      assertWithin(
        label,
        row,
        want,
        (n) =>
          Math.abs(want[n]) * (half + 2 ** -20) + 1.1 * eg[n] * (Math.abs(uv[n]) + eu[n]) +
          Math.abs(silu(gv[n])) * eu[n] + 2 ** -24,
      );
    }
  }
}

/** A float64 value and a bound on how far the device's value may be from it, per element. */
export interface Bounded {
  v: Float64Array;
  e: Float64Array;
}

const abs = (x: ArrayLike<number>) => Float64Array.from(x, Math.abs);
const silu = (v: number) => v / (1 + Math.exp(-v));

/** a [m, K] · w [K, N]: float32 sums ((K + 64)·2^-24 of Σ|a·w|) plus the input's error through |w|. */
export function linB(a: Bounded, w: Float64Array, m: number, K: number, N: number): Bounded {
  const v = matmulF64(a.v, w, m, K, N), wa = abs(w);
  const prop = matmulF64(a.e, wa, m, K, N);
  const mag = matmulF64(a.v.map((x, i) => Math.abs(x) + a.e[i]), wa, m, K, N);
  return { v, e: prop.map((p, i) => p + (K + 64) * 2 ** -24 * mag[i]) };
}

/** silu(g)·u; silu is 1.1-Lipschitz. */
export function swigluB(g: Bounded, u: Bounded): Bounded {
  const v = g.v.map((x, i) => silu(x) * u.v[i]);
  return {
    v,
    e: g.e.map((eg, i) => 1.1 * eg * (Math.abs(u.v[i]) + u.e[i]) + Math.abs(silu(g.v[i])) * u.e[i]),
  };
}

/**
 * A bf16 store on both sides: the reference rounds its value (through f32, as the device's float result:
 * 2^-24 more), the device its own (within e of it), so they differ by e plus half an ulp (2^-8 relative)
 * of each: e + 2^-8·(2|v| + e) + 2^-24·|v|.
 */
export function storeBf16(x: Bounded): Bounded {
  const v = Float64Array.from(bf16ToF32(f32ToBf16(x.v)));
  return { v, e: x.e.map((e, i) => e + 2 ** -8 * (2 * Math.abs(x.v[i]) + e) + 2 ** -24 * Math.abs(x.v[i])) };
}
