// The public Device: a runtime DeviceCore (lib/runtime/device.ts: open, tensors, libraries, trace,
// sync, dispose) plus one forwarding method per op family in lib/ops. This file sits above both rooms,
// so the runtime never imports an op. Adding an op family: its file in lib/ops, then one method here
// (and, for a public free function that takes a Device, one wrapper like gemmRoute below).
import type { QuantizedMatrix } from "../quant/types.ts";
import { type BackendName, DeviceCore, type DeviceInfo, type DeviceOptions } from "../runtime/device.ts";
import type { DType, TensorArray } from "../runtime/dtype.ts";
import type { Library } from "../runtime/library.ts";
import type { Tensor } from "../runtime/tensor.ts";
import type { TraceReport } from "../runtime/trace.ts";
import { batchedGemm, type BatchedGemmOptions, gemm, type GemmOptions, uploadWeight } from "../ops/gemm.ts";
import { type GemmRoute, type GemmRouteShape, routeOf } from "../ops/gemm_route.ts";
import type { QuantizedWeight } from "../ops/weight.ts";
import { InvalidArgumentError } from "../runtime/errors.ts";

// `null`, a number or a string where an options object belongs: a typed error, not a TypeError.
function checkObject(op: string, what: string, value: unknown): void {
  if (value === undefined) return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    throw new InvalidArgumentError(`${op}: ${what} must be an object or undefined, got ${got}`, op);
  }
}

export type { BackendName, DeviceInfo, DeviceOptions };

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
   * bfloat16 bits, e.g. from f32ToBf16()); shape defaults to [data.length].
   */
  tensor(data: TensorArray, shape?: readonly number[], dtype?: "bf16"): Tensor {
    return this.#core.tensor(data, shape, dtype);
  }

  /** A zero-filled tensor of `shape` and `dtype`. */
  empty(shape: readonly number[], dtype: DType): Tensor {
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
   * see GemmOptions for epilogues, bias and residual.
   */
  gemm(a: Tensor, w: QuantizedWeight, opts?: GemmOptions): Tensor {
    return gemm(this, a, w, opts);
  }

  /**
   * Strided batched quantized GEMM: one GEMM per batch entry, with strides in elements (0 broadcasts).
   * Returns `opts.out` or a new f16 [B, M, N] tensor; see BatchedGemmOptions.
   */
  batchedGemm(a: Tensor, w: QuantizedWeight, opts?: BatchedGemmOptions): Tensor {
    return batchedGemm(this, a, w, opts);
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
