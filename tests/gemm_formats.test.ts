// Issue 11's GEMM matrix against the float64 reference: the new formats (int4-affine with f16 and bf16
// scales/biases, mxfp4, nvfp4) on every kernel family with each epilogue; group sizes 8, 16, 24, 40, 200,
// 1000 and per channel (also at K = 4096 and 14336, M = 1, small N: the GEMV and split-K paths); bf16 and
// f16 activations; batched GEMM with a broadcast weight. Shapes are ragged (N, K off every multiple).
import { test } from "./harness.ts";
import {
  assertClose,
  type Case,
  dense,
  expect,
  label,
  openTestDevice,
  randBf16,
  randomWeight,
  runCase,
} from "./gemm_helpers.ts";
import type { QuantFormat, ScaleDType } from "../lib/quant/formats.ts";
import { bf16BitsToF32 } from "../lib/quant/convert.ts";

const NEW: [QuantFormat, ScaleDType | undefined][] = [
  ["int4-affine", "f16"],
  ["int4-affine", "bf16"],
  ["mxfp4", undefined],
  ["nvfp4", undefined],
];

const CASES: Case[] = [];
NEW.forEach(([format, scaleDtype], i) => {
  const gs = format === "int4-affine" ? [24, 40][i % 2] : undefined;
  const act = i % 2 === 0 ? "f16" : "bf16";
  const other = act === "f16" ? "bf16" : "f16";
  CASES.push(
    { m: 1, n: 37, k: 264, format, gs, scaleDtype, act, kind: "gemv", bias: true, activation: "gelu" },
    { m: 7, n: 45, k: 200, format, gs, scaleDtype, act: other, kind: "small", residual: true, scale: 0.5 },
    { m: 3, n: 24, k: 2100, format, gs, scaleDtype, act, kind: "splitk", splitK: 3, activation: "silu" },
    {
      m: 70,
      n: 66,
      k: 136,
      format,
      gs,
      scaleDtype,
      act: other,
      kind: "tiled",
      bias: true,
      activation: "relu",
    },
    { m: 33, n: 40, k: 96, format, gs, scaleDtype, act, kind: "tiled", swiglu: "separate", residual: true },
    { m: 2, n: 24, k: 120, format, gs, scaleDtype, act: other, kind: "small", swiglu: "fused", bias: true },
  );
});

// Group sizes as data: every size on the family that walks it differently (vector kernels stage 256-K
// blocks split over 4 simdgroups; tiled stages 32-K tiles), int4-affine and the old formats alike.
const SIZES: [number | "channel", QuantFormat][] = [
  [8, "int4-affine"],
  [16, "fp4"],
  [24, "int4"],
  [40, "int4-sym"],
  [200, "int4-affine"],
  [1000, "fp4"],
  ["channel", "int4"],
];
SIZES.forEach(([gs, format], i) => {
  const act = i % 2 === 0 ? "bf16" : "f16";
  CASES.push(
    { m: 1, n: 33, k: 1003, format, gs, act, kind: "gemv", splitK: 1 },
    { m: 5, n: 17, k: 1003, format, gs, act, kind: "splitk", splitK: 2, bias: true },
    { m: 19, n: 35, k: 1003, format, gs, act, kind: "tiled", scale: 2 },
  );
});
// Deep K as real models have it (Llama q_proj 4096, Llama-3-70B / Mixtral down_proj 14336): M = 1 and a
// small N, so routing splits K automatically (too few column blocks) unless splitK = 1 keeps the GEMV.
for (
  const [k, gs, format] of [[4096, 1000, "int4-affine"], [14336, "channel", "int4"], [
    14336,
    8,
    "fp4",
  ]] as const
) {
  CASES.push({ m: 1, n: 16, k, format, gs, act: "bf16", kind: "splitk" });
  CASES.push({ m: 1, n: 16, k, format, gs, act: "f16", kind: "gemv", splitK: 1 });
}
CASES.push({ m: 1, n: 16, k: 14336, format: "mxfp4", gs: undefined, kind: "splitk" });
CASES.push({ m: 1, n: 16, k: 4096, format: "nvfp4", gs: undefined, act: "bf16", kind: "gemv", splitK: 1 });

for (const c of CASES) {
  test(`formats: ${c.kind} ${label(c)}`, () => {
    const dev = openTestDevice();
    try {
      runCase(dev, c);
    } finally {
      dev.dispose();
    }
  });
}

// Batched GEMM, one weight broadcast to every batch (strideW = 0), bf16 activations with a row pitch.
for (
  const [format, gs, m] of [["int4-affine", 40, 1], ["nvfp4", undefined, 6], [
    "mxfp4",
    undefined,
    20,
  ]] as const
) {
  const b = 3, n = 21, k = 168, lda = k + 3;
  const name = `formats: batched B=${b} M=${m} N=${n} K=${k} ${format} gs=${
    gs ?? "fixed"
  } broadcast W act=bf16`;
  test(name, () => {
    const dev = openTestDevice();
    try {
      const q = randomWeight(k, n, format, gs, 5 + m);
      const { bits, values } = randBf16(b * m * lda, 9 + m);
      using w = dev.upload(q);
      using a = dev.tensor(bits, [b, m, lda], "bf16");
      using out = dev.batchedGemm(a, w, { batch: b, m, lda });
      const got = Float32Array.from(out.toArray() as Uint16Array, bf16BitsToF32);
      const wd = dense(q);
      for (let bi = 0; bi < b; bi++) {
        const e = expect(values, bi * m * lda, lda, m, k, n, wd, 0, undefined, {}, 0, "bf16");
        assertClose(`${name} batch ${bi}`, got, bi * m * n, n, m, n, e);
      }
    } finally {
      dev.dispose();
    }
  });
}
