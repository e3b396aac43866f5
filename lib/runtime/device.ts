// The runtime half of a device: opening the native device, its limits, tensors, compiled libraries,
// trace, synchronize and close, all on one DeviceState. The public Device class (lib/api/device.ts)
// wraps one DeviceCore and adds the op methods (gemm, upload, ...) from lib/ops, so the runtime never
// imports an op: ops stand on the runtime, not the other way round. A DeviceCore disposes the tensors
// and libraries of its device first, then the native device.
import { createHash } from "node:crypto";
import { compileModule } from "../build/build.ts";
import { envMode } from "../build/stamp.ts";
import { type DType, dtypeOfArray, isDType, type TensorArray } from "./dtype.ts";
import {
  DisposedError,
  InvalidArgumentError,
  LibraryLoadError,
  ShapeError,
  UnsupportedError,
} from "./errors.ts";
import { loadNative, type Native } from "../ffi/native.ts";
import { type DeviceOptions, validateOptions } from "./device_options.ts";
import type { BuildMode } from "../build/toolchain.ts";
import { attachDevice, check, cstr, type DeviceState, fixedString, outHandle } from "./internal.ts";
import { createLibrary, type Library } from "./library.ts";
import { createTensor, rootOf, shapeSize, Tensor } from "./tensor.ts";
import { buildReport, takeRawTrace, type TraceReport } from "./trace.ts";

export type { DeviceOptions };

/** Snapshot of mm_device_info (field names as in the C struct). Byte counts are bytes. */
export interface DeviceInfo {
  /** Backend of the device: "cpu" (the CPU shader runtime), "metal" or "metal-sim" (simulated Metal). */
  backend: BackendName;
  /** Human-readable device name, e.g. "CPU shader runtime (x86_64, 2 threads)". */
  name: string;
  /** Most threads one threadgroup may have (threads, e.g. 1024). */
  max_threads_per_threadgroup: number;
  /** Most threadgroup memory one dispatch may use, bytes (e.g. 32768). */
  max_threadgroup_memory: number;
  /** Threads per simdgroup (32 on Apple GPUs and in the CPU runtime). */
  simd_width: number;
  /** Worker threads the CPU backend runs dispatches on. */
  threads: number;
  /** Largest single buffer the device allocates, bytes (a Tensor larger than this throws OutOfMemoryError). */
  max_buffer_length: number;
  /** Bytes currently allocated in live buffers of this device. */
  allocated_bytes: number;
  /** Number of live buffers of this device (tensors, weight buffers, workspaces). */
  live_buffers: number;
  /** Metal's recommendedMaxWorkingSetSize, bytes (0 on the CPU backend). */
  recommended_working_set: number;
  /**
   * Metal: where the built-in kernels' compiled pipelines come from (README "Metal backend", cache):
   * "none" before the first dispatch (and on cpu), "disabled" (MM_METAL_CACHE=0), "memory" (the cache
   * directory cannot be written), "miss" (compiled, written to the cache), "hit" (loaded from the cache).
   */
  library_cache: LibraryCacheState;
}

/** DeviceInfo.library_cache. */
export type LibraryCacheState = "none" | "disabled" | "memory" | "miss" | "hit";
const CACHE_STATES: readonly LibraryCacheState[] = ["none", "disabled", "memory", "miss", "hit"];

/** What a device runs on. */
export type BackendName = "cpu" | "metal" | "metal-sim";

/**
 * What an op needs of a device: the public Device (lib/api/device.ts) has these and more. Ops take this
 * type instead of Device so that lib/ops imports nothing above lib/runtime.
 */
export interface DeviceRef {
  /** A tensor holding a copy of `data` (Device.tensor). */
  tensor(data: TensorArray, shape?: readonly number[], as?: "bf16"): Tensor;
  /** A zero-filled tensor (Device.empty). */
  empty(shape: readonly number[], dtype: DType): Tensor;
}

const INFO_SIZE = 136; // sizeof(mm_device_info)

// Backstop for devices never disposed. Tensors and libraries keep their Device reachable, so this
// only runs when nothing can touch the device's memory any more.
const finalizer = new FinalizationRegistry<DeviceState>((s) => {
  if (!s.closed) {
    s.closed = true;
    if (!s.escaped) s.native.fns.mm_device_close(s.handle);
  }
});

/** The metal-sim build matching MM_BUILD (asan -> metal-sim-asan, coverage -> metal-sim-coverage, tsan). */
export function simMode(): BuildMode {
  const m = envMode();
  if (m === "metal-sim-tsan") return m;
  return m === "asan" ? "metal-sim-asan" : m === "coverage" ? "metal-sim-coverage" : "metal-sim";
}

// The native library a device needs: instrumented for trace/race, the metal-sim build for metal-sim
// (reported unavailable with the reason when it cannot be built here), else the default one.
function openNative(opts: DeviceOptions): Native {
  if (opts.instrument || opts.check) return loadNative({ libraryPath: opts.libraryPath, mode: "instrument" });
  if (opts.backend !== "metal-sim") return loadNative({ libraryPath: opts.libraryPath });
  try {
    return loadNative({ libraryPath: opts.libraryPath, mode: simMode() });
  } catch (e) {
    if (!(e instanceof LibraryLoadError)) throw e;
    throw new UnsupportedError(`device: backend "metal-sim" is unavailable here: ${e.message}`, "device");
  }
}

/**
 * @internal The runtime state and behaviour behind one public Device (`owner`): tensors and libraries
 * it makes are owned by `owner`, which they keep reachable, and the finalizer watches `owner`.
 */
export class DeviceCore {
  readonly #s: DeviceState;
  readonly #owner: object;
  #libraries = new Map<string, Library>();
  #builtin: Library | undefined;
  /** Backend actually in use. */
  readonly backend: BackendName;
  /** Instrument mode the device was opened with, if any. */
  readonly instrument: "trace" | "race" | undefined;
  /** Per-access check the device was opened with, if any. */
  readonly check: "bounds" | undefined;

  /** Opens the native device for `owner`; loads (and if needed builds) the native library on first use. */
  constructor(owner: object, opts: DeviceOptions) {
    validateOptions(opts);
    const instrument = opts.instrument;
    const native = openNative(opts);
    const mode = instrument ?? (opts.check === "bounds" ? "bounds" : undefined);
    const name = mode ? `cpu:${mode}` : opts.backend ?? "auto";
    check(native, native.fns.mm_device_open(cstr(name), opts.threads ?? 0, outHandle), "device");
    const s: DeviceState = {
      native,
      handle: outHandle[0],
      closed: false,
      children: new Set(),
      maxBufferLength: 0,
    };
    this.#s = s;
    this.#owner = owner;
    attachDevice(owner, s);
    const info = this.info;
    this.backend = info.backend;
    s.maxBufferLength = info.max_buffer_length;
    this.instrument = instrument;
    this.check = opts.check;
    finalizer.register(owner, s, this);
  }

  /** Fresh snapshot of the device's limits and memory counters. */
  get info(): DeviceInfo {
    const s = this.#live("info");
    const b = new Uint8Array(INFO_SIZE);
    const v = new DataView(b.buffer);
    v.setUint32(0, INFO_SIZE, true);
    check(s.native, s.native.fns.mm_device_info_get(s.handle, b), "info");
    const u64 = (at: number) => v.getUint32(at, true) + v.getUint32(at + 4, true) * 4294967296;
    return {
      backend: fixedString(b, 4, 16) as BackendName,
      name: fixedString(b, 20, 64),
      max_threads_per_threadgroup: v.getUint32(84, true),
      max_threadgroup_memory: v.getUint32(88, true),
      simd_width: v.getUint32(92, true),
      threads: v.getUint32(96, true),
      max_buffer_length: u64(104),
      allocated_bytes: u64(112),
      live_buffers: v.getUint32(120, true),
      recommended_working_set: u64(128),
      library_cache: CACHE_STATES[v.getUint32(124, true)] ?? "none",
    };
  }

  /** True once dispose() ran. */
  get disposed(): boolean {
    return this.#s.closed;
  }

  /** Device.tensor(): a tensor holding a copy of `data` ("bf16" only for a Uint16Array of raw bits). */
  tensor(data: TensorArray, shape?: readonly number[], as?: "bf16"): Tensor {
    const s = this.#live("tensor");
    let dtype = dtypeOfArray(data);
    if (as !== undefined) {
      if (as !== "bf16" || !(data instanceof Uint16Array)) {
        throw new InvalidArgumentError(
          `tensor: dtype ${
            JSON.stringify(as)
          } needs a Uint16Array of raw bf16 bits, got ${data?.constructor?.name}`,
          "tensor",
        );
      }
      dtype = "bf16";
    }
    if (dtype === undefined) {
      throw new InvalidArgumentError(
        `tensor: unsupported array type ${data?.constructor?.name}`,
        "tensor",
      );
    }
    const sh = shape ?? [data.length];
    const n = shapeSize(sh, "tensor");
    if (n !== data.length) {
      throw new ShapeError(
        `tensor: shape [${sh.join(", ")}] has ${n} elements but data has ${data.length}`,
        "tensor",
      );
    }
    const t = createTensor(s, this.#owner, sh, dtype);
    (t.data as TensorArray).set(data as never);
    return t;
  }

  /** Device.empty(): a zero-filled tensor. */
  empty<D extends DType>(shape: readonly number[], dtype: D): Tensor<D> {
    const s = this.#live("empty");
    if (!isDType(dtype)) throw new InvalidArgumentError(`empty: unknown dtype "${dtype}"`, "empty");
    return createTensor(s, this.#owner, shape, dtype);
  }

  /** Device.compile(): a Library cached per (name, source). */
  compile(source: string, opts: { name?: string } = {}): Library {
    const s = this.#live("compile");
    const name = opts.name ?? "kernel.metal";
    const key = createHash("sha256").update(name).update("\0").update(source).digest("hex");
    const hit = this.#libraries.get(key);
    if (hit && !hit.disposed) return hit;
    if (this.backend === "cpu") {
      const path = compileModule(source, {
        name,
        mode: this.instrument || this.check ? "instrument" : envMode(),
      });
      check(s.native, s.native.fns.mm_library_load(s.handle, cstr(path), outHandle), "compile");
    } else {
      // Metal takes the source itself; the reflection core validates with (and, on metal-sim, the
      // simulated compiler's output) is the CPU module the project's front end builds from it.
      const path = compileModule(source, {
        name,
        mode: this.backend === "metal-sim" ? simMode() : envMode(),
      });
      const src = cstr(source);
      check(s.native, s.native.fns.mm_metal_register_module(src, cstr(path)), "compile");
      check(s.native, s.native.fns.mm_library_compile(s.handle, src, outHandle), "compile");
    }
    const lib = createLibrary(s, this.#owner, outHandle[0], true);
    this.#libraries.set(key, lib);
    return lib;
  }

  /** Device.builtin(): the kernels built into the native library. */
  builtin(): Library {
    const s = this.#live("builtin");
    if (this.#builtin && !this.#builtin.disposed) return this.#builtin;
    check(s.native, s.native.fns.mm_library_builtin(s.handle, outHandle), "builtin");
    this.#builtin = createLibrary(s, this.#owner, outHandle[0], false);
    return this.#builtin;
  }

  /** Device.trace(): the device-memory profile of the dispatches `fn` makes (trace mode only). */
  trace(fn: () => void): TraceReport {
    const s = this.#live("trace");
    if (this.instrument !== "trace") {
      throw new InvalidArgumentError(
        `trace: the device was opened ${
          this.instrument ? `with instrument "${this.instrument}"` : "without instrument"
        }; use Device.open({ backend: "cpu", instrument: "trace" })`,
        "trace",
      );
    }
    takeRawTrace(s.native, s.handle); // drop anything traced before
    fn();
    return buildReport(takeRawTrace(s.native, s.handle));
  }

  /** See Device.scope. */
  scope<T>(fn: () => T): T {
    const s = this.#live("scope");
    if (typeof fn !== "function") {
      throw new InvalidArgumentError(
        `scope: fn must be a function, got ${fn === null ? "null" : typeof fn}`,
        "scope",
      );
    }
    const before = new Set(s.children);
    const created = (): Tensor[] =>
      [...s.children].filter((r) => !before.has(r)).map((r) => r.deref()).filter((c) => c instanceof Tensor);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      for (const t of created()) t.dispose();
      throw e;
    }
    if (
      result !== null && typeof result === "object" &&
      typeof (result as { then?: unknown }).then === "function"
    ) {
      // Disposing now would pull memory from under the pending work; nothing is disposed.
      throw new InvalidArgumentError(
        "scope: fn returned a promise; scope() takes a synchronous function",
        "scope",
      );
    }
    const kept = new Set<unknown>();
    // Tensors reachable from the result (directly, in arrays, or in object fields such as a
    // QuantizedWeight's packed/scales/zeros) survive; walks 4 levels deep.
    const keep = (v: unknown, depth: number): void => {
      if (v === null || typeof v !== "object" || kept.has(v) || depth > 4) return;
      kept.add(v);
      // A kept view keeps its root: disposing the root would invalidate the view.
      if (v instanceof Tensor) return void kept.add(rootOf(v));
      for (const x of Array.isArray(v) ? v : Object.values(v)) keep(x, depth + 1);
    };
    keep(result, 0);
    for (const t of created()) if (!kept.has(t)) t.dispose();
    return result;
  }

  /**
   * Device.ready(): resolves once all submitted work completed, without blocking the event loop, then
   * throws like synchronize() if a command buffer failed. Polls the command buffers' status
   * (mm_device_pending) on a timer, 0.25 ms doubling to 8 ms.
   */
  async ready(): Promise<void> {
    const s = this.#live("ready");
    const out = new BigUint64Array(1);
    let delay = 0.25;
    for (;;) {
      check(s.native, s.native.fns.mm_device_pending(s.handle, out), "ready");
      if (out[0] === 0n || this.#s.closed) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8);
    }
    this.synchronize();
  }

  /** Device.synchronize(): waits for all submitted work, throws the first dispatch error. */
  synchronize(): void {
    const s = this.#live("synchronize");
    check(s.native, s.native.fns.mm_device_synchronize(s.handle), "synchronize");
  }

  /** Disposes every tensor and library of this device, then closes it. Idempotent. */
  dispose(): void {
    const s = this.#s;
    if (s.closed) return;
    for (const ref of [...s.children]) ref.deref()?.dispose();
    s.children.clear();
    s.closed = true;
    finalizer.unregister(this);
    this.#libraries.clear();
    this.#builtin = undefined;
    // A moved view still points into this device's memory: leave the native device open (its memory
    // is reclaimed at process exit) rather than free memory a live ArrayBuffer can read.
    if (!s.escaped) s.native.fns.mm_device_close(s.handle);
  }

  #live(op: string): DeviceState {
    if (this.#s.closed) throw new DisposedError(`${op}: the device was disposed`, op);
    return this.#s;
  }
}
