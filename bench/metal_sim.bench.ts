// dev.gemm host overhead on the Metal backend over the simulated driver (backend "metal-sim") next to
// the CPU runtime, on a tiny 1x8x64 fp4 GEMV where the kernel itself is negligible. metal-sim figures
// are host-side costs of the Metal backend (encode, commit, wait) plus the simulated driver; they say
// nothing about a GPU. Run: bun bench/metal_sim.bench.ts (needs the metal-sim build: clang-16).
import { bench, do_not_optimize, group } from "mitata";
import { Device } from "../mod.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { type BenchRow, report } from "./report.ts";

const k = 64, n = 8;
const w32 = Float32Array.from({ length: k * n }, (_, i) => ((i * 37) % 101) / 101 - 0.5);
const q = quantize(w32, { k, n, format: "fp4", groupSize: 32 });

function setup(backend: "cpu" | "metal-sim") {
  const dev = Device.open({ backend, threads: backend === "cpu" ? 1 : 0 });
  const w = dev.upload(q);
  const a = dev.tensor(new Float16Array(k).fill(0.5), [1, k]);
  const out = dev.empty([1, n], "f16");
  return { dev, w, a, opts: { out } };
}

const cpu = setup("cpu");
const sim = setup("metal-sim");
let calls = 0;
group("dev.gemm 1x8x64 fp4, host overhead", () => {
  bench("cpu: dev.gemm + synchronize", () => {
    do_not_optimize(cpu.dev.gemm(cpu.a, cpu.w, cpu.opts));
    cpu.dev.synchronize();
  });
  bench("metal-sim: dev.gemm + synchronize", () => {
    do_not_optimize(sim.dev.gemm(sim.a, sim.w, sim.opts));
    sim.dev.synchronize();
  });
  // Encoding only: the wait is amortized over 64 calls (4 command buffers of 16 dispatches).
  bench("metal-sim: dev.gemm (encode; sync every 64)", () => {
    do_not_optimize(sim.dev.gemm(sim.a, sim.w, sim.opts));
    if (++calls % 64 === 0) sim.dev.synchronize();
  });
});

await report("metal_sim", "cpu+metal-sim", (rows: BenchRow[]) => {
  const p50 = (name: string) => rows.find((r) => r.name === name)?.p50Ns;
  return {
    cpuGemmSyncNsP50: p50("cpu: dev.gemm + synchronize"),
    simGemmSyncNsP50: p50("metal-sim: dev.gemm + synchronize"),
    simGemmEncodeNsP50: p50("metal-sim: dev.gemm (encode; sync every 64)"),
  };
});
sim.dev.synchronize();
cpu.dev.dispose();
sim.dev.dispose();
