// Every epilogue on every kernel family (gemv, small, split-K, tiled): bias, ReLU, SiLU, GELU (tanh
// form), residual add, output scale, SwiGLU from a separate up weight and from one fused gate/up
// weight, and all of them at once. Order: swiglu -> +bias -> activation -> *scale -> +residual.
import { test } from "./harness.ts";
import { type Case, label, openTestDevice, runCase } from "./gemm_helpers.ts";

const KINDS: Case[] = [
  { m: 1, n: 37, k: 200, format: "int4", gs: 32, kind: "gemv", splitK: 1 },
  { m: 5, n: 40, k: 136, format: "fp4", gs: 64, kind: "small", splitK: 1 },
  { m: 3, n: 19, k: 900, format: "int4-sym", gs: 128, kind: "splitk", splitK: 3 },
  { m: 21, n: 45, k: 100, format: "int4", gs: 32, kind: "tiled" },
];

const EPILOGUES: Partial<Case>[] = [
  { bias: true },
  { activation: "relu" },
  { activation: "silu" },
  { activation: "gelu" },
  { residual: true },
  { scale: -0.375 },
  { swiglu: "separate" },
  { swiglu: "fused" },
  { swiglu: "separate", bias: true, activation: "gelu", scale: 0.5, residual: true },
  { bias: true, activation: "silu", scale: 2, residual: true },
];

for (const base of KINDS) {
  for (const epi of EPILOGUES) {
    const c: Case = { ...base, ...epi };
    test(`epilogue ${c.kind} ${label(c)}`, () => {
      const dev = openTestDevice();
      try {
        runCase(dev, c);
      } finally {
        dev.dispose();
      }
    });
  }
}
