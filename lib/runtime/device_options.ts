// device_options.ts — the options of Device.open and their validation (kept apart from the
// DeviceCore that acts on them).
import { InvalidArgumentError, UnsupportedError } from "./errors.ts";

/** Options of Device.open(). */
export interface DeviceOptions {
  /**
   * "auto" (default): Metal on an Apple7+ GPU, else the CPU shader runtime (never "metal-sim").
   * "metal-sim": the Metal backend driving the simulated Metal driver of the metal-sim build (Linux,
   * clang-16 + libblocksruntime-dev; UnsupportedError with the reason when that build is unavailable).
   */
  backend?: "auto" | "cpu" | "metal" | "metal-sim";
  /** CPU worker threads; 0 or absent = MM_THREADS env, else the number of cores. */
  threads?: number;
  /** Explicit path of the native library (overrides MM_LIBRARY_PATH and the local build). */
  libraryPath?: string;
  /**
   * CPU backend only: load the instrumented build (build/instrument) and run every dispatch one
   * threadgroup at a time, either profiling device-memory traffic per .metal line ("trace", see
   * `trace()`) or failing with RaceError / UninitializedReadError on a race or a read of unwritten
   * threadgroup memory ("race"). Absent: a normal device.
   */
  instrument?: "trace" | "race";
  /**
   * "bounds" (CPU backend only): load the instrumented build and check every device and threadgroup
   * access of every kernel against the bound buffer ranges and threadgroup allocations before it
   * happens; a stray access fails the dispatch with BoundsCheckError (a BoundsError) naming the
   * .metal line, the buffer index or threadgroup argument, the byte offset and the bound length.
   * Buffers live between guard zones; see the README ("What protects a user kernel") for what is
   * and is not caught. Not combinable with `instrument`. Absent: no per-access checks.
   */
  check?: "bounds";
}

export function validateOptions(opts: DeviceOptions): void {
  const backend = opts.backend ?? "auto";
  if (backend !== "auto" && backend !== "cpu" && backend !== "metal" && backend !== "metal-sim") {
    throw new InvalidArgumentError(
      `device: backend must be "auto", "cpu", "metal" or "metal-sim", got "${backend}"`,
      "device",
    );
  }
  const threads = opts.threads ?? 0;
  // Bounded by the u32 the C ABI takes (Deno's FFI throws a plain TypeError past it).
  if (!Number.isInteger(threads) || threads < 0 || threads > 0xffff_ffff) {
    throw new InvalidArgumentError(
      `device: threads must be an integer in 0..4294967295, got ${threads}`,
      "device",
    );
  }
  validateCheck(opts, backend);
  const instrument = opts.instrument;
  if (instrument !== undefined && instrument !== "trace" && instrument !== "race") {
    throw new InvalidArgumentError(
      `device: instrument must be "trace" or "race", got "${instrument}"`,
      "device",
    );
  }
  if (instrument !== undefined && (backend === "metal" || backend === "metal-sim")) {
    throw new InvalidArgumentError(
      `device: instrument "${instrument}" needs the CPU backend, not ${backend}`,
      "device",
    );
  }
}

// `check: "bounds"` needs the per-access hooks of the instrumented CPU runtime: a Metal device has none.
function validateCheck(opts: DeviceOptions, backend: string): void {
  const c = opts.check;
  if (c === undefined) return;
  if (c !== "bounds") {
    throw new InvalidArgumentError(`device: check must be "bounds" or absent, got "${String(c)}"`, "device");
  }
  if (backend === "metal" || backend === "metal-sim") {
    throw new UnsupportedError(
      `device: check "bounds" is CPU-only (it needs the instrumented CPU shader runtime, which sees ` +
        `every load and store); backend "${backend}" has no per-access hook. Use backend "cpu"`,
      "device",
    );
  }
  if (opts.instrument !== undefined) {
    throw new InvalidArgumentError(
      `device: check "bounds" and instrument "${opts.instrument}" cannot be combined (one checker per device)`,
      "device",
    );
  }
}
