// Rotary position embedding (shaders/rope.metal): half-split or interleaved pairs, a position offset,
// partial rotary dims; in place, or from a source into a destination with its own pitches (how the
// KV cache writes rotated K straight into its rows). x and out are f16 or bf16 (the same), one kernel.
import { InvalidArgumentError } from "../runtime/errors.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { bf16Flag, checkAct } from "./act_dtype.ts";
import {
  checkInt,
  checkRows,
  kernel,
  type OpDevice,
  type Operand,
  operandParts,
  Params,
  rawBytes,
  rowsThatFit,
} from "./layer_common.ts";

/** Rotary embedding settings of a model. */
export interface RopeConfig {
  /** Leading dims of each head that rotate (even, <= headDim). Default: headDim. */
  rotaryDim?: number;
  /** Frequency base θ: inv_freq[i] = base^(-2i / rotaryDim). Default 10000. */
  base?: number;
  /** Pairs (2i, 2i+1) as GPT-J; default false: pairs (i, i + rotaryDim/2) as Llama / Hugging Face. */
  interleaved?: boolean;
  /** Custom inv_freq table (rotaryDim/2 entries), e.g. a scaled RoPE; overrides base. */
  invFreq?: Float32Array;
}

/** Options of rope(). Pitches are in elements. */
export interface RopeOptions extends RopeConfig {
  /** Query or key heads per token. */
  heads: number;
  /** Elements per head. */
  headDim: number;
  /** Position of the first token (the KV-cache length before these tokens). Default 0. */
  positionOffset?: number;
  /** Tokens to rotate. Default: the whole rows x holds from its offset. */
  tokens?: number;
  /** Pitch between tokens in x. Default heads * headDim. */
  srcTokenPitch?: number;
  /** Pitch between heads in x. Default headDim. */
  srcHeadPitch?: number;
  /** Destination, of x's dtype; default x itself (in place). */
  out?: Operand;
  /** Pitch between tokens in out. Default: srcTokenPitch when out is x, else heads * headDim. */
  dstTokenPitch?: number;
  /** Pitch between heads in out. Default headDim. */
  dstHeadPitch?: number;
}

const P = new Params(12); // RopeParams
const tables = new WeakMap<object, Map<string, Tensor>>();

/** base^(-2i/rot) for i < rot/2, computed in float64 and rounded once to f32 (as HF's inv_freq). */
export function ropeInvFreq(rotaryDim: number, base = 10000): Float32Array {
  const t = new Float32Array(rotaryDim / 2);
  for (let i = 0; i < t.length; i++) t[i] = Math.pow(base, -(2 * i) / rotaryDim);
  return t;
}

function invFreqTensor(dev: OpDevice, op: string, rot: number, cfg: RopeConfig): Tensor {
  let table = cfg.invFreq;
  if (table !== undefined && (!(table instanceof Float32Array) || table.length !== rot / 2)) {
    throw new InvalidArgumentError(
      `${op}: invFreq must be a Float32Array of rotaryDim/2 = ${rot / 2} entries`,
      op,
    );
  }
  const base = cfg.base ?? 10000;
  if (!(base > 0) || !Number.isFinite(base)) {
    throw new InvalidArgumentError(`${op}: base must be > 0, got ${base}`, op);
  }
  let cache = tables.get(dev);
  if (!cache) tables.set(dev, cache = new Map());
  const key = table ? "" : `${rot}:${base}`;
  const hit = key ? cache.get(key) : undefined;
  if (hit && !hit.disposed) return hit;
  table ??= ropeInvFreq(rot, base);
  const t = dev.tensor(table.length > 0 ? table : new Float32Array(1), [Math.max(1, table.length)]);
  if (key) cache.set(key, t);
  return t;
}

/**
 * Rotates `tokens` rows of `heads` heads of x (f16 or bf16) by their positions positionOffset + t: the
 * first rotaryDim dims of each head rotate (in float, rounded once to x's dtype), the rest are copied bit
 * for bit. In place by default; with `out` (x's dtype, else InvalidArgumentError naming the conversion),
 * the result goes there (with its own pitches) and x is only read. Returns the destination tensor.
 */
export function rope(dev: OpDevice, x: Operand, opts: RopeOptions): Tensor {
  const op = "rope";
  const heads = checkInt(op, "heads", opts.heads, 1);
  const headDim = checkInt(op, "headDim", opts.headDim, 1);
  const rot = checkInt(op, "rotaryDim", opts.rotaryDim ?? headDim, 0, headDim);
  if (rot % 2 !== 0) throw new InvalidArgumentError(`${op}: rotaryDim must be even, got ${rot}`, op);
  const srcTok = checkInt(op, "srcTokenPitch", opts.srcTokenPitch ?? heads * headDim, 1);
  const srcHead = checkInt(op, "srcHeadPitch", opts.srcHeadPitch ?? headDim, 1);
  const rowLen = (heads - 1) * srcHead + headDim;
  const tokens = checkInt(op, "tokens", opts.tokens ?? rowsThatFit(x, rowLen, srcTok), 0);
  const pos0 = checkInt(op, "positionOffset", opts.positionOffset ?? 0, 0);
  const act = checkAct(op, "x", operandParts(x).tensor);
  const src = checkRows(op, "x", x, act, tokens, rowLen, srcTok, true);
  const inPlace = opts.out === undefined;
  if (opts.out !== undefined) checkAct(op, "out", operandParts(opts.out).tensor, act);
  const dstTok = checkInt(op, "dstTokenPitch", opts.dstTokenPitch ?? (inPlace ? srcTok : heads * headDim), 1);
  const dstHead = checkInt(op, "dstHeadPitch", opts.dstHeadPitch ?? headDim, 1);
  const dst = checkRows(
    op,
    "out",
    opts.out ?? x,
    act,
    tokens,
    (heads - 1) * dstHead + headDim,
    dstTok,
    true,
  );
  if (tokens === 0) return dst.tensor;
  const freq = invFreqTensor(dev, op, rot, opts);
  const mode = opts.interleaved === true ? 1 : 0;
  // ushort2 pairs need 4-byte alignment: every element offset and pitch even (buffers are 256-byte aligned).
  const even = [src.offset, dst.offset, srcTok, srcHead, dstTok, dstHead].every((v) => v % 2 === 0);
  P.u32.set([
    tokens,
    heads,
    headDim,
    rot,
    srcTok,
    srcHead,
    dstTok,
    dstHead,
    pos0,
    mode,
    mode === 1 && even ? 1 : 0,
    bf16Flag(act),
  ]);
  // src and dst bound as raw 16-bit words: the kernel reads and writes f16 or bf16 by the last word.
  kernel(dev, "rope").dispatch({
    grid: [tokens, heads],
    threadgroupSize: 64,
    args: [freq, rawBytes(src), rawBytes(dst), P.u32],
  });
  return dst.tensor;
}
