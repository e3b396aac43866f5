// Results are bit-identical with 1 and 2 CPU worker threads on every kernel family: no float atomics,
// fixed reduction orders (simdgroups, split-K partials), per-threadgroup state only.
import assert from "node:assert";
import { test } from "./harness.ts";
import { Device } from "../lib/api/device.ts";
import { type Case, label, runCase } from "./gemm_helpers.ts";

// Worker-thread counts are the CPU runtime's: this file stays on "cpu" under MM_TEST_BACKEND.
const openCpu = (threads: number) => Device.open({ backend: "cpu", threads });

const CASES: Case[] = [
  { m: 1, n: 70, k: 520, format: "int4", gs: 64, kind: "gemv", splitK: 1 },
  { m: 9, n: 40, k: 300, format: "fp4", gs: 32, kind: "small", splitK: 1 },
  { m: 4, n: 24, k: 2000, format: "int4-sym", gs: 128, kind: "splitk", splitK: 5, activation: "gelu" },
  { m: 65, n: 130, k: 200, format: "int4", gs: 32, kind: "tiled", bias: true, swiglu: "separate" },
  // Issue 11: the new formats, odd group sizes and bf16 activations (the float-tiled bf16 kernel).
  {
    m: 1,
    n: 70,
    k: 1000,
    format: "int4-affine",
    gs: 40,
    scaleDtype: "bf16",
    act: "bf16",
    kind: "gemv",
    splitK: 1,
  },
  { m: 6, n: 40, k: 3000, format: "nvfp4", gs: undefined, kind: "splitk", splitK: 3, residual: true },
  {
    m: 70,
    n: 72,
    k: 200,
    format: "mxfp4",
    gs: undefined,
    act: "bf16",
    kind: "tiled",
    bias: true,
    activation: "silu",
  },
  { m: 40, n: 66, k: 1000, format: "int4-affine", gs: "channel", kind: "tiled" },
  // Per-channel split-K: scale applied in the reduction, sums of x from column block 0.
  { m: 5, n: 300, k: 1500, format: "int4", gs: "channel", kind: "splitk", splitK: 3, swiglu: "fused" },
];

for (const c of CASES) {
  test(`bit-identical with 1 and 2 threads: ${c.kind} ${label(c)}`, () => {
    const one = openCpu(1), two = openCpu(2);
    try {
      assert.strictEqual(one.info.threads, 1);
      assert.strictEqual(two.info.threads, 2);
      const a = runCase(one, c);
      const b = runCase(two, c);
      assert.deepStrictEqual(new Uint16Array(b.buffer), new Uint16Array(a.buffer));
    } finally {
      one.dispose();
      two.dispose();
    }
  });
}
