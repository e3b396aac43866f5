// The main job, end to end: quantize a linear layer's weight to 4 bits, upload it, and run the decode
// (M = 1), small-batch and prefill GEMMs on the device, each checked against the float64 reference.
// Runs on Metal on an Apple-silicon Mac once the Metal backend lands; everywhere else on the CPU
// shader runtime, which executes the very same .metal kernels.
//
//   bun examples/demo.ts [--k 1024] [--n 1024] [--m 1,7,64]
//     [--format fp4|int4|int4-sym|int4-affine|mxfp4|nvfp4] [--group-size 128|channel|any multiple of 8]
//   deno run -A examples/demo.ts ...
import { parseArgs } from "node:util";
import {
  dequantizeF64,
  Device,
  FORMAT_IDS,
  FORMAT_INFO,
  gemmRoute,
  type QuantFormat,
  quantize,
  referenceGemm,
} from "../mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    k: { type: "string", default: "1024" },
    n: { type: "string", default: "1024" },
    m: { type: "string", default: "1,7,64" },
    format: { type: "string", default: "fp4" },
    "group-size": { type: "string" },
  },
});
const k = Number(values.k);
const n = Number(values.n);
const ms = values.m.split(",").map(Number);
const format = values.format as QuantFormat;
// mxfp4 and nvfp4 fix their group size (32, 16); "channel" is one group over all of K.
const gsArg = values["group-size"] ?? String(FORMAT_INFO[format]?.fixedGroupSize ?? 128);
const groupSizeOpt = gsArg === "channel" ? "channel" : Number(gsArg);

/** Deterministic pseudo-normal values (no Math.random: the demo prints the same numbers each run). */
function normals(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  for (let i = 0; i < count; i++) out[i] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}

using dev = Device.open(); // "auto": Metal where available, else the CPU shader runtime
console.log(`device: ${dev.backend} — ${dev.info.name}`);

// An nn.Linear weight is [N, K] ("nk" layout); y = x · Wᵀ.
const weight = normals(n * k, 1).map((v) => v * 0.02);
let t = performance.now();
const q = quantize(weight, { k, n, format, groupSize: groupSizeOpt });
const groupSize = q.groupSize;
console.log(
  `quantized ${n}x${k} weight to ${format} (group size ${groupSize}) in ${
    (performance.now() - t).toFixed(1)
  } ms: ` +
    `${
      q.packed.byteLength + q.scales.byteLength + (q.zeros?.byteLength ?? 0) + (q.biases?.byteLength ?? 0)
    } bytes vs ${n * k * 2} as fp16`,
);
using w = dev.upload(q);
const dequantized = dequantizeF64(q); // [K, N] float64: the exact weights the kernels must reproduce

for (const m of ms) {
  const x = Float16Array.from(normals(m * k, 100 + m));
  using a = dev.tensor(x, [m, k]);
  const route = gemmRoute(dev, { m, n, k, format: FORMAT_IDS[format], groupSize });
  t = performance.now();
  using y = dev.gemm(a, w);
  const got = y.toArray() as Float16Array; // waits for the device
  const ms_ = performance.now() - t;
  const want = referenceGemm(x, m, q);
  // Error bound (the tests' policy): weights rounded to fp16 (2^-11) and float accumulation
  // ((K + 64) * 2^-24), both relative to S = sum_k |x_k w_k|; plus fp16 output rounding.
  const absSum = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const xv = Math.abs(x[i * k + p]);
      for (let j = 0; j < n; j++) absSum[i * n + j] += xv * Math.abs(dequantized[p * n + j]);
    }
  }
  let worst = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    const bound = (2 ** -11 + (k + 64) * 2 ** -24) * absSum[i] + 2 ** -11 * Math.abs(want[i]) + 2 ** -24;
    maxErr = Math.max(maxErr, err);
    worst = Math.max(worst, err / bound);
  }
  const ok = worst <= 1;
  if (!ok) process.exitCode = 1;
  console.log(
    `M=${String(m).padEnd(4)} ${route.kernel.padEnd(24)} ${ms_.toFixed(1).padStart(8)} ms   ` +
      `max |y - ref| = ${maxErr.toExponential(2)}  ${ok ? "ok" : "OUT OF TOLERANCE"}`,
  );
}
