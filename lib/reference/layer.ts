// Float64 reference of a decoder layer (Llama-style or MoE), rounding to f16 (or bf16) exactly where the
// device stores a tensor of the activation dtype, so the two differ only by float accumulation and the
// rounding flips it causes.
import type { QuantizedMatrix } from "../quant/types.ts";
import { dequantizeF64, matmulF64 } from "./gemm.ts";
import { attentionF64 } from "./attention.ts";
import { combineF64, routeF64, routerLogitsF64, sortPairsF64 } from "./moe.ts";
import { rmsNormF64 } from "./norm.ts";
import { ropeF64 } from "./rope.ts";
import { roundBf16, roundF16 } from "./round.ts";

const silu = (v: number): number => v / (1 + Math.exp(-v));

/** Host-side weights of a reference layer (the same quantized matrices the device got). */
export interface LayerRefWeights {
  /** Input norm [hidden]. */
  attnNorm: ArrayLike<number>;
  /** Fused q|k|v projection. */
  qkv: QuantizedMatrix;
  /** Output projection. */
  o: QuantizedMatrix;
  /** Post-attention norm [hidden]. */
  mlpNorm: ArrayLike<number>;
  /** Dense MLP, or MoE experts (batched gate/up/down, router [E, hidden]) with an optional shared expert. */
  mlp:
    | { gate: QuantizedMatrix; up: QuantizedMatrix; down: QuantizedMatrix }
    | {
      router: ArrayLike<number>;
      gate: QuantizedMatrix;
      up: QuantizedMatrix;
      down: QuantizedMatrix;
      topK: number;
      shared?: { gate: QuantizedMatrix; up: QuantizedMatrix; down: QuantizedMatrix };
    };
}

/** Shape of a reference layer. */
export interface LayerRefConfig {
  /** Query heads. */
  heads: number;
  /** KV heads. */
  kvHeads: number;
  /** Head dim. */
  headDim: number;
  /** RMSNorm epsilon. */
  eps: number;
  /** RoPE inv_freq table (headDim/2 entries). */
  invFreq: ArrayLike<number>;
  /** Activation (and cache) dtype the device stores intermediates in. Default "f16". */
  dtype?: "f16" | "bf16";
}

/** A reference layer with its own f64 cache of (f16- or bf16-rounded) keys and values. */
export class LayerRef {
  #k: number[][] = [];
  #v: number[][] = [];
  #w: LayerRefWeights;
  #cfg: LayerRefConfig;
  #deq = new Map<QuantizedMatrix, Float64Array>();

  /** A layer with these weights and shape, at position 0 (empty cache). */
  constructor(w: LayerRefWeights, cfg: LayerRefConfig) {
    this.#w = w;
    this.#cfg = cfg;
  }

  #mm(a: ArrayLike<number>, q: QuantizedMatrix, m: number, batch = -1): Float64Array {
    let d = this.#deq.get(q);
    if (!d) this.#deq.set(q, d = dequantizeF64(q));
    const b = batch < 0 ? d : d.subarray(batch * q.k * q.n, (batch + 1) * q.k * q.n);
    return matmulF64(a, b, m, q.k, q.n);
  }

  /** Runs T tokens (x [T, hidden], values of the dtype) at the next positions; returns [T, hidden]. */
  forward(x: ArrayLike<number>, T: number): Float64Array {
    const { heads: H, kvHeads: Hkv, headDim: D, eps, invFreq } = this.#cfg;
    // The rounding of every stored intermediate to the activation dtype.
    const round = this.#cfg.dtype === "bf16" ? roundBf16 : roundF16;
    const w = this.#w;
    const hidden = w.attnNorm.length;
    const pos0 = this.#k.length;
    const qkv = round(this.#mm(round(rmsNormF64(x, w.attnNorm, T, hidden, eps)), w.qkv, T));
    const N = (H + 2 * Hkv) * D;
    const part = (from: number, heads: number) =>
      Float64Array.from(
        { length: T * heads * D },
        (_, i) => qkv[Math.floor(i / (heads * D)) * N + from + (i % (heads * D))],
      );
    const ropeOpts = { headDim: D, rotaryDim: D, positionOffset: pos0, interleaved: false, invFreq };
    const q = round(ropeF64(part(0, H), T, { ...ropeOpts, heads: H }));
    const kNew = round(ropeF64(part(H * D, Hkv), T, { ...ropeOpts, heads: Hkv }));
    const v = part((H + Hkv) * D, Hkv);
    for (let t = 0; t < T; t++) {
      this.#k.push(Array.from(kNew.subarray(t * Hkv * D, (t + 1) * Hkv * D)));
      this.#v.push(Array.from(v.subarray(t * Hkv * D, (t + 1) * Hkv * D)));
    }
    const L = this.#k.length;
    const headMajor = (rows: number[][]) => {
      const out = new Float64Array(Hkv * L * D);
      for (let j = 0; j < L; j++) {
        for (let h = 0; h < Hkv; h++) {
          for (let d = 0; d < D; d++) out[(h * L + j) * D + d] = rows[j][h * D + d];
        }
      }
      return out;
    };
    const att = round(
      attentionF64(q, headMajor(this.#k), headMajor(this.#v), {
        tokens: T,
        heads: H,
        kvHeads: Hkv,
        headDim: D,
        kvLength: L,
        positionOffset: pos0,
        causal: true,
        scale: 1 / Math.sqrt(D),
      }).out,
    );
    const o = this.#mm(att, w.o, T);
    const x1 = round(o.map((val, i) => val + x[i]));
    const n = round(rmsNormF64(x1, w.mlpNorm, T, hidden, eps));
    const swiglu = (a: ArrayLike<number>, m: number, g: QuantizedMatrix, u: QuantizedMatrix, e = -1) => {
      const gv = this.#mm(a, g, m, e), uv = this.#mm(a, u, m, e);
      return round(gv.map((val, i) => silu(val) * uv[i]));
    };
    const mlp = w.mlp;
    if (!("router" in mlp)) {
      const h = swiglu(n, T, mlp.gate, mlp.up);
      return round(this.#mm(h, mlp.down, T).map((val, i) => val + x1[i]));
    }
    const E = mlp.gate.batch ?? 1, k = mlp.topK;
    const r = routeF64(routerLogitsF64(n, mlp.router, T, E), T, E, k);
    const { sorted, inverse } = sortPairsF64(r.ids, E);
    const y = new Float64Array(T * k * hidden);
    for (let i = 0; i < T * k; i++) {
      const p = sorted[i], t = Math.floor(p / k), e = r.ids[p];
      const h = swiglu(n.subarray(t * hidden, (t + 1) * hidden), 1, mlp.gate, mlp.up, e);
      y.set(round(this.#mm(h, mlp.down, 1, e)), i * hidden);
    }
    let add: Float64Array = x1;
    if (mlp.shared) {
      const hs = swiglu(n, T, mlp.shared.gate, mlp.shared.up);
      add = round(this.#mm(hs, mlp.shared.down, T).map((val, i) => val + x1[i]));
    }
    return round(combineF64(y, Float32Array.from(r.weights), inverse, T, k, hidden, add).out);
  }
}
