// Split-K (partials per K range aligned to 256, then an ordered reduction): automatic for few columns
// and deep K, forced for small shapes; results must match the reference and the unsplit kernel's bits
// need not (different summation order), but must be deterministic.
import assert from "node:assert";
import { test } from "./harness.ts";
import { type Case, label, openCpu, runCase } from "./gemm_helpers.ts";

const CASES: Case[] = [
  { m: 1, n: 40, k: 2100, format: "fp4", gs: 32 },
  { m: 2, n: 33, k: 1030, format: "int4", gs: 64, splitK: 3 },
  { m: 16, n: 17, k: 700, format: "int4-sym", gs: 128, splitK: 2 },
  { m: 5, n: 64, k: 4096, format: "int4", gs: 256 },
];

for (const c of CASES) {
  test(`splitk ${label(c)}`, () => {
    const dev = openCpu();
    try {
      runCase(dev, { ...c, kind: "splitk" });
    } finally {
      dev.dispose();
    }
  });
}

test("splitk is deterministic across calls", () => {
  const dev = openCpu();
  try {
    const c: Case = { m: 3, n: 24, k: 1500, format: "fp4", gs: 64, splitK: 4, kind: "splitk" };
    const first = runCase(dev, c);
    const second = runCase(dev, c);
    assert.deepStrictEqual(new Uint16Array(second.buffer), new Uint16Array(first.buffer));
  } finally {
    dev.dispose();
  }
});

test("splitk reuses and grows the device's workspace across shapes", () => {
  const dev = openCpu();
  try {
    runCase(dev, { m: 1, n: 16, k: 1100, format: "fp4", gs: 32, splitK: 2, kind: "splitk" });
    const buffers = dev.info.live_buffers;
    runCase(dev, { m: 1, n: 16, k: 1100, format: "fp4", gs: 32, splitK: 2, kind: "splitk" });
    assert.strictEqual(dev.info.live_buffers, buffers, "same shape: no new workspace");
    runCase(dev, {
      m: 12,
      n: 48,
      k: 2100,
      format: "int4",
      gs: 64,
      splitK: 5,
      kind: "splitk",
      swiglu: "separate",
    });
    runCase(dev, { m: 2, n: 8, k: 600, format: "int4-sym", gs: 128, splitK: 2, kind: "splitk" });
  } finally {
    dev.dispose();
  }
});
