// Attention over a KV cache (shaders/attention.metal): a cache that appends in place, and flash
// attention with causal masking from the cache offset, GQA, head dims up to 256, and a split-KV decode
// path for long caches (partials merged by attn_combine in split order).
import { DisposedError, InvalidArgumentError, LimitError, ShapeError } from "../runtime/errors.ts";
import { registerChild } from "../runtime/internal.ts";
import type { Tensor } from "../runtime/tensor.ts";
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
  scratch,
} from "./layer_common.ts";
import { rope, type RopeConfig } from "./rope.ts";
import { type ActDType, actDtypeOf, bf16Flag, checkSameAct } from "./act_dtype.ts";

/** Shape of a KV cache. */
export interface KVCacheOptions {
  /** Key/value heads. */
  kvHeads: number;
  /** Elements per head: a multiple of 8, at most 256. */
  headDim: number;
  /** Positions the cache can hold. */
  capacity: number;
  /** Element type of keys and values (and so of the queries and output of attention()). Default "f16". */
  dtype?: ActDType;
}

/** Where append() reads the new keys and values. Pitches in elements. */
export interface KVAppendOptions {
  /** Pitch between tokens of k and v. Default kvHeads * headDim. */
  tokenPitch?: number;
  /** RoPE applied to the keys as they are written (positions length .. length + T - 1). Default none. */
  rope?: RopeConfig;
}

/**
 * A per-layer K/V cache: k and v are f16 (default) or bf16 tensors [kvHeads, capacity, headDim] (each
 * head's positions contiguous, so attention reads key tiles with coalesced loads). append() writes new
 * tokens at position `length` in place: the kernels take the destination as a binding at an element offset
 * (`{ tensor, offset }`); when tensor views at an offset land (#10) this becomes a view.
 */
export class KVCache implements Disposable {
  /** Key heads. */
  readonly kvHeads: number;
  /** Elements per head. */
  readonly headDim: number;
  /** Positions the cache can hold. */
  readonly capacity: number;
  /** Element type of k and v: "f16" or "bf16". */
  readonly dtype: ActDType;
  /** Keys, [kvHeads, capacity, headDim] of `dtype`. */
  readonly k: Tensor;
  /** Values, [kvHeads, capacity, headDim] of `dtype`. */
  readonly v: Tensor;
  #length = 0;
  #dev: OpDevice;
  #unregister: () => void;

  /** @internal Use dev.kvCache(). */
  constructor(dev: OpDevice, opts: KVCacheOptions) {
    const op = "kvCache";
    this.kvHeads = checkInt(op, "kvHeads", opts.kvHeads, 1);
    this.headDim = checkHeadDim(op, opts.headDim);
    this.capacity = checkInt(op, "capacity", opts.capacity, 1);
    const dtype = opts.dtype ?? "f16";
    if (dtype !== "f16" && dtype !== "bf16") {
      throw new InvalidArgumentError(
        `${op}: dtype must be "f16" or "bf16", got ${JSON.stringify(dtype)}`,
        op,
      );
    }
    this.dtype = dtype;
    this.#dev = dev;
    const shape = [this.kvHeads, this.capacity, this.headDim];
    this.k = dev.empty(shape, dtype);
    try {
      this.v = dev.empty(shape, dtype);
    } catch (e) {
      this.k.dispose();
      throw e;
    }
    this.#unregister = registerChild(dev, this);
  }

  /** Positions filled so far (the offset of the next append). */
  get length(): number {
    return this.#length;
  }

  /** True once dispose() ran (directly or through the device). */
  get disposed(): boolean {
    return this.k.disposed;
  }

  /**
   * Appends T tokens: k and v hold [T, kvHeads, headDim] (token pitch `tokenPitch`), e.g. operands into
   * a fused QKV output, of the cache's dtype (InvalidArgumentError otherwise). With `rope`, keys are
   * rotated by their positions on the way in. Returns the position of the first appended token.
   * LimitError when the cache would overflow.
   */
  append(k: Operand, v: Operand, tokens: number, opts: KVAppendOptions = {}): number {
    const op = "kvCache.append";
    if (this.disposed) throw new DisposedError(`${op}: the cache was disposed`, op);
    for (const [what, x] of [["k", k], ["v", v]] as const) {
      const t = operandParts(x).tensor;
      checkSameAct(op, what, t, this.dtype, "the cache", "k, v and the cache", cacheOf(t));
    }
    const t = checkInt(op, "tokens", tokens, 0);
    if (this.#length + t > this.capacity) {
      throw new LimitError(`${op}: ${this.#length} + ${t} tokens exceed the capacity ${this.capacity}`, op);
    }
    const { kvHeads: heads, headDim } = this;
    const base = {
      heads,
      headDim,
      tokens: t,
      positionOffset: this.#length,
      srcTokenPitch: opts.tokenPitch ?? heads * headDim,
      dstTokenPitch: headDim,
      dstHeadPitch: this.capacity * headDim,
    };
    const at = this.#length * headDim;
    rope(this.#dev, k, {
      ...opts.rope,
      ...base,
      rotaryDim: opts.rope ? opts.rope.rotaryDim : 0,
      out: { tensor: this.k, offset: at },
    });
    rope(this.#dev, v, { ...base, rotaryDim: 0, out: { tensor: this.v, offset: at } });
    const first = this.#length;
    this.#length += t;
    return first;
  }

  /** Forgets the contents (length 0); the memory is kept. */
  reset(): void {
    this.#length = 0;
  }

  /** Frees k and v. Idempotent. */
  dispose(): void {
    if (this.k.disposed && this.v.disposed) return;
    this.#unregister();
    this.k.dispose();
    this.v.dispose();
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function checkHeadDim(op: string, d: number): number {
  checkInt(op, "headDim", d, 8, 256);
  if (d % 8 !== 0) throw new ShapeError(`${op}: headDim must be a multiple of 8 (8..256), got ${d}`, op);
  return d;
}

/** Options of attention(). Pitches in elements. */
export interface AttentionOptions {
  /** Query heads (a multiple of the cache's kvHeads). */
  heads: number;
  /** Query tokens. Default: the whole rows q holds from its offset. */
  tokens?: number;
  /** Pitch between query tokens. Default heads * headDim. */
  ldq?: number;
  /** Output [T, heads * headDim] (pitch ldo) of q's dtype. Default: a new tensor. */
  out?: Operand;
  /** Pitch between output tokens. Default heads * headDim. */
  ldo?: number;
  /** Causal mask: row i sees keys 0 .. positionOffset + i. Default true. */
  causal?: boolean;
  /** Position of query row 0. Default cache.length - tokens (the queries are the last appended). */
  positionOffset?: number;
  /** Keys attended: positions 0 .. kvLength - 1. Default cache.length. */
  kvLength?: number;
  /** Softmax scale. Default 1 / sqrt(headDim). */
  scale?: number;
  /** Key ranges processed by separate threadgroups (merged deterministically); 0 = choose. Default 0. */
  splits?: number;
}

const P = new Params(16); // AttnParams
/** Keys per split of the decode path; a multiple of both key tiles (32 and 16). */
export const ATTN_SPLIT_KEYS = 256;
/** Fewer threadgroups than this (per call) and a cache longer than ATTN_SPLIT_KEYS: split the keys. */
export const ATTN_MIN_GROUPS = 16;
const MAX_SPLITS = 64;

/** How attention() splits the keys: splits and keys per split. */
export function attentionSplits(
  tasks: number,
  kvHeads: number,
  kvLen: number,
  requested = 0,
): [number, number] {
  const tile = 32;
  let splits = requested;
  if (splits === 0) {
    const groups = Math.ceil(tasks / 16) * kvHeads;
    splits = groups >= ATTN_MIN_GROUPS || kvLen <= ATTN_SPLIT_KEYS
      ? 1
      : Math.min(MAX_SPLITS, Math.ceil(kvLen / ATTN_SPLIT_KEYS));
  }
  splits = Math.max(1, Math.min(splits, Math.ceil(Math.max(kvLen, 1) / tile)));
  const chunk = Math.ceil(Math.max(kvLen, 1) / splits / tile) * tile;
  return [Math.ceil(Math.max(kvLen, 1) / chunk), chunk];
}

/**
 * softmax(q·Kᵀ · scale + causal mask) · V per query head, with query head h reading KV head
 * h / (heads / kvHeads). q is [T, heads, headDim] (token pitch ldq) of the cache's dtype, f16 or bf16
 * (InvalidArgumentError naming the conversion otherwise); returns out ([T, heads * headDim], same dtype).
 * The causal mask counts positions from positionOffset, so a decode step sees the whole cache.
 */
export function attention(dev: OpDevice, q: Operand, cache: KVCache, opts: AttentionOptions): Tensor {
  const op = "attention";
  if (!(cache instanceof KVCache)) throw new InvalidArgumentError(`${op}: cache must be a KVCache`, op);
  if (cache.disposed) throw new DisposedError(`${op}: the cache was disposed`, op);
  const D = cache.headDim;
  const heads = checkInt(op, "heads", opts.heads, 1);
  if (heads % cache.kvHeads !== 0) {
    throw new ShapeError(
      `${op}: heads ${heads} is not a multiple of the cache's kvHeads ${cache.kvHeads}`,
      op,
    );
  }
  const ldq = checkInt(op, "ldq", opts.ldq ?? heads * D, 1);
  const T = checkInt(op, "tokens", opts.tokens ?? rowsThatFit(q, heads * D, ldq), 0);
  const act = cache.dtype;
  const share = "q, the cache and out";
  const qt = operandParts(q).tensor;
  actDtypeOf(op, "q", qt);
  checkSameAct(op, "q", qt, act, "the cache", share, cacheOf(qt));
  const qs = checkRows(op, "q", q, act, T, heads * D, ldq);
  const kvLen = checkInt(op, "kvLength", opts.kvLength ?? cache.length, 0, cache.capacity);
  const pos0 = checkInt(op, "positionOffset", opts.positionOffset ?? Math.max(0, cache.length - T), 0);
  const causal = opts.causal ?? true;
  if (causal && pos0 + T > kvLen) {
    throw new ShapeError(
      `${op}: causal queries at positions ${pos0}..${pos0 + T - 1} need ${
        pos0 + T
      } keys, the cache has ${kvLen} (append first)`,
      op,
    );
  }
  const ldo = checkInt(op, "ldo", opts.ldo ?? heads * D, 1);
  if (opts.out) checkSameAct(op, "out", operandParts(opts.out).tensor, act, "the cache", share);
  const out = opts.out ?? dev.empty([T, heads * D], act);
  const os = checkRows(op, "out", out, act, T, heads * D, ldo);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) {
    throw new InvalidArgumentError(`${op}: scale must be finite, got ${scale}`, op);
  }
  if (T === 0) return os.tensor;
  const G = heads / cache.kvHeads;
  const tasks = T * G;
  const [splits, chunk] = attentionSplits(
    tasks,
    cache.kvHeads,
    kvLen,
    checkInt(op, "splits", opts.splits ?? 0, 0),
  );
  P.u32.set([
    T,
    heads,
    cache.kvHeads,
    D,
    kvLen,
    pos0,
    causal ? 1 : 0,
    ldq,
    ldo,
    cache.capacity * D,
    D,
    splits,
    chunk,
  ]);
  P.f32[13] = scale;
  P.u32[14] = bf16Flag(act);
  const suffix = D <= 128 ? "d128" : "d256";
  const perGroup = D <= 128 ? 16 : 8; // 4 simdgroups x R tasks (attention.metal)
  const grid = [Math.ceil(tasks / perGroup), cache.kvHeads, splits];
  if (splits === 1) {
    kernel(dev, `attn_${suffix}`).dispatch({
      grid,
      threadgroupSize: 128,
      args: [rawBytes(cache.k), rawBytes(cache.v), rawBytes(qs), rawBytes(os), P.u32],
    });
    return os.tensor;
  }
  const rows = T * heads;
  const part = scratch(dev, "attention", splits * rows * (D + 2), "f32");
  kernel(dev, `attn_split_${suffix}`).dispatch({
    grid,
    threadgroupSize: 128,
    args: [rawBytes(cache.k), rawBytes(cache.v), rawBytes(qs), part, P.u32],
  });
  kernel(dev, "attn_combine").dispatch({
    grid: rows,
    threadgroupSize: 64,
    args: [part, rawBytes(os), P.u32],
  });
  return os.tensor;
}

// The other way out of a dtype mismatch: a cache of the operand's dtype.
function cacheOf(t: Tensor): string | undefined {
  return t.dtype === "f16" || t.dtype === "bf16"
    ? `create the cache with dev.kvCache({ ..., dtype: "${t.dtype}" })`
    : undefined;
}
