// Quantize / dequantize throughput (host TypeScript, single thread). `bun bench/quant.bench.ts [--json]`
// or `deno run -A bench/quant.bench.ts [--json]`. Goal (issue 3): fp4 quantize >= 100 M weights/s in Bun.
import { bench } from "mitata";
import { quantize } from "../lib/quant/quantize.ts";
import { dequantize } from "../lib/quant/dequantize.ts";
import type { QuantFormat } from "../lib/quant/formats.ts";
import { type BenchRow, report } from "./report.ts";

// 4096 x 4096 (one Llama-3-8B q_proj): big enough that per-call overhead does not count.
const K = 4096, N = 4096;
const w = new Float32Array(K * N);
let s = 0x9e3779b9;
for (let i = 0; i < w.length; i++) {
  s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: benches need data, not statistics
  w[i] = (s / 4294967296 - 0.5) * 0.1;
}

const cases: { name: string; weights: number; fn: () => unknown }[] = [];
for (const format of ["fp4", "int4", "int4-sym"] as QuantFormat[]) {
  cases.push({
    name: `quantize ${format} nk gs128 ${N}x${K}`,
    weights: K * N,
    fn: () => quantize(w, { k: K, n: N, format }),
  });
  const q = quantize(w, { k: K, n: N, format });
  cases.push({ name: `dequantize ${format} nk gs128 ${N}x${K}`, weights: K * N, fn: () => dequantize(q) });
}
cases.push({
  name: `quantize fp4 kn gs128 ${K}x${N}`,
  weights: K * N,
  fn: () => quantize(w, { k: K, n: N, format: "fp4", layout: "kn" }),
});
cases.push({
  name: `quantize fp4 nk gs128 clip ${N}x${K}`,
  weights: K * N,
  fn: () => quantize(w, { k: K, n: N, format: "fp4", clip: true }),
});
for (const c of cases) bench(c.name, c.fn);

await report("quant", "host-ts", (rows: BenchRow[]) => {
  const perSecond: Record<string, number> = {};
  for (const r of rows) {
    const c = cases.find((x) => x.name === r.name)!;
    perSecond[r.name] = Math.round(c.weights / (r.avgNs / 1e9) / 1e5) / 10; // M weights/s, one thread
  }
  return { mWeightsPerSecond: perSecond };
});
