// Tiled prefill GEMM (M > 16; 64x64 tiles, 32-deep K steps) against the float64 reference: the issue's
// M values past the small-batch range, N and K off every tile multiple, every format and group size.
import { test } from "./harness.ts";
import { type Case, label, openTestDevice, runCase } from "./gemm_helpers.ts";

const CASES: Case[] = [
  { m: 17, n: 70, k: 130, format: "fp4", gs: 32 },
  { m: 31, n: 64, k: 96, format: "int4", gs: 32 },
  { m: 33, n: 130, k: 260, format: "int4-sym", gs: 64 },
  { m: 64, n: 9, k: 520, format: "fp4", gs: 128 },
  { m: 65, n: 200, k: 72, format: "int4", gs: 64 },
  { m: 127, n: 33, k: 300, format: "int4-sym", gs: 256 },
  { m: 129, n: 96, k: 200, format: "int4", gs: 128 },
  { m: 20, n: 1, k: 1, format: "fp4", gs: 256 },
];

for (const c of CASES) {
  test(`tiled ${label(c)}`, () => {
    const dev = openTestDevice();
    try {
      runCase(dev, { ...c, kind: "tiled" });
    } finally {
      dev.dispose();
    }
  });
}
