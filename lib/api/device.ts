// The public Device: a runtime DeviceCore (lib/runtime/device.ts: open, tensors, libraries, trace,
// sync, dispose) plus one forwarding method per op family in lib/ops. This file sits above both rooms,
// so the runtime never imports an op. Adding an op family: its file in lib/ops, then one method here
// (and, for a public free function that takes a Device, one wrapper like gemmRoute below).
import type { QuantizedMatrix } from "../quant/types.ts";
import {
  type BackendName,
  DeviceCore,
  type DeviceInfo,
  type DeviceOptions,
  type LibraryCacheState,
} from "../runtime/device.ts";
import type { DType, DTypeOfArray, TensorArray } from "../runtime/dtype.ts";
import type { Library } from "../runtime/library.ts";
import type { Tensor } from "../runtime/tensor.ts";
import type { TraceReport } from "../runtime/trace.ts";
import { batchedGemm, type BatchedGemmOptions, gemm, type GemmOptions, uploadWeight } from "../ops/gemm.ts";
import { type GemmRoute, type GemmRouteShape, routeOf } from "../ops/gemm_route.ts";
import type { QuantizedWeight } from "../ops/weight.ts";
import { rmsNorm, type RmsNormOptions } from "../ops/norm.ts";
import { rope, type RopeOptions } from "../ops/rope.ts";
import { attention, type AttentionOptions, KVCache, type KVCacheOptions } from "../ops/attention.ts";
import type { Operand } from "../ops/layer_common.ts";
import { type DequantizeOptions, dequantizeWeight } from "../ops/dequant.ts";
import {
  type DecoderConfig,
  decoderLayer,
  type DecoderWeights,
  mlp,
  type MlpWeights,
  rmsNormLinear,
} from "../ops/layer.ts";
import {
  moe,
  moeCombine,
  moeGemm,
  type MoeGemmOptions,
  moeRoute,
  type MoeRouting,
  moeSort,
  type MoeSorted,
  type MoeWeights,
} from "../ops/moe.ts";
import { InvalidArgumentError } from "../runtime/errors.ts";

// `null`, a number or a string where an options object belongs: a typed error, not a TypeError.
function checkObject(op: string, what: string, value: unknown): void {
  if (value === undefined) return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    throw new InvalidArgumentError(`${op}: ${what} must be an object or undefined, got ${got}`, op);
  }
}

export type { BackendName, DeviceInfo, DeviceOptions, LibraryCacheState };

/** An open compute device. Create with `Device.open()`, release with `dispose()` or `using`. */
export class Device implements Disposable {
  #core: DeviceCore;
  /** Backend actually in use. */
  readonly backend: BackendName;
  /** Instrument mode the device was opened with, if any. */
  readonly instrument: "trace" | "race" | undefined;
  /** Per-access check the device was opened with ("bounds"), if any. */
  readonly check: "bounds" | undefined;

  private constructor(opts: DeviceOptions) {
    this.#core = new DeviceCore(this, opts);
    this.backend = this.#core.backend;
    this.instrument = this.#core.instrument;
    this.check = this.#core.check;
  }

  /** Opens a device; loads (and if needed builds) the native library on first use. */
  static open(opts: DeviceOptions = {}): Device {
    checkObject("open", "options", opts);
    return new Device(opts);
  }

  /** Fresh snapshot of the device's limits and memory counters. */
  get info(): DeviceInfo {
    return this.#core.info;
  }

  /** True once dispose() ran. */
  get disposed(): boolean {
    return this.#core.disposed;
  }

  /**
   * A tensor holding a copy of `data`; dtype follows the array type (pass "bf16" for a Uint16Array of raw
   * bfloat16 bits, e.g. from f32ToBf16()); shape defaults to [data.length]. Typed by the array:
   * `dev.tensor(new Float16Array(n))` is a `Tensor<"f16">`, whose toArray() is a Float16Array.
   */
  tensor(data: Uint16Array, shape: readonly number[] | undefined, dtype: "bf16"): Tensor<"bf16">;
  /** A tensor holding a copy of `data`, typed by the array (Float16Array -> `Tensor<"f16">`, ...). */
  tensor<A extends TensorArray>(data: A, shape?: readonly number[]): Tensor<DTypeOfArray<A>>;
  /** The untyped form, for an array whose type is only known as TensorArray and an optional "bf16". */
  tensor(data: TensorArray, shape: readonly number[] | undefined, dtype: "bf16" | undefined): Tensor;
  tensor(data: TensorArray, shape?: readonly number[], dtype?: "bf16"): Tensor {
    return this.#core.tensor(data, shape, dtype);
  }

  /** A zero-filled tensor of `shape` and `dtype` (a `Tensor<D>`: `empty([4], "f32").data` is a Float32Array). */
  empty<D extends DType>(shape: readonly number[], dtype: D): Tensor<D> {
    return this.#core.empty(shape, dtype);
  }

  /**
   * Compiles a Metal source into a Library, cached per source on this device. On the CPU backend the
   * source is rewritten to C++ and compiled by the system compiler (CompileError names the .metal line).
   */
  compile(source: string, opts: { name?: string } = {}): Library {
    if (typeof source !== "string") {
      const got = source === null ? "null" : Array.isArray(source) ? "an array" : typeof source;
      throw new InvalidArgumentError(`compile: source must be a string, got ${got}`, "compile");
    }
    checkObject("compile", "options", opts);
    return this.#core.compile(source, opts);
  }

  /** The kernels built into the native library (shaders/manifest.json). */
  builtin(): Library {
    return this.#core.builtin();
  }

  /**
   * Trace mode only: runs `fn` and returns the device-memory profile of the dispatches it made
   * (kernel calls and gemm alike), per .metal line. Dispatches made before the call are dropped.
   */
  trace(fn: () => void): TraceReport {
    return this.#core.trace(fn);
  }

  /**
   * Runs `fn` (synchronous) and disposes every tensor created on this device meanwhile, except those
   * reachable from its result (the result itself, array items, object fields such as a returned
   * QuantizedWeight's buffers). On a throw, every tensor created inside is disposed.
   */
  scope<T>(fn: () => T): T {
    return this.#core.scope(fn);
  }

  /**
   * Waits for all submitted work; throws the first error a dispatch hit since the last sync. On Metal
   * (and metal-sim) dispatches and gemm return before the device ran them: `toArray()` and this call
   * wait; `tensor.data` is a live view of shared memory and may show old values until one of them.
   */
  synchronize(): void {
    this.#core.synchronize();
  }

  /**
   * Like synchronize() without blocking the event loop: resolves when all submitted work completed
   * (polling the command buffers' status on a timer; Bun's threadsafe JSCallback and Deno's
   * UnsafeCallback.threadSafe could call back instead, at the price of a callback's lifetime rules),
   * rejects with the first dispatch error. Resolves at once on the CPU backend.
   */
  ready(): Promise<void> {
    return this.#core.ready();
  }

  // ---- ops (lib/ops): one forwarding method per op family ----

  /**
   * Uploads a quantized matrix (from `quantize()`) to device memory as a QuantizedWeight (packed codes,
   * f16 scales and, for int4, u8 zero points); the weight is disposed with the device.
   */
  upload(q: QuantizedMatrix): QuantizedWeight {
    return uploadWeight(this, q);
  }

  /**
   * Quantized GEMM C = A·W (+ epilogue): `a` is f16 [M, K] (or [K] for M = 1), `w` the uploaded k x n
   * weight ("nk" weights give y = x·Wᵀ, as nn.Linear). Returns `opts.out` or a new f16 [M, N] tensor;
   * see GemmOptions for epilogues, bias and residual. The result has a's dtype (f16 or bf16).
   */
  gemm<D extends DType>(a: Tensor<D>, w: QuantizedWeight, opts?: GemmOptions): Tensor<D> {
    return gemm(this, a, w, opts) as Tensor<D>;
  }

  /**
   * Strided batched quantized GEMM: one GEMM per batch entry, with strides in elements (0 broadcasts).
   * Returns `opts.out` or a new f16 [B, M, N] tensor; see BatchedGemmOptions.
   */
  batchedGemm<D extends DType>(a: Tensor<D>, w: QuantizedWeight, opts?: BatchedGemmOptions): Tensor<D> {
    return batchedGemm(this, a, w, opts) as Tensor<D>;
  }

  /**
   * RMSNorm of each row of x (f16 or bf16): y = x · rsqrt(mean(x²) + eps) · weight, weight f16 or bf16
   * [dim]. Returns opts.out (x's dtype; x itself works: in place) or a new tensor of x's dtype; see
   * RmsNormOptions.
   */
  rmsNorm(x: Operand, weight: Tensor, opts?: RmsNormOptions): Tensor {
    return rmsNorm(this, x, weight, opts);
  }

  /**
   * Rotary position embedding of x (f16 or bf16 [T, heads, headDim] by default; pitches in RopeOptions),
   * in place or into opts.out (x's dtype); half-split (default) or interleaved pairs, position offset,
   * partial dims.
   */
  rope(x: Operand, opts: RopeOptions): Tensor {
    return rope(this, x, opts);
  }

  /** A KV cache of f16 (default) or bf16 (`dtype`) [kvHeads, capacity, headDim] keys and values. */
  kvCache(opts: KVCacheOptions): KVCache {
    return new KVCache(this, opts);
  }

  /**
   * Causal (by default) attention of q ([T, heads, headDim], the cache's dtype: f16 or bf16) over `cache`,
   * GQA when heads > kvHeads; long caches with few queries split the keys across threadgroups. Returns
   * [T, heads · headDim] of that dtype.
   */
  attention(q: Operand, cache: KVCache, opts: AttentionOptions): Tensor {
    return attention(this, q, cache, opts);
  }

  /**
   * MoE router: logits x · routerᵀ (x and router [E, D] both f16 or both bf16), softmax, top-k (ties to
   * the lower expert), renormalised unless `renormalize: false`. Returns u32 ids and f32 weights [T, k].
   */
  moeRoute(
    x: Tensor,
    router: Tensor,
    opts: { topK: number; experts: number; renormalize?: boolean },
  ): MoeRouting {
    return moeRoute(this, x, router, opts);
  }

  /** Stable, deterministic counting sort of routing pairs (ids u32 [T, k]) by expert. */
  moeSort(ids: Tensor, experts: number): MoeSorted {
    return moeSort(this, ids, experts);
  }

  /**
   * Grouped GEMM over sorted pairs with per-expert weights (w batched [E, ...]); [P, N] of a's dtype (f16 or
   * bf16) in sorted order.
   */
  moeGemm(a: Tensor, w: QuantizedWeight, sorted: MoeSorted, opts: MoeGemmOptions): Tensor {
    return moeGemm(this, a, w, sorted, opts);
  }

  /** Weighted combine of sorted expert outputs y (f16 or bf16) back to tokens, plus an optional `add`. */
  moeCombine(y: Tensor, routing: MoeRouting, sorted: MoeSorted, add?: Tensor): Tensor {
    return moeCombine(this, y, routing, sorted, add);
  }

  /** A whole MoE MLP block (route, sort, SwiGLU + down, combine, shared expert, residual), f16 or bf16. */
  moe(x: Tensor, weights: MoeWeights, residual?: Tensor): Tensor {
    return moe(this, x, weights, residual);
  }

  /**
   * Dequantizes `w` on the device to a dense f16 (default) or bf16 (`{ dtype: "bf16" }`) [K, N] tensor
   * ([batch, K, N] for batched weights).
   */
  dequantize(w: QuantizedWeight, opts?: DequantizeOptions): Tensor {
    return dequantizeWeight(this, w, opts);
  }

  /**
   * RMSNorm(x; gamma) · w with the GEMM epilogue of `opts` (bias, activation, residual, SwiGLU via `up`):
   * the norm is computed once per row, then one quantized GEMM. x f16 or bf16, gamma either; returns
   * [M, N] of x's dtype (residual, bias and out share it).
   */
  rmsNormLinear(x: Tensor, gamma: Tensor, w: QuantizedWeight, opts?: GemmOptions & { eps?: number }): Tensor {
    return rmsNormLinear(this, x, gamma, w, opts);
  }

  /** SwiGLU MLP down(silu(x·gate) * (x·up)) (+ residual), over the GEMM epilogues; x's dtype (f16 or bf16) throughout. */
  mlp(x: Tensor, weights: MlpWeights, residual?: Tensor): Tensor {
    return mlp(this, x, weights, residual);
  }

  /**
   * One decoder layer (Llama-style, or MoE when weights.mlp has a router) over x f16 or bf16 [T, hidden]
   * at positions cache.length ..; appends T tokens to the cache (of x's dtype). Returns [T, hidden] of x's
   * dtype.
   */
  decoderLayer(x: Tensor, weights: DecoderWeights, config: DecoderConfig, cache: KVCache): Tensor {
    return decoderLayer(this, x, weights, config, cache);
  }

  // ---- lifetime ----

  /** Disposes every tensor and library of this device, then closes it. Idempotent. */
  dispose(): void {
    this.#core.dispose();
  }

  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Asks the C routing function which kernel serves an [m, k] x [k, n] GEMM of this format and group size
 * (for tests, benchmarks and the alignment audit). Throws UnsupportedError for a group size without
 * kernels, InvalidArgumentError for an unknown format or a dim outside 1..2^32-1.
 */
export function gemmRoute(dev: Device, shape: GemmRouteShape): GemmRoute {
  return routeOf(dev, shape);
}
