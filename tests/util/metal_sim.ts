// Test-only access to the metal-sim build's hooks (csrc/metal/metal_sim_hooks.mm): the simulated
// driver's counters, adverse scheduling, pipeline-limit override, rule violations and live objects.
// Opened by path with the runtime's own dlopen (the product symbol table stays free of them); the
// same path as the device's library, so both share the driver's state.
import { createRequire } from "node:module";
import process from "node:process";
import { Device } from "../../lib/api/device.ts";
import { libraryPath } from "../../lib/build/stamp.ts";
import { simMode } from "../../lib/runtime/device.ts";
import { UnsupportedError } from "../../lib/runtime/errors.ts";

/**
 * Why metal-sim cannot run here (a skip reason), or undefined when it can. Under MM_REQUIRE_METAL_SIM=1
 * (CI) an unavailable build throws instead of skipping.
 */
export function metalSimUnavailable(): string | undefined {
  try {
    Device.open({ backend: "metal-sim" }).dispose();
    return undefined;
  } catch (e) {
    if (e instanceof UnsupportedError && process.env.MM_REQUIRE_METAL_SIM !== "1") {
      return e.message.split("\n")[0];
    }
    throw e;
  }
}

/** Counters of the simulated driver (cumulative for the process). */
export interface SimCounters {
  created: number;
  committed: number;
  completed: number;
  failed: number;
  encoded: number;
  executed: number;
  librariesCompiled: number;
  librariesFastMath: number;
  pipelines: number;
  /** Pipelines compiled (not found in a binary archive). */
  pipelinesCompiled: number;
  /** Pipelines found in a binary archive (no compile). */
  pipelinesFromArchive: number;
  archiveAdds: number;
}

export interface SimHooks {
  counters(): SimCounters;
  setAdverse(on: boolean): void;
  /** setenv (value "" = unsetenv) in this process, for what the native side reads with getenv. */
  setEnv(name: string, value: string): void;
  /** maxTotalThreadsPerThreadgroup for pipelines created from now on ("" = every kernel, 0 = reset). */
  setMaxThreads(kernel: string, n: number): void;
  /** Rule violations recorded since the last call ("" = none). */
  takeViolations(): string;
  /** Live simulated Objective-C objects once all committed work finished. */
  liveObjects(): number;
}

const defs = {
  mm_metal_sim_counters: { args: ["buffer"], result: "void" },
  mm_metal_sim_set_adverse: { args: ["i32"], result: "void" },
  mm_metal_sim_setenv: { args: ["buffer", "buffer"], result: "void" },
  mm_metal_sim_set_max_threads: { args: ["buffer", "u32"], result: "void" },
  mm_metal_sim_take_violations: { args: ["buffer", "u64"], result: "u64" },
  mm_metal_sim_live_objects: { args: [], result: "i64" },
} as const;

type Fns = {
  mm_metal_sim_counters(out: BigUint64Array): void;
  mm_metal_sim_set_adverse(on: number): void;
  mm_metal_sim_setenv(name: Uint8Array, value: Uint8Array): void;
  mm_metal_sim_set_max_threads(name: Uint8Array, n: number): void;
  mm_metal_sim_take_violations(buf: Uint8Array, cap: bigint | number): bigint | number;
  mm_metal_sim_live_objects(): bigint | number;
};

function open(path: string): Fns {
  const bun = (globalThis as { Bun?: unknown }).Bun !== undefined;
  if (bun) {
    const { dlopen } = createRequire(import.meta.url)("bun:ffi") as {
      dlopen: (p: string, d: unknown) => { symbols: Fns };
    };
    const map = { buffer: "ptr", i32: "i32", u32: "u32", u64: "u64", i64: "i64", void: "void" } as const;
    const d: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(defs)) {
      d[k] = { args: v.args.map((a) => map[a]), returns: map[v.result] };
    }
    return dlopen(path, d).symbols;
  }
  const deno =
    (globalThis as unknown as { Deno: { dlopen: (p: string, d: unknown) => { symbols: Fns } } }).Deno;
  const d: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(defs)) d[k] = { parameters: v.args, result: v.result };
  return deno.dlopen(path, d).symbols;
}

let hooks: SimHooks | undefined;

/** The hooks of the metal-sim library a metal-sim device of this process uses (open one first). */
export function simHooks(): SimHooks {
  if (hooks) return hooks;
  const f = open(libraryPath(simMode()));
  const enc = new TextEncoder();
  hooks = {
    counters() {
      const o = new BigUint64Array(12);
      f.mm_metal_sim_counters(o);
      const n = [...o].map(Number);
      return {
        created: n[0],
        committed: n[1],
        completed: n[2],
        failed: n[3],
        encoded: n[4],
        executed: n[5],
        librariesCompiled: n[6],
        librariesFastMath: n[7],
        pipelines: n[8],
        pipelinesCompiled: n[9],
        pipelinesFromArchive: n[10],
        archiveAdds: n[11],
      };
    },
    setAdverse: (on) => f.mm_metal_sim_set_adverse(on ? 1 : 0),
    setEnv: (k, v) => f.mm_metal_sim_setenv(enc.encode(k + "\0"), enc.encode(v + "\0")),
    setMaxThreads: (k, n) => f.mm_metal_sim_set_max_threads(enc.encode(k + "\0"), n),
    takeViolations() {
      const buf = new Uint8Array(8192);
      const need = Number(f.mm_metal_sim_take_violations(buf, buf.length));
      return new TextDecoder().decode(buf.subarray(0, Math.min(need, buf.length - 1)));
    },
    liveObjects: () => Number(f.mm_metal_sim_live_objects()),
  };
  return hooks;
}
