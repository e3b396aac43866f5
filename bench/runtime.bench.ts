// CPU shader runtime and FFI costs (issue 2): a bare FFI call vs the same call through our Native
// table vs a checked API call; the fiber switch; the fp16 tiled GEMM 128x512x512 on 1 and 2 threads.
// Run: bun bench/runtime.bench.ts   |   deno run -A bench/runtime.bench.ts   (add --json for stdout)
import { readFileSync } from "node:fs";
import { bench, do_not_optimize, group } from "mitata";
import { Device } from "../mod.ts";
import { nativeOf } from "../lib/runtime/internal.ts";
import { type BenchRow, report } from "./report.ts";

const SWITCHES = 10_000;
const [M, N, K] = [128, 512, 512];

const dev1 = Device.open({ backend: "cpu", threads: 1 });
const dev2 = Device.open({ backend: "cpu", threads: 2 });
const { native } = nativeOf(dev1);

/** mm_noop opened straight with the runtime's own FFI, bypassing everything of ours. */
async function bareNoop(path: string): Promise<(x: number) => number> {
  const g = globalThis as unknown as {
    Bun?: unknown;
    Deno?: { dlopen: (p: string, s: object) => { symbols: { mm_noop: (x: number) => number } } };
  };
  if (g.Bun !== undefined) {
    const spec = "bun:ffi";
    const ffi = await import(spec) as {
      dlopen: (p: string, s: object) => { symbols: { mm_noop: (x: number) => number } };
    };
    return ffi.dlopen(path, { mm_noop: { args: ["u32"], returns: "u32" } }).symbols.mm_noop;
  }
  return g.Deno!.dlopen(path, { mm_noop: { parameters: ["u32"], result: "u32" } }).symbols.mm_noop;
}
const bare = await bareNoop(native.path);
const ours = native.fns.mm_noop as (x: number) => number;

group("one FFI call", () => {
  bench("bare FFI call (mm_noop via runtime dlopen)", () => do_not_optimize(bare(7)));
  bench("ABI call through lib/ffi Native (mm_noop)", () => do_not_optimize(ours(7)));
  bench("checked API call (dev.synchronize)", () => dev1.synchronize());
});

group("fibers", () => {
  bench(`fiber switch x${SWITCHES}`, () => native.fns.mm_cpu_fiber_pingpong(SWITCHES));
});

const source = readFileSync(new URL("../shaders/proof/gemm_f16.metal", import.meta.url), "utf8");
const a = Float16Array.from({ length: M * K }, (_, i) => ((i * 37) % 101) / 101 - 0.5);
const b = Float16Array.from({ length: K * N }, (_, i) => ((i * 53) % 97) / 97 - 0.5);
group(`fp16 tiled GEMM ${M}x${N}x${K}`, () => {
  for (const [threads, dev] of [[1, dev1], [2, dev2]] as const) {
    const kernel = dev.compile(source, { name: "gemm_f16.metal" }).kernel("gemm_f16");
    const ta = dev.tensor(a, [M, K]);
    const tb = dev.tensor(b, [K, N]);
    const tc = dev.empty([M, N], "f16");
    const params = new Uint32Array([M, N, K]);
    bench(`gemm_f16 ${M}x${N}x${K}, ${threads} thread(s)`, () => {
      kernel.dispatch({ grid: [N / 32, M / 32], threadgroupSize: 128, args: [ta, tb, tc, params] });
      dev.synchronize();
    });
  }
});

await report("runtime", "cpu", (rows: BenchRow[]) => {
  const row = (prefix: string) => rows.find((r) => r.name.startsWith(prefix));
  const sw = row("fiber switch");
  return {
    fiberSwitchNs: sw === undefined ? null : sw.avgNs / SWITCHES,
    ffiOverheadNs: (row("ABI call through")?.avgNs ?? NaN) - (row("bare FFI call")?.avgNs ?? NaN),
    gemmF16Seconds: {
      threads1: (row(`gemm_f16 ${M}x${N}x${K}, 1`)?.avgNs ?? NaN) / 1e9,
      threads2: (row(`gemm_f16 ${M}x${N}x${K}, 2`)?.avgNs ?? NaN) / 1e9,
    },
  };
});
dev1.dispose();
dev2.dispose();
