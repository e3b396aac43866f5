// Shared helpers of the GEMM tests: seeded data, quantized weights, the float64 expectation with its
// error bound, and one comparison that names every parameter of the case.
//
// Tolerance policy (derived, not tuned): activations and dequantized weights are exact in the
// reference (f16 inputs, value(code) * f16 scale in float64). The kernels
//   - may round each dequantized weight to f16 (tiled path): relative 2^-11 per product term;
//   - accumulate K products in float (and split-K partials in float): <= (K + 64) * 2^-24 * S,
//     where S = sum_k |a_k w_k| for that output (a standard a-priori bound for recursive summation);
//   - evaluate silu/gelu with float exp (a few ulp): 2^-20 relative slack;
//   - round the result to f16: 2^-11 relative (half an ulp), 2^-24 absolute in the subnormal range.
// Per-channel split-K accumulates s * sum(value(code) * a) + b * sum(a) (the scale applied after the
// reduction), so its accumulation bound uses sum_k |a_k| (|s value_k| + |b|) >= S (magnitude()).
// The epilogue propagates the accumulation bound with its Lipschitz constant (relu 1, silu 1.1,
// gelu 1.13, scale |alpha|; SwiGLU: 1.1 e_g (|u| + e_u) + |silu(g)| e_u).
import assert from "node:assert";
import { type Device, gemmRoute } from "../lib/api/device.ts";
import { dequantizeF64 } from "../lib/reference/gemm.ts";
import { groupTable } from "../lib/quant/dequantize.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { FORMAT_IDS, type QuantFormat, type ScaleDType } from "../lib/quant/formats.ts";
import { bf16BitsToF32, f32ToBf16Bits } from "../lib/quant/convert.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";

/** The suite's device (util/backend.ts: the CPU runtime, or metal-sim under MM_TEST_BACKEND). */
export { openTestDevice } from "./util/backend.ts";

/** Deterministic uniform numbers in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** `len` random f16 values in [-scale, scale). */
export function randF16(len: number, seed: number, scale = 1): Float16Array {
  const r = rng(seed);
  const out = new Float16Array(len);
  for (let i = 0; i < len; i++) out[i] = r() * scale;
  return out;
}

/** `len` random bf16 values in [-scale, scale): the raw bits and their exact values. */
export function randBf16(len: number, seed: number, scale = 1): { bits: Uint16Array; values: Float32Array } {
  const r = rng(seed);
  const bits = new Uint16Array(len), values = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    bits[i] = f32ToBf16Bits(r() * scale);
    values[i] = bf16BitsToF32(bits[i]);
  }
  return { bits, values };
}

/** A random [batch?][N, K] ("nk", as nn.Linear) weight quantized to `format`. */
export function randomWeight(
  k: number,
  n: number,
  format: QuantFormat,
  groupSize: number | "channel" | undefined,
  seed: number,
  batch?: number,
  scaleDtype?: ScaleDType,
): QuantizedMatrix {
  const r = rng(seed);
  const w = new Float32Array((batch ?? 1) * k * n);
  for (let i = 0; i < w.length; i++) w[i] = r();
  return quantize(w, { k, n, format, groupSize, layout: "nk", batch, scaleDtype });
}

/** Epilogue of one case, in the library's order: swiglu -> bias -> activation -> scale -> residual. */
export interface Epi {
  bias?: ArrayLike<number>;
  activation?: "relu" | "silu" | "gelu";
  scale?: number;
  /** Row-major [M, N] per batch, dense. */
  residual?: ArrayLike<number>;
}

const silu = (x: number): number => x / (1 + Math.exp(-x));
const gelu = (x: number): number =>
  0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));

/**
 * Expected outputs and per-element bounds for batch `b`: a is [M, lda] rows (K used), w / up are
 * dequantized [K, N] float64 (up only for SwiGLU). Returns dense [M, N].
 */
export function expect(
  a: ArrayLike<number>,
  aOff: number,
  lda: number,
  m: number,
  k: number,
  n: number,
  w: Float64Array,
  wOff: number,
  up: Float64Array | undefined,
  epi: Epi,
  resOff = 0,
  out: "f16" | "bf16" = "f16",
  mag?: { w: Float64Array; up?: Float64Array },
): { ref: Float64Array; tol: Float64Array } {
  // Rounding the result to the output type: half an ulp, 2^-11 relative for f16, 2^-8 for bf16.
  const outRel = out === "bf16" ? 2 ** -8 : 2 ** -11;
  const ref = new Float64Array(m * n), tol = new Float64Array(m * n);
  const acc = (wm: Float64Array, i: number, j: number, mm?: Float64Array): [number, number] => {
    let s = 0, abs = 0;
    for (let t = 0; t < k; t++) {
      const p = a[aOff + i * lda + t] * wm[wOff + t * n + j];
      s += p;
      abs += mm ? Math.abs(a[aOff + i * lda + t]) * mm[wOff + t * n + j] : Math.abs(p);
    }
    return [s, (2 ** -11 + (k + 64) * 2 ** -24) * abs];
  };
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let [v, e] = acc(w, i, j, mag?.w);
      let transcendental = false;
      if (up) {
        const [u, eu] = acc(up, i, j, mag?.up);
        e = 1.1 * e * (Math.abs(u) + eu) + Math.abs(silu(v)) * eu;
        v = silu(v) * u;
        transcendental = true;
      }
      if (epi.bias) v += epi.bias[j];
      if (epi.activation === "relu") v = Math.max(v, 0);
      if (epi.activation === "silu") [v, e] = [silu(v), 1.1 * e];
      if (epi.activation === "gelu") [v, e] = [gelu(v), 1.13 * e];
      if (epi.activation === "silu" || epi.activation === "gelu") transcendental = true;
      if (epi.scale !== undefined) [v, e] = [v * epi.scale, e * Math.abs(epi.scale)];
      if (epi.residual) v += epi.residual[resOff + i * n + j];
      ref[i * n + j] = v;
      tol[i * n + j] = e + outRel * Math.abs(v) + 2 ** -24 +
        (transcendental ? 2 ** -20 * (Math.abs(v) + 1) : 0);
    }
  }
  return { ref, tol };
}

/** Dequantized weight [batch?, K, N] in float64. */
export function dense(q: QuantizedMatrix): Float64Array {
  return dequantizeF64(q);
}

/**
 * |s · value(code)| + |b| per element of dense(q) (w = s · value + b): value(code 0) is 0 in both code
 * tables, so b is the group's decode of code 0 and s · value = w - b.
 */
export function magnitude(q: QuantizedMatrix): Float64Array {
  const w = dequantizeF64(q);
  const { k, n, np, groupSize: gs } = q;
  const groups = q.kp / gs, lut = new Float64Array(16);
  for (let b = 0; b < (q.batch ?? 1); b++) {
    for (let g = 0; g < groups; g++) {
      for (let c = 0; c < n; c++) {
        groupTable(q, (b * groups + g) * np + c, lut);
        for (let kk = g * gs; kk < (g + 1) * gs && kk < k; kk++) {
          const i = (b * k + kk) * n + c;
          w[i] = Math.abs(w[i] - lut[0]) + Math.abs(lut[0]);
        }
      }
    }
  }
  return w;
}

/** Asserts |got[i * ldc + j] - ref| <= tol for the [M, N] block at `off` of got; names the case. */
export function assertClose(
  label: string,
  got: ArrayLike<number>,
  off: number,
  ldc: number,
  m: number,
  n: number,
  e: { ref: Float64Array; tol: Float64Array },
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const g = got[off + i * ldc + j], r = e.ref[i * n + j], t = e.tol[i * n + j];
      if (!(Math.abs(g - r) <= t)) {
        assert.fail(`${label}: C[${i}, ${j}] = ${g}, expected ${r} +- ${t} (diff ${Math.abs(g - r)})`);
      }
    }
  }
}

/** One GEMM case; labels name every parameter. */
export interface Case {
  m: number;
  n: number;
  k: number;
  format: QuantFormat;
  /** Group size, "channel", or undefined for the format's fixed size (mxfp4, nvfp4). */
  gs: number | "channel" | undefined;
  /** Scale storage (default: the format's default). */
  scaleDtype?: ScaleDType;
  /** Activation / output dtype. Default "f16". */
  act?: "f16" | "bf16";
  seed?: number;
  bias?: boolean;
  activation?: "relu" | "silu" | "gelu";
  scale?: number;
  residual?: boolean;
  /** SwiGLU with a separate up weight, or one fused [gate | up] weight. */
  swiglu?: "separate" | "fused";
  splitK?: number;
  /** Expected routing kind (checked before running). */
  kind?: "gemv" | "small" | "splitk" | "tiled";
  threads?: number;
}

/** Human-readable label with every parameter of the case. */
export function label(c: Case): string {
  const parts = [`M=${c.m}`, `N=${c.n}`, `K=${c.k}`, c.format, `gs=${c.gs ?? "fixed"}`];
  if (c.scaleDtype) parts.push(`scales=${c.scaleDtype}`);
  if (c.act) parts.push(`act=${c.act}`);
  if (c.bias) parts.push("bias");
  if (c.activation) parts.push(c.activation);
  if (c.scale !== undefined) parts.push(`scale=${c.scale}`);
  if (c.residual) parts.push("residual");
  if (c.swiglu) parts.push(`swiglu-${c.swiglu}`);
  if (c.splitK !== undefined) parts.push(`splitK=${c.splitK}`);
  return parts.join(" ");
}

/** Runs one case through dev.gemm on `dev` and checks it against the float64 expectation. */
export function runCase(dev: Device, c: Case): Float16Array | Uint16Array {
  const gsNum = typeof c.gs === "number" ? c.gs : c.gs === "channel" ? 7 : 0;
  const seed = c.seed ?? (c.m * 7919 + c.n * 104729 + c.k * 31 + gsNum);
  const { m, n, k } = c;
  const fused = c.swiglu === "fused";
  const bf = c.act === "bf16";
  const q = randomWeight(k, fused ? 2 * n : n, c.format, c.gs, seed, undefined, c.scaleDtype);
  const qUp = c.swiglu === "separate"
    ? randomWeight(k, n, c.format, c.gs, seed + 1, undefined, c.scaleDtype)
    : undefined;
  // Activation-typed data: the values the reference uses and the array uploaded (f16, or bf16 bits).
  const data = (len: number, sd: number, scale = 1): [ArrayLike<number>, Float16Array | Uint16Array] => {
    if (!bf) {
      const v = randF16(len, sd, scale);
      return [v, v];
    }
    const { bits, values } = randBf16(len, sd, scale);
    return [values, bits];
  };
  const up16 = (arr: Float16Array | Uint16Array, shape?: number[]) =>
    bf ? dev.tensor(arr, shape, "bf16") : dev.tensor(arr, shape);
  const [aData, aRaw] = data(m * k, seed + 2);
  const epi: Epi = { activation: c.activation, scale: c.scale };
  let biasRaw: Float16Array | Uint16Array | undefined, resRaw: Float16Array | Uint16Array | undefined;
  if (c.bias) [epi.bias, biasRaw] = data(n, seed + 3, 2);
  if (c.residual) [epi.residual, resRaw] = data(m * n, seed + 4, 4);
  const r = gemmRoute(dev, {
    m,
    n,
    k,
    format: FORMAT_IDS[c.format],
    groupSize: q.groupSize,
    act: c.act,
    swiglu: c.swiglu !== undefined,
    splitK: c.splitK,
  });
  if (c.kind) assert.strictEqual(r.kind, c.kind, `${label(c)}: routed to ${r.kernel}`);
  // Per-channel split-K applies the scale after the reduction (the bound of magnitude()).
  const deferred = r.kind === "splitk" && q.groupSize >= Math.ceil(k / 8) * 8;
  const w = dev.upload(q);
  const up = qUp ? dev.upload(qUp) : undefined;
  const a = up16(aRaw, [m, k]);
  const bias = biasRaw ? up16(biasRaw) : undefined;
  const residual = resRaw ? up16(resRaw, [m, n]) : undefined;
  try {
    const out = dev.gemm(a, w, {
      bias,
      residual,
      activation: c.activation,
      scale: c.scale,
      up,
      swiglu: c.swiglu !== undefined,
      splitK: c.splitK,
    });
    const raw = out.toArray() as Float16Array | Uint16Array;
    const got = bf ? Float32Array.from(raw, bf16BitsToF32) : raw;
    out.dispose();
    // Fused: gate = columns [0, n), up = [n, 2n) of the fused weight.
    const halves = (full: Float64Array): [Float64Array, Float64Array] => {
      const g = new Float64Array(k * n), u = new Float64Array(k * n);
      for (let t = 0; t < k; t++) {
        for (let j = 0; j < n; j++) {
          g[t * n + j] = full[t * 2 * n + j];
          u[t * n + j] = full[t * 2 * n + n + j];
        }
      }
      return [g, u];
    };
    let wd = dense(q), upd = qUp ? dense(qUp) : undefined;
    if (fused) [wd, upd] = halves(wd);
    let mag: { w: Float64Array; up?: Float64Array } | undefined;
    if (deferred) {
      const mw = magnitude(q);
      mag = fused ? { w: halves(mw)[0], up: halves(mw)[1] } : { w: mw, up: qUp ? magnitude(qUp) : undefined };
    }
    assertClose(label(c), got, 0, n, m, n, expect(aData, 0, k, m, k, n, wd, 0, upd, epi, 0, c.act, mag));
    return raw;
  } finally {
    w.dispose();
    up?.dispose();
    a.dispose();
    bias?.dispose();
    residual?.dispose();
  }
}
