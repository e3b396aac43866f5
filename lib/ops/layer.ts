// Layer helpers built from the op families: RMSNorm + quantized linear (the norm computed once per row,
// then one GEMM), the SwiGLU MLP with its residual, and Llama-style / MoE decoder layers over a KV cache.
import type { Tensor } from "../runtime/tensor.ts";
import { ShapeError } from "../runtime/errors.ts";
import { gemm, type GemmOptions } from "./gemm.ts";
import { attention, type KVCache } from "./attention.ts";
import { checkAct } from "./act_dtype.ts";
import { lastDim, type OpDevice, scratch } from "./layer_common.ts";
import { moe, type MoeWeights } from "./moe.ts";
import { rmsNorm } from "./norm.ts";
import { rope, type RopeConfig } from "./rope.ts";
import type { QuantizedWeight } from "./weight.ts";

/**
 * y = RMSNorm(x; gamma, eps) · W (+ the GEMM epilogue in `opts`: bias, activation, residual, SwiGLU
 * via `up`). x is f16 or bf16 (gamma either, on its own); y, and any residual, bias or out, take x's
 * dtype. The norm runs once per row into a reused scratch [M, K] of x's dtype, then one quantized GEMM
 * (decode or prefill kernel by M): no column block recomputes it.
 * Why two dispatches and not one kernel: every GEMM column block reads its rows of x anyway; a kernel
 * that normalised while staging would also read gamma (K values) per block, about twice the x-side bytes
 * of reading the normalised copy, which costs one K-element write and read per row.
 */
export function rmsNormLinear(
  dev: OpDevice,
  x: Tensor,
  gamma: Tensor,
  w: QuantizedWeight,
  opts: GemmOptions & { eps?: number } = {},
): Tensor {
  const K = gamma.length;
  const M = x.length / K;
  if (!Number.isInteger(M)) {
    throw new ShapeError(`rmsNormLinear: x has ${x.length} elements, not rows of ${K}`, "rmsNormLinear");
  }
  // Mixed dtypes are refused before the norm runs; one scratch per dtype (the GEMM takes its activation
  // dtype from the normed rows).
  const act = checkAct("rmsNormLinear", "x", x);
  for (const what of ["out", "bias", "residual"] as const) {
    const t = opts[what];
    if (t !== undefined) checkAct("rmsNormLinear", what, t, act);
  }
  const normed = scratch(dev, `rmsNormLinear-${act}`, M * K, act);
  rmsNorm(dev, x, gamma, { eps: opts.eps, rows: M, out: normed });
  const { eps: _eps, ...g } = opts;
  return gemm(dev, normed, w, { ...g, m: M, lda: K });
}

/** SwiGLU MLP weights: down(silu(x·gate) * (x·up)). */
export interface MlpWeights {
  /** Gate projection (k = hidden). */
  gate: QuantizedWeight;
  /** Up projection (same dims and format as gate). */
  up: QuantizedWeight;
  /** Down projection (k = intermediate, n = hidden). */
  down: QuantizedWeight;
}

/**
 * down(silu(x·gate) * (x·up)) (+ residual): two GEMM calls over the existing SwiGLU and residual
 * epilogues. x is f16 or bf16; the hidden h = silu(x·gate)·(x·up) is stored in x's dtype, the residual
 * must have it too (InvalidArgumentError otherwise, naming the conversion), and so does the result.
 */
export function mlp(dev: OpDevice, x: Tensor, w: MlpWeights, residual?: Tensor): Tensor {
  // Checked here, before the first GEMM runs, so a mixed residual fails as "mlp: ..." with nothing queued.
  const act = checkAct("mlp", "x", x);
  if (residual !== undefined) checkAct("mlp", "residual", residual, act);
  const h = gemm(dev, x, w.gate, { up: w.up });
  try {
    return gemm(dev, h, w.down, residual ? { residual } : {});
  } finally {
    h.dispose();
  }
}

/** Shape of a decoder layer. */
export interface DecoderConfig {
  /** Query heads. */
  heads: number;
  /** Key/value heads (GQA when fewer than heads). */
  kvHeads: number;
  /** Elements per head. */
  headDim: number;
  /** RMSNorm epsilon. Default 1e-6. */
  eps?: number;
  /** RoPE settings (rotaryDim defaults to headDim). Default: base 10000, half-split. */
  rope?: RopeConfig;
}

/** Weights of a Llama-style decoder layer (quantized projections, f16 or bf16 norms). */
export interface DecoderWeights {
  /** f16 or bf16 [hidden] input norm. */
  attnNorm: Tensor;
  /** Fused [q | k | v] projection: n = (heads + 2·kvHeads)·headDim. */
  qkv: QuantizedWeight;
  /** Output projection: k = heads·headDim, n = hidden. */
  o: QuantizedWeight;
  /** f16 or bf16 [hidden] post-attention norm. */
  mlpNorm: Tensor;
  /** The MLP: a dense SwiGLU MLP, or an MoE block. */
  mlp: MlpWeights | MoeWeights;
}

/**
 * One decoder layer over x (f16 or bf16 [T, hidden]) at positions cache.length ..: RMSNorm → fused QKV →
 * RoPE (Q in place, K on its way into the cache) → attention with the cache → O + residual → RMSNorm →
 * SwiGLU MLP or MoE → + residual. Appends T tokens to `cache` (of x's dtype, as is an MoE router); every
 * intermediate is stored in x's dtype. Returns [T, hidden] of x's dtype.
 */
export function decoderLayer(
  dev: OpDevice,
  x: Tensor,
  w: DecoderWeights,
  cfg: DecoderConfig,
  cache: KVCache,
): Tensor {
  const { heads, kvHeads, headDim: D } = cfg;
  const hidden = lastDim(x);
  const T = x.length / hidden;
  const qkvN = (heads + 2 * kvHeads) * D;
  if (w.qkv.n !== qkvN) {
    throw new ShapeError(
      `decoderLayer: qkv has N=${w.qkv.n}, expected (${heads} + 2·${kvHeads})·${D} = ${qkvN}`,
      "decoderLayer",
    );
  }
  const pos0 = cache.length;
  const ropeCfg = { rotaryDim: D, ...cfg.rope };
  const temps: Tensor[] = [];
  try {
    const qkv = rmsNormLinear(dev, x, w.attnNorm, w.qkv, { eps: cfg.eps });
    temps.push(qkv);
    rope(dev, qkv, { ...ropeCfg, heads, headDim: D, tokens: T, positionOffset: pos0, srcTokenPitch: qkvN });
    cache.append({ tensor: qkv, offset: heads * D }, { tensor: qkv, offset: (heads + kvHeads) * D }, T, {
      tokenPitch: qkvN,
      rope: ropeCfg,
    });
    const att = attention(dev, qkv, cache, { heads, tokens: T, ldq: qkvN, positionOffset: pos0 });
    temps.push(att);
    const x1 = gemm(dev, att, w.o, { residual: x });
    temps.push(x1);
    if ("router" in w.mlp) {
      const n = rmsNorm(dev, x1, w.mlpNorm, { eps: cfg.eps });
      temps.push(n);
      return moe(dev, n, w.mlp, x1);
    }
    const h = rmsNormLinear(dev, x1, w.mlpNorm, w.mlp.gate, { eps: cfg.eps, up: w.mlp.up });
    temps.push(h);
    return gemm(dev, h, w.mlp.down, { residual: x1 });
  } finally {
    for (const t of temps) t.dispose();
  }
}
