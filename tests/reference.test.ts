// The float64 reference: hand-computed products, layouts, batching, and agreement with dequantize().
import assert from "node:assert";
import { test } from "./harness.ts";
import { compareF64, dequantizeF64, matmulF64, referenceGemm } from "../lib/reference/gemm.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { dequantize } from "../lib/quant/dequantize.ts";
import { ShapeError } from "../lib/runtime/errors.ts";
import { Rng } from "./util/random.ts";

test("matmulF64: a hand-computed 2x3 by 3x2 product, B as kn and nk", () => {
  const a = [1, 2, 3, 4, 5, 6];
  const bKN = [7, 8, 9, 10, 11, 12];
  const expected = [58, 64, 139, 154];
  assert.deepStrictEqual(Array.from(matmulF64(a, bKN, 2, 3, 2)), expected);
  const bNK = [7, 9, 11, 8, 10, 12];
  assert.deepStrictEqual(Array.from(matmulF64(a, bNK, 2, 3, 2, { bLayout: "nk" })), expected);
  assert.deepStrictEqual(Array.from(matmulF64(new Float16Array(a), bKN, 2, 3, 2)), expected);
  assert.throws(
    () => matmulF64(a, bKN, 2, 2, 2),
    (e) => e instanceof ShapeError && /a has 6 elements but batch\*m\*k = 1\*2\*2 = 4/.test(e.message),
  );
});

test("matmulF64: batched and shared-B batching", () => {
  const a = [1, 0, 0, 1, 2, 0, 0, 2]; // two 2x2: I and 2I
  const b = [1, 2, 3, 4];
  assert.deepStrictEqual(Array.from(matmulF64(a, b, 2, 2, 2, { batch: 2, bBatched: false })), [
    1,
    2,
    3,
    4,
    2,
    4,
    6,
    8,
  ]);
  assert.deepStrictEqual(Array.from(matmulF64(a, [...b, ...b], 2, 2, 2, { batch: 2 })), [
    1,
    2,
    3,
    4,
    2,
    4,
    6,
    8,
  ]);
});

test("dequantizeF64 equals dequantize (float32) transposed to [K, N] for every format and layout", () => {
  const rng = new Rng(41);
  for (const format of ["fp4", "int4", "int4-sym"] as const) {
    for (const layout of ["nk", "kn"] as const) {
      const k = 45, n = 11;
      const q = quantize(rng.fill(k * n, "normal"), { k, n, format, groupSize: 16, layout });
      const d32 = dequantize(q), d64 = dequantizeF64(q);
      for (let r = 0; r < k; r++) {
        for (let c = 0; c < n; c++) {
          const v32 = layout === "nk" ? d32[c * k + r] : d32[r * n + c];
          assert.strictEqual(Math.fround(d64[r * n + c]), v32, `${format} ${layout} k ${r} n ${c}`);
        }
      }
    }
  }
});

test("referenceGemm: A times the dequantized weight, single and batched weights", () => {
  const rng = new Rng(42);
  const m = 3, k = 20, n = 9;
  const a = rng.fill(m * k, "normal");
  const q = quantize(rng.fill(k * n, "normal"), { k, n, format: "fp4", groupSize: 8 });
  const w = dequantizeF64(q);
  const c = referenceGemm(a, m, q);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += a[i * k + t] * w[t * n + j];
      assert.strictEqual(c[i * n + j], acc);
    }
  }
  const qb = quantize(rng.fill(2 * k * n, "normal"), { k, n, format: "int4", groupSize: 8, batch: 2 });
  const ab = rng.fill(2 * m * k, "normal");
  const cb = referenceGemm(ab, m, qb);
  assert.strictEqual(cb.length, 2 * m * n);
  const wb = dequantizeF64(qb);
  assert.deepStrictEqual(cb.subarray(m * n), matmulF64(ab.subarray(m * k), wb.subarray(k * n), m, k, n));
});

test("compareF64 reports the worst index", () => {
  const r = compareF64([1, 2, 3.5], [1, 2, 3]);
  assert.strictEqual(r.worstIndex, 2);
  assert.strictEqual(r.maxAbs, 0.5);
  assert.ok(Math.abs(r.maxRel - 0.5 / 3) < 1e-15);
});
