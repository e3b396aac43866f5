// Small batch (M = 2..16, each weight word applied to every row) against the float64 reference. Formats
// and group sizes rotate over the M values; N and K are ragged against 8, 32, 64 and 256.
import { test } from "./harness.ts";
import { type Case, label, openTestDevice, runCase } from "./gemm_helpers.ts";

const CASES: Case[] = [
  { m: 2, n: 33, k: 100, format: "fp4", gs: 32 },
  { m: 3, n: 72, k: 264, format: "int4", gs: 64 },
  { m: 7, n: 129, k: 513, format: "int4-sym", gs: 128 },
  { m: 8, n: 8, k: 1000, format: "fp4", gs: 256 },
  { m: 9, n: 65, k: 63, format: "int4", gs: 32 },
  { m: 15, n: 31, k: 300, format: "int4-sym", gs: 64 },
  { m: 16, n: 200, k: 129, format: "int4", gs: 128 },
  { m: 16, n: 40, k: 520, format: "int4-sym", gs: 256 },
];

for (const c of CASES) {
  test(`small ${label(c)}`, () => {
    const dev = openTestDevice();
    try {
      runCase(dev, { ...c, kind: "small", splitK: 1 });
    } finally {
      dev.dispose();
    }
  });
}
