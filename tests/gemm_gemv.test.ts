// Decode GEMV (M = 1) against the float64 reference: every format x group size, with N and K that are
// not multiples of 8, 32, 64 or the tile sizes; plus float accumulation on a 4096-deep all-ones K.
import assert from "node:assert";
import { test } from "./harness.ts";
import { type Case, label, openTestDevice, runCase } from "./gemm_helpers.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { dequantizeF64 } from "../lib/reference/gemm.ts";
import type { QuantFormat } from "../lib/quant/formats.ts";

const FORMATS: QuantFormat[] = ["fp4", "int4", "int4-sym"];
// (N, K) per group size: ragged against 8 / 32 / 64 / 256 in turn, one aligned control.
const DIMS: Record<number, [number, number][]> = {
  32: [[37, 200], [64, 264], [5, 33]],
  64: [[64, 520], [100, 72], [129, 1]],
  128: [[100, 1000], [33, 129], [8, 256]],
  256: [[9, 777], [65, 512], [31, 300]],
};

for (const gs of [32, 64, 128, 256]) {
  FORMATS.forEach((format, i) => {
    const [n, k] = DIMS[gs][i];
    const c: Case = { m: 1, n, k, format, gs, kind: "gemv" };
    test(`gemv ${label(c)}`, () => {
      const dev = openTestDevice();
      try {
        runCase(dev, c);
      } finally {
        dev.dispose();
      }
    });
  });
}

// 4096 ones: an fp16 accumulator stalls at 2048 (ulp 2 there), a float one reaches ~4096.
for (
  const [m, splitK, kind] of [[1, 1, "gemv"], [4, 1, "small"], [17, 0, "tiled"], [1, 4, "splitk"]] as const
) {
  test(`K=4096 all-ones does not overflow fp16 accumulation (M=${m} ${kind})`, () => {
    const dev = openTestDevice();
    try {
      const k = 4096, n = 16;
      const q = quantize(new Float32Array(k * n).fill(1), {
        k,
        n,
        format: "int4-sym",
        groupSize: 128,
        layout: "kn",
      });
      const wv = dequantizeF64(q)[0]; // (15 - 8) * f16(1/7), slightly below 1
      const w = dev.upload(q);
      const a = dev.tensor(new Float16Array(m * k).fill(1), [m, k]);
      const out = dev.gemm(a, w, { splitK });
      const got = out.toArray();
      for (let i = 0; i < got.length; i++) {
        assert.ok(Math.abs(got[i] - k * wv) <= 4, `C[${i}] = ${got[i]}, expected ${k * wv}`);
      }
      assert.ok(got[0] > 4000);
    } finally {
      dev.dispose();
    }
  });
}
