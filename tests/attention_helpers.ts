// Attention test cases: fill a KVCache from random K/V (through append, so the append path is exercised),
// run attention, and compare with the float64 reference under a derived bound.
import { assertWithin, randF16 } from "./layer_helpers.ts";
import { attentionF64 } from "../lib/reference/attention.ts";
import { bf16ToF32, type Device, f16ToBf16 } from "../mod.ts";

/** One attention case: T queries at positions offset .. offset + T - 1 over a cache of offset + T keys. */
export interface AttnCase {
  T: number;
  heads: number;
  kvHeads: number;
  D: number;
  offset: number;
  causal?: boolean;
  splits?: number;
}

export function attnLabel(c: AttnCase): string {
  return `T=${c.T} Hq=${c.heads} Hkv=${c.kvHeads} (GQA ${c.heads / c.kvHeads}) D=${c.D} offset=${c.offset}` +
    `${c.causal === false ? " non-causal" : ""}${c.splits !== undefined ? ` splits=${c.splits}` : ""}`;
}

/** Inputs of a case: q [T, Hq, D]; k, v [L, Hkv, D] token-major as a projection writes them. */
export function attnInputs(c: AttnCase, seed = 1) {
  const L = c.offset + c.T;
  return {
    L,
    q: randF16(c.T * c.heads * c.D, seed * 7 + c.D, 1.5),
    k: randF16(L * c.kvHeads * c.D, seed * 11 + c.T, 1.5),
    v: randF16(L * c.kvHeads * c.D, seed * 13 + c.heads, 1),
  };
}

/** Runs the case on `dev` (two appends: the cached prefix, then the new tokens); returns O. */
export function runAttn(dev: Device, c: AttnCase, inp: ReturnType<typeof attnInputs>): Float16Array {
  const row = c.kvHeads * c.D;
  using cache = dev.kvCache({ kvHeads: c.kvHeads, headDim: c.D, capacity: inp.L + 3 });
  using k = dev.tensor(inp.k, [inp.L, row]);
  using v = dev.tensor(inp.v, [inp.L, row]);
  if (c.offset > 0) cache.append(k, v, c.offset);
  cache.append({ tensor: k, offset: c.offset * row }, { tensor: v, offset: c.offset * row }, c.T);
  using q = dev.tensor(inp.q, [c.T, c.heads * c.D]);
  using o = dev.attention(q, cache, { heads: c.heads, causal: c.causal, splits: c.splits });
  return o.toArray() as Float16Array;
}

/** A case's inputs rounded to bf16: the raw bits for the device and their exact values for the reference. */
export function attnInputsBf16(c: AttnCase, seed = 1) {
  const h = attnInputs(c, seed);
  const [q, k, v] = [f16ToBf16(h.q), f16ToBf16(h.k), f16ToBf16(h.v)];
  return { L: h.L, bits: { q, k, v }, q: bf16ToF32(q), k: bf16ToF32(k), v: bf16ToF32(v) };
}

/** runAttn on a bf16 cache (the same two appends); returns O's bf16 bits. */
export function runAttnBf16(dev: Device, c: AttnCase, inp: ReturnType<typeof attnInputsBf16>): Uint16Array {
  const row = c.kvHeads * c.D;
  using cache = dev.kvCache({ kvHeads: c.kvHeads, headDim: c.D, capacity: inp.L + 3, dtype: "bf16" });
  using k = dev.tensor(inp.bits.k, [inp.L, row], "bf16");
  using v = dev.tensor(inp.bits.v, [inp.L, row], "bf16");
  if (c.offset > 0) cache.append(k, v, c.offset);
  cache.append({ tensor: k, offset: c.offset * row }, { tensor: v, offset: c.offset * row }, c.T);
  using q = dev.tensor(inp.bits.q, [c.T, c.heads * c.D], "bf16");
  using o = dev.attention(q, cache, { heads: c.heads, causal: c.causal, splits: c.splits });
  return o.toArray() as Uint16Array;
}

/** [Hkv, L, D] head-major copy of token-major [L, Hkv, D] data (the reference's layout). */
export function headMajor(x: ArrayLike<number>, L: number, H: number, D: number): Float64Array {
  const out = new Float64Array(L * H * D);
  for (let t = 0; t < L; t++) {
    for (let h = 0; h < H; h++) for (let d = 0; d < D; d++) out[(h * L + t) * D + d] = x[(t * H + h) * D + d];
  }
  return out;
}

/** Inputs checkAttn compares against: q [T, Hq, D] and k, v [L, Hkv, D] token-major, as exact values. */
export interface AttnValues {
  L: number;
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
}

/**
 * Compares O with the float64 reference. Bound: a score s = scale·q·k is accumulated in float over D
 * terms (error <= (D + 2)·2^-24·scale·Σ|q·k|, q pre-scaled); a weight p_j = exp(s_j - m)/l then errs
 * relatively by twice the worst score error plus the float sum of up to L terms ((L + 8)·2^-24) and
 * exp's few ulp; O = Σ p_j v_j adds (L + 8)·2^-24 of Σ|p_j v_j|; the store half an ulp: 2^-11 relative
 * for f16 (11-bit significand), 2^-8 for bf16 (8-bit significand). `got` holds O's values (for bf16,
 * decode the bits with bf16ToF32 first).
 */
export function checkAttn(
  c: AttnCase,
  inp: AttnValues,
  got: ArrayLike<number>,
  dtype: "f16" | "bf16" = "f16",
): void {
  const { L } = inp;
  const scale = 1 / Math.sqrt(c.D);
  const k = headMajor(inp.k, L, c.kvHeads, c.D), v = headMajor(inp.v, L, c.kvHeads, c.D);
  const opts = {
    tokens: c.T,
    heads: c.heads,
    kvHeads: c.kvHeads,
    headDim: c.D,
    kvLength: L,
    positionOffset: c.offset,
    causal: c.causal ?? true,
    scale,
  };
  const { out, absOut } = attentionF64(inp.q, k, v, opts);
  // The worst Σ|q·k| over the case bounds every score's error.
  const qa = Float64Array.from(inp.q, Math.abs), ka = Float64Array.from(k, Math.abs);
  let maxAbsDot = 0;
  const G = c.heads / c.kvHeads;
  for (let t = 0; t < c.T; t++) {
    for (let h = 0; h < c.heads; h++) {
      const kvh = Math.floor(h / G);
      for (let j = 0; j < L; j++) {
        let s = 0;
        for (let d = 0; d < c.D; d++) s += qa[(t * c.heads + h) * c.D + d] * ka[(kvh * L + j) * c.D + d];
        maxAbsDot = Math.max(maxAbsDot, s);
      }
    }
  }
  const scoreErr = (c.D + 2) * 2 ** -24 * scale * maxAbsDot + 4 * 2 ** -24;
  const rel = 2 * scoreErr + 2 * (L + 8) * 2 ** -24 + 2 ** -20;
  const half = dtype === "bf16" ? 2 ** -8 : 2 ** -11;
  assertWithin(
    `${attnLabel(c)} ${dtype}`,
    got,
    out,
    (i) => Math.abs(out[i]) * half + absOut[i] * rel + 2 ** -24,
  );
}
