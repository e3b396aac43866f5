// The one routing function (csrc/core/gemm_routing.cpp) picks the kernel each shape should get:
// GEMV for M = 1, small batch for 2..16, split-K when those launch < 64 threadgroups on a K with room
// for >= 2 parts of 1024, tiled above 16 rows. Boundaries of every named threshold are pinned here.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice } from "./gemm_helpers.ts";
import { gemmRoute } from "../lib/api/device.ts";
import { InvalidArgumentError } from "../lib/runtime/errors.ts";

const FP4 = 0, INT4 = 1, SYM = 2;

interface Row {
  m: number;
  n: number;
  k: number;
  format: number;
  gs: number;
  batch?: number;
  swiglu?: boolean;
  splitK?: number;
  kernel: string;
  splits?: number;
  grid?: [number, number, number];
  why: string;
}

const TABLE: Row[] = [
  {
    m: 1,
    n: 4096,
    k: 4096,
    format: FP4,
    gs: 128,
    kernel: "gemv",
    grid: [128, 1, 1],
    why: "decode, 128 threadgroups",
  },
  {
    m: 1,
    n: 2048,
    k: 4096,
    format: INT4,
    gs: 32,
    kernel: "gemv",
    why: "exactly 64 threadgroups: no split",
  },
  {
    m: 1,
    n: 2016,
    k: 4096,
    format: INT4,
    gs: 32,
    kernel: "gemm_splitk",
    splits: 2,
    why: "63 threadgroups",
  },
  {
    m: 1,
    n: 256,
    k: 4096,
    format: SYM,
    gs: 64,
    kernel: "gemm_splitk",
    splits: 4,
    grid: [8, 4, 1],
    why: "capped at K/1024 parts",
  },
  {
    m: 1,
    n: 64,
    k: 512,
    format: FP4,
    gs: 256,
    kernel: "gemv",
    why: "K <= 512 stays on the GEMV (no slow path)",
  },
  {
    m: 1,
    n: 64,
    k: 2047,
    format: FP4,
    gs: 32,
    kernel: "gemm_splitk",
    splits: 2,
    why: "2048 walked K = 2 parts",
  },
  { m: 1, n: 64, k: 2040, format: FP4, gs: 32, kernel: "gemv", why: "2040 < 2 x 1024" },
  {
    m: 2,
    n: 4096,
    k: 4096,
    format: INT4,
    gs: 128,
    kernel: "gemm_small",
    why: "small batch starts at 2",
  },
  {
    m: 16,
    n: 4096,
    k: 4096,
    format: SYM,
    gs: 256,
    kernel: "gemm_small",
    why: "small batch ends at 16",
  },
  {
    m: 17,
    n: 4096,
    k: 4096,
    format: FP4,
    gs: 64,
    kernel: "gemm_tiled_f16",
    grid: [64, 1, 1],
    why: "17 rows: tiled",
  },
  {
    m: 16,
    n: 32,
    k: 8192,
    format: INT4,
    gs: 64,
    kernel: "gemm_splitk",
    splits: 8,
    why: "small M, deep K, 1 group",
  },
  {
    m: 129,
    n: 130,
    k: 300,
    format: INT4,
    gs: 32,
    kernel: "gemm_tiled_f16",
    grid: [3, 3, 1],
    why: "ceil(129/64) rows",
  },
  {
    m: 64,
    n: 130,
    k: 300,
    format: SYM,
    gs: 32,
    swiglu: true,
    kernel: "gemm_tiled_f16",
    grid: [5, 1, 1],
    why: "SwiGLU tiles are 32 wide",
  },
  {
    m: 1,
    n: 100,
    k: 8192,
    format: FP4,
    gs: 128,
    splitK: 1,
    kernel: "gemv",
    why: "splitK=1 never splits",
  },
  {
    m: 3,
    n: 4096,
    k: 300,
    format: FP4,
    gs: 128,
    splitK: 3,
    kernel: "gemm_splitk",
    splits: 2,
    why: "forced; one part per 256",
  },
  {
    m: 1,
    n: 512,
    k: 4096,
    format: INT4,
    gs: 128,
    batch: 4,
    kernel: "gemv",
    grid: [16, 1, 4],
    why: "batch fills 64",
  },
  {
    m: 200,
    n: 64,
    k: 4096,
    format: INT4,
    gs: 128,
    splitK: 4,
    kernel: "gemm_tiled_f16",
    why: "tiled ignores splitK",
  },
  // Split boundaries on group boundaries (issue 11): 14 parts of 1024 at gs 32, but 1008 = 42 x 24 at gs 24
  // (15 parts, none longer); gs 1000 takes 1000-K parts (5), gs 200 at K 400 parts of 200; per channel 256.
  { m: 1, n: 16, k: 14336, format: INT4, gs: 32, kernel: "gemm_splitk", splits: 14, why: "gs | 256: 1024" },
  { m: 1, n: 16, k: 14336, format: INT4, gs: 24, kernel: "gemm_splitk", splits: 15, why: "gs 24: 1008" },
  { m: 1, n: 16, k: 4096, format: FP4, gs: 1000, kernel: "gemm_splitk", splits: 5, why: "gs 1000: 1000" },
  {
    m: 3,
    n: 16,
    k: 400,
    format: INT4,
    gs: 200,
    splitK: 2,
    kernel: "gemm_splitk",
    splits: 2,
    why: "gs 200: 200",
  },
  { m: 1, n: 16, k: 14336, format: INT4, gs: 14336, kernel: "gemm_splitk", splits: 14, why: "per channel" },
  { m: 3, n: 16, k: 4096, format: FP4, gs: 4096, kernel: "gemm_splitk", splits: 4, why: "per channel fp4" },
  {
    m: 2,
    n: 16,
    k: 9000,
    format: SYM,
    gs: 9000,
    splitK: 40,
    kernel: "gemm_splitk",
    splits: 36,
    why: "per channel, > 32 parts",
  },
];

for (const r of TABLE) {
  test(`routing M=${r.m} N=${r.n} K=${r.k} fmt=${r.format} gs=${r.gs}${r.batch ? ` B=${r.batch}` : ""}${r.swiglu ? " swiglu" : ""}${r.splitK !== undefined ? ` splitK=${r.splitK}` : ""} -> ${r.kernel} (${r.why})`, () => {
    const dev = openTestDevice();
    try {
      const got = gemmRoute(dev, {
        m: r.m,
        n: r.n,
        k: r.k,
        format: r.format,
        groupSize: r.gs,
        batch: r.batch,
        swiglu: r.swiglu,
        splitK: r.splitK,
      });
      assert.strictEqual(got.kernel, r.kernel);
      assert.strictEqual(got.splits, r.splits ?? 1);
      if (r.grid) assert.deepStrictEqual(got.grid, r.grid);
      if (got.kind === "splitk") {
        assert.strictEqual(got.reduceKernel, "gemm_splitk_reduce");
        // Per channel (one group over all of K, <= 32 parts), formats with an offset b (not fp4) also
        // keep each split's sums of x per row for the reduction: [batch][splits][M] floats.
        const sums = r.gs >= Math.ceil(r.k / 8) * 8 && got.splits <= 32 && r.format !== FP4 ? r.m : 0;
        assert.strictEqual(
          got.workspaceBytes,
          (r.batch ?? 1) * got.splits * ((r.swiglu ? 2 : 1) * r.m * r.n + sums) * 4,
        );
      } else {
        assert.strictEqual(got.reduceKernel, "");
        assert.strictEqual(got.workspaceBytes, 0);
      }
    } finally {
      dev.dispose();
    }
  });
}

test("routing: any multiple of 8 is a group size of the same kernels; bad sizes and formats are refused", () => {
  const dev = openTestDevice();
  try {
    for (const groupSize of [8, 16, 24, 40, 200, 1000, 4096]) {
      assert.strictEqual(gemmRoute(dev, { m: 1, n: 4096, k: 4096, format: FP4, groupSize }).kernel, "gemv");
      assert.strictEqual(
        gemmRoute(dev, { m: 64, n: 64, k: 4096, format: 3, groupSize }).kernel,
        "gemm_tiled_f16",
      );
    }
    assert.strictEqual(
      gemmRoute(dev, { m: 64, n: 64, k: 64, format: 4, groupSize: 32, act: "bf16" }).kernel,
      "gemm_tiled_bf16",
    );
    for (const groupSize of [12, 0]) {
      assert.throws(
        () => gemmRoute(dev, { m: 1, n: 8, k: 64, format: FP4, groupSize }),
        InvalidArgumentError,
      );
    }
    // mxfp4 is defined with 32-value blocks, nvfp4 with 16: other sizes are another format.
    assert.throws(() => gemmRoute(dev, { m: 1, n: 8, k: 64, format: 4, groupSize: 16 }), /group size 32/);
    assert.throws(() => gemmRoute(dev, { m: 1, n: 8, k: 64, format: 5, groupSize: 32 }), /group size 16/);
    assert.throws(
      () => gemmRoute(dev, { m: 1, n: 8, k: 64, format: 7, groupSize: 32 }),
      InvalidArgumentError,
    );
  } finally {
    dev.dispose();
  }
});
