// Mixture of experts (shaders/moe.metal): route, sort (token, slot) pairs by expert, grouped GEMM over
// the sorted rows with per-expert quantized weights [E, ...], and the weighted combine; moe() chains
// them into one expert MLP block (gate/up SwiGLU, down) with an optional shared expert and residual.
// Activations are f16 or bf16: the first operand fixes the dtype, the rest must match (act_dtype.ts).
import { InvalidArgumentError, ShapeError } from "../runtime/errors.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { gemm } from "./gemm.ts";
import {
  checkDtype,
  checkInt,
  checkRows,
  kernel,
  type OpDevice,
  Params,
  rawBytes,
  scratch,
} from "./layer_common.ts";
import { QuantizedWeight } from "./weight.ts";
import { actDtypeOf, bf16Flag, checkSameAct } from "./act_dtype.ts";

/** Output of moeRoute(): per token, k expert ids and their weights. */
export interface MoeRouting {
  /** u32 [T, k] expert ids, best first; ties go to the lower expert index. */
  ids: Tensor;
  /** f32 [T, k] weights: softmax probabilities, renormalised over the k unless `renormalize: false`. */
  weights: Tensor;
}

/** Output of moeSort(): the pairs p = t·k + slot ordered by expert (stable). */
export interface MoeSorted {
  /** u32 [P]: sorted[i] = the pair at sorted position i (ascending pair order within an expert). */
  sorted: Tensor;
  /** u32 [E + 1]: expert e owns sorted positions offsets[e] .. offsets[e+1] - 1. */
  offsets: Tensor;
  /** u32 [P]: inverse[p] = the sorted position of pair p. */
  inverse: Tensor;
  /** Number of experts. */
  experts: number;
  /** Experts per token. */
  topK: number;
}

const RP = new Params(8), SP = new Params(4), GP = new Params(20), CP = new Params(8);

/**
 * Router: logits = x · routerᵀ for every expert (router [E, D], the nn.Linear layout, whose rows the
 * kernel reads coalesced), softmax, top-k (ties to the lower index), optional renormalisation.
 * x is [T, D], f16 or bf16; the router has x's dtype (InvalidArgumentError otherwise). E <= 256,
 * k <= min(E, 16).
 */
export function moeRoute(
  dev: OpDevice,
  x: Tensor,
  router: Tensor,
  opts: { topK: number; experts: number; renormalize?: boolean },
): MoeRouting {
  const op = "moeRoute";
  const E = checkInt(op, "experts", opts.experts, 1, 256);
  const k = checkInt(op, "topK", opts.topK, 1, Math.min(E, 16));
  const act = actDtypeOf(op, "x", x);
  checkSameAct(op, "router", router, act, "x", "x and the router");
  const rlen = router.length;
  if (rlen % E !== 0) {
    throw new ShapeError(`${op}: router has ${rlen} elements, not a multiple of ${E} experts`, op);
  }
  const D = rlen / E;
  if (x.length % D !== 0) throw new ShapeError(`${op}: x has ${x.length} elements, not rows of D=${D}`, op);
  const T = x.length / D;
  const ids = dev.empty([T, k], "u32");
  const weights = dev.empty([T, k], "f32");
  if (T > 0) {
    RP.u32.set([T, E, k, D, D, opts.renormalize === false ? 0 : 1, bf16Flag(act), 0]);
    kernel(dev, "moe_router_f16").dispatch({
      grid: Math.ceil(T / 8), // MOE_ROUTER_TOKENS tokens per threadgroup
      threadgroupSize: 128,
      args: [rawBytes(router), rawBytes(x), ids, weights, RP.u32],
    });
  }
  return { ids, weights };
}

/** Stable, deterministic counting sort of the T·k routing pairs by expert (ids u32 [T, k], each < E). */
export function moeSort(dev: OpDevice, ids: Tensor, experts: number): MoeSorted {
  const op = "moeSort";
  const E = checkInt(op, "experts", experts, 1, 256);
  const P = checkDtype(op, "ids", ids, "u32");
  const topK = ids.shape.length === 2 ? ids.shape[1] : 1;
  const sorted = dev.empty([Math.max(P, 1)], "u32");
  const offsets = dev.empty([E + 1], "u32");
  const inverse = dev.empty([Math.max(P, 1)], "u32");
  SP.u32.set([P, E, 0, 0]);
  kernel(dev, "moe_sort").dispatch({
    grid: 1,
    threadgroupSize: 256,
    args: [ids, sorted, offsets, inverse, SP.u32],
  });
  return { sorted, offsets, inverse, experts: E, topK };
}

/** Options of moeGemm(). */
export interface MoeGemmOptions {
  /** true: row i of the output reads token sorted[i] / k of a ([T, K]); false: a is already [P, K] sorted. */
  gather: boolean;
  /**
   * SwiGLU: out = silu(a·W) * (a·up), up with the same shape, format, group size and scale storage as W
   * (its own nvfp4 tensor scale). Default none.
   */
  up?: QuantizedWeight;
}

// The zeros slot carries int4 zero points or int4-affine biases (as in gemm); a placeholder otherwise.
function zerosOf(dev: OpDevice, w: QuantizedWeight): Tensor {
  return w.zeros ?? w.biases ?? scratch(dev, "moe-no-zeros", 1, "u8");
}

/**
 * Grouped GEMM over the sorted pairs: output row i ([P, N], sorted order, a's dtype) = A-row(i) · W[e]
 * with e the expert of sorted position i; `w` holds E experts (a batched QuantizedWeight, batch = E).
 * Each threadgroup serves up to 16 rows of one expert and reads that expert's weights once. Every weight
 * format, group size and scale storage that gemm() takes; `a` is f16 or bf16 (InvalidArgumentError
 * otherwise).
 */
export function moeGemm(
  dev: OpDevice,
  a: Tensor,
  w: QuantizedWeight,
  s: MoeSorted,
  opts: MoeGemmOptions,
): Tensor {
  const op = "moeGemm";
  if (!(w instanceof QuantizedWeight)) {
    throw new InvalidArgumentError(`${op}: w must be a QuantizedWeight`, op);
  }
  w.assertLive(op);
  if (w.batch !== s.experts) {
    throw new ShapeError(`${op}: w holds ${w.batch} experts but the routing has ${s.experts}`, op);
  }
  const up = opts.up;
  if (up) {
    up.assertLive(op);
    if (
      up.batch !== w.batch || up.k !== w.k || up.n !== w.n || up.kp !== w.kp || up.np !== w.np ||
      up.format !== w.format || up.groupSize !== w.groupSize || up.scaleDtype !== w.scaleDtype
    ) {
      throw new ShapeError(
        `${op}: up (${up.format} k=${up.k} n=${up.n} gs=${up.groupSize} experts=${up.batch} scales ` +
          `${up.scaleDtype}) must match w (${w.format} k=${w.k} n=${w.n} gs=${w.groupSize} ` +
          `experts=${w.batch} scales ${w.scaleDtype})`,
        op,
      );
    }
  }
  const P = s.sorted.length;
  const rows = opts.gather ? P / s.topK : P;
  const act = actDtypeOf(op, "a", a);
  const A = checkRows(op, "a", a, act, rows, w.k, w.k);
  const out = dev.empty([P, w.n], act);
  GP.u32.set([
    w.n,
    w.k,
    Math.ceil(w.k / 8),
    w.np,
    w.k,
    w.n,
    s.experts,
    s.topK,
    (w.kp / 8) * w.np,
    (w.kp / w.groupSize) * w.np,
    opts.gather ? 1 : 0,
    up ? 1 : 0,
    w.formatId,
    w.groupSize,
    w.scaleDtypeId,
  ]);
  GP.f32[15] = w.tensorScale;
  GP.f32[16] = (up ?? w).tensorScale;
  GP.u32[17] = bf16Flag(act);
  const u = up ?? w;
  kernel(dev, "moe_gemm").dispatch({
    // Tiles per expert: ceil(count / 16), so in total <= ceil(P / 16) + E, and <= P (every tile has a row):
    // M = 1 decode launches exactly k tiles per column block, no idle threadgroups.
    grid: [Math.ceil(w.n / 32), Math.min(Math.ceil(P / 16) + s.experts, Math.max(P, 1))],
    threadgroupSize: 128,
    args: [
      w.packed,
      rawBytes(w.scales),
      rawBytes(zerosOf(dev, w)),
      rawBytes(A.tensor),
      rawBytes(out),
      GP.u32,
      s.sorted,
      s.offsets,
      u.packed,
      rawBytes(u.scales),
      rawBytes(zerosOf(dev, u)),
    ],
  });
  return out;
}

/**
 * out[t] = add[t] + Σ_slot weights[t, slot] · y[inverse[t·k + slot]] (slots in order, one writer per
 * output: no races, same bits every run). y is [P, N] in sorted order, f16 or bf16; add (optional)
 * [T, N] and out have y's dtype.
 */
export function moeCombine(dev: OpDevice, y: Tensor, r: MoeRouting, s: MoeSorted, add?: Tensor): Tensor {
  const op = "moeCombine";
  const T = r.ids.shape[0];
  const N = y.shape[y.shape.length - 1];
  const weights = checkDtype(op, "weights", r.weights, "f32");
  if (weights !== T * s.topK || r.ids.length !== T * s.topK) {
    throw new ShapeError(
      `${op}: ids and weights need ${T}·${s.topK} = ${
        T * s.topK
      } entries, have ${r.ids.length} and ${weights}`,
      op,
    );
  }
  const act = actDtypeOf(op, "y", y);
  checkRows(op, "y", y, act, s.sorted.length, N, N);
  if (add) {
    checkSameAct(op, "add", add, act, "y", "y and add");
    checkRows(op, "add", add, act, T, N, N);
  }
  const out = dev.empty([T, N], act);
  CP.u32.set([T, N, s.topK, N, N, add ? 1 : 0, N, bf16Flag(act)]);
  if (T > 0) {
    kernel(dev, "moe_combine").dispatch({
      grid: [Math.ceil(N / 128), T],
      threadgroupSize: 128,
      args: [rawBytes(y), r.weights, s.inverse, rawBytes(out), CP.u32, rawBytes(add ?? y)],
    });
  }
  return out;
}

/** Weights of an MoE block (experts batched [E, ...]; router [E, D] of the activations' dtype). */
export interface MoeWeights {
  /** [E, D] router (nn.Linear layout), f16 or bf16 like x. */
  router: Tensor;
  /** Expert gate projections, batch E, k = D. */
  gate: QuantizedWeight;
  /** Expert up projections, batch E, k = D. */
  up: QuantizedWeight;
  /** Expert down projections, batch E, n = D. */
  down: QuantizedWeight;
  /** Experts per token. */
  topK: number;
  /** Renormalise the top-k weights (Mixtral, Qwen-MoE norm_topk_prob). Default true. */
  renormalize?: boolean;
  /** A shared expert every token also takes (unbatched gate/up/down), added with weight 1. */
  shared?: { gate: QuantizedWeight; up: QuantizedWeight; down: QuantizedWeight };
}

/**
 * One MoE MLP block: route x ([T, D], f16 or bf16), sort, per-expert silu(x·gate)·(x·up) then ·down, and
 * the weighted combine, plus the shared expert and `residual` ([T, D]) when given. The router and residual
 * have x's dtype (InvalidArgumentError naming the conversion otherwise). Returns [T, D] of x's dtype.
 */
export function moe(dev: OpDevice, x: Tensor, w: MoeWeights, residual?: Tensor): Tensor {
  const op = "moe";
  const act = actDtypeOf(op, "x", x);
  if (residual) checkSameAct(op, "residual", residual, act, "x", "x, the router and residual");
  const E = w.gate.batch;
  const r = moeRoute(dev, x, w.router, { topK: w.topK, experts: E, renormalize: w.renormalize });
  const temps: Tensor[] = [r.ids, r.weights];
  try {
    const s = moeSort(dev, r.ids, E);
    temps.push(s.sorted, s.offsets, s.inverse);
    const h = moeGemm(dev, x, w.gate, s, { gather: true, up: w.up });
    temps.push(h);
    const y = moeGemm(dev, h, w.down, s, { gather: false });
    temps.push(y);
    let add = residual;
    if (w.shared) {
      const hs = gemm(dev, x, w.shared.gate, { up: w.shared.up });
      temps.push(hs);
      add = gemm(dev, hs, w.shared.down, residual ? { residual } : {});
      temps.push(add);
    }
    return moeCombine(dev, y, r, s, add);
  } finally {
    for (const t of temps) t.dispose();
  }
}
