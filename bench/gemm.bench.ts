// Quantized GEMM on the CPU shader runtime: each kernel family on decode and prefill shapes taken from
// the Llama-3-8B and Qwen2 tables (scaled to what the CPU runtime runs in well under a second), and
// the per-call TypeScript overhead of dev.gemm against a direct mm_gemm ABI call on a tiny shape.
// Run: bun bench/gemm.bench.ts   |   deno run -A bench/gemm.bench.ts   (add --json for stdout)
import { bench, do_not_optimize, group } from "mitata";
import { Device } from "../mod.ts";
import { gemmRoute } from "../lib/api/device.ts";
import { nativeOf, tensorState } from "../lib/runtime/internal.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { FORMAT_IDS, type QuantFormat } from "../lib/quant/formats.ts";
import { type BenchRow, report } from "./report.ts";

const dev = Device.open({ backend: "cpu" });
// One worker for the overhead pair: fewer wake-ups, so the TS difference is not lost in scheduler jitter.
const dev1 = Device.open({ backend: "cpu", threads: 1 });

function weights(d: Device, k: number, n: number, format: QuantFormat, groupSize: number) {
  const w = new Float32Array(k * n);
  let s = 0x2545f491;
  for (let i = 0; i < w.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: benches need data, not statistics
    w[i] = (s / 4294967296 - 0.5) * 0.05;
  }
  return d.upload(quantize(w, { k, n, format, groupSize }));
}

interface Shape {
  what: string;
  m: number;
  n: number;
  k: number;
  format: QuantFormat;
  gs: number;
}

// Llama-3-8B: hidden 4096, ffn 14336, 8 KV heads x 128. Qwen2-7B: hidden 3584, ffn 18944, 4 KV heads x 128.
// Prefill and FFN dims are divided by 4 (or 8) to keep one call well under a second on 2 CPU threads.
const SHAPES: Shape[] = [
  { what: "Llama-3-8B q_proj decode", m: 1, n: 4096, k: 4096, format: "fp4", gs: 128 },
  { what: "Llama-3-8B k_proj decode", m: 1, n: 1024, k: 4096, format: "int4", gs: 128 },
  { what: "Qwen2-7B k_proj decode (GQA 4x128)", m: 1, n: 512, k: 3584, format: "int4-sym", gs: 64 },
  { what: "Llama-3-8B q_proj, batch 8 decode", m: 8, n: 4096, k: 4096, format: "fp4", gs: 128 },
  { what: "Qwen2-7B down_proj/4, batch 4", m: 4, n: 3584, k: 4736, format: "int4", gs: 32 },
  { what: "Llama-3-8B q_proj/4 prefill 128", m: 128, n: 1024, k: 1024, format: "fp4", gs: 128 },
  { what: "Qwen2-7B gate_proj/8 prefill 64", m: 64, n: 2368, k: 896, format: "int4", gs: 32 },
];

for (const s of SHAPES) {
  const r = gemmRoute(dev, { m: s.m, n: s.n, k: s.k, format: FORMAT_IDS[s.format], groupSize: s.gs });
  const w = weights(dev, s.k, s.n, s.format, s.gs);
  const a = dev.tensor(Float16Array.from({ length: s.m * s.k }, (_, i) => ((i * 37) % 101) / 101 - 0.5), [
    s.m,
    s.k,
  ]);
  const out = dev.empty([s.m, s.n], "f16");
  group(`${r.kind}: ${s.what}`, () => {
    bench(`${r.kernel} M=${s.m} N=${s.n} K=${s.k}${r.splits > 1 ? ` splits=${r.splits}` : ""}`, () => {
      dev.gemm(a, w, { out });
      dev.synchronize();
    });
  });
}

// Per-call overhead: the same tiny GEMM through dev.gemm (reusing `out`) and through one direct ABI
// call with a params block filled once. Both include the kernel run; the difference is the TS layer.
{
  const k = 64, n = 8;
  const w = weights(dev1, k, n, "fp4", 32);
  const a = dev1.tensor(new Float16Array(k).fill(0.5), [1, k]);
  const out = dev1.empty([1, n], "f16");
  const { native, handle } = nativeOf(dev1);
  const p = new Uint32Array(56); // mm_gemm_params, 224 bytes (layout in csrc/include/metal_marlin.h)
  p[0] = 224;
  p[1] = 0; // format fp4
  p[2] = 32; // group size
  [p[3], p[4], p[5], p[6], p[7], p[8], p[9]] = [1, n, k, w.kp, w.np, w.np, 1]; // m n k kp np ldw batch
  [p[10], p[11], p[12]] = [k, n, n]; // lda ldc ldr
  p[22] = tensorState(w.packed).buffer;
  p[23] = tensorState(w.scales).buffer;
  p[25] = tensorState(a).buffer;
  p[26] = tensorState(out).buffer;
  const params = new Uint8Array(p.buffer);
  const direct = native.fns.mm_gemm as (dev: number, params: Uint8Array) => number;
  group("per-call overhead, 1x8x64 fp4 gemv", () => {
    bench("direct mm_gemm ABI call", () => do_not_optimize(direct(handle, params)));
    const opts = { out };
    bench("dev.gemm(a, w, { out })", () => do_not_optimize(dev1.gemm(a, w, opts)));
  });
}

await report("gemm", "cpu", (rows: BenchRow[]) => {
  const direct = rows.find((r) => r.name === "direct mm_gemm ABI call");
  const api = rows.find((r) => r.name.startsWith("dev.gemm"));
  // Medians: the kernel run (tens of µs on the CPU runtime) has a long tail that swamps the averages.
  return direct && api ? { tsOverheadNsPerCallP50: api.p50Ns - direct.p50Ns } : {};
});
dev.dispose();
dev1.dispose();
