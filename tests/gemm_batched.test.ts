// Strided batched GEMM: broadcast (shared) weights, per-batch weights, activations with a row pitch
// (sub-view of a wider matrix), outputs written into a larger buffer with row pitch and batch stride,
// broadcast activations (stride 0) and a batched residual — on every kernel family.
import { test } from "./harness.ts";
import {
  assertClose,
  dense,
  expect,
  magnitude,
  openTestDevice,
  randF16,
  randomWeight,
} from "./gemm_helpers.ts";
import type { QuantFormat } from "../lib/quant/formats.ts";

interface BCase {
  b: number;
  m: number;
  n: number;
  k: number;
  format: QuantFormat;
  gs: number | "channel";
  /** Weight has its own batch dimension (else broadcast to every batch). */
  batchedW: boolean;
  /** Extra elements per activation row (lda = k + padA) and per output row (ldc = n + padC). */
  padA: number;
  padC: number;
  /** Extra elements between output batches. */
  gapC: number;
  /** Activations shared by every batch (strideA = 0). */
  shareA?: boolean;
  residual?: boolean;
  splitK?: number;
}

const CASES: BCase[] = [
  { b: 3, m: 1, n: 37, k: 130, format: "fp4", gs: 32, batchedW: false, padA: 0, padC: 0, gapC: 0 },
  { b: 2, m: 1, n: 24, k: 300, format: "int4", gs: 64, batchedW: true, padA: 5, padC: 3, gapC: 7 },
  {
    b: 3,
    m: 6,
    n: 40,
    k: 100,
    format: "int4-sym",
    gs: 32,
    batchedW: true,
    padA: 3,
    padC: 0,
    gapC: 0,
    residual: true,
  },
  {
    b: 2,
    m: 9,
    n: 17,
    k: 1100,
    format: "fp4",
    gs: 256,
    batchedW: false,
    padA: 1,
    padC: 2,
    gapC: 5,
    splitK: 3,
  },
  {
    b: 2,
    m: 33,
    n: 70,
    k: 96,
    format: "int4",
    gs: 32,
    batchedW: false,
    padA: 8,
    padC: 6,
    gapC: 3,
    residual: true,
  },
  {
    b: 3,
    m: 19,
    n: 9,
    k: 70,
    format: "int4-sym",
    gs: 64,
    batchedW: true,
    padA: 3,
    padC: 1,
    gapC: 0,
    shareA: true,
  },
  // Per channel under split-K: the reduction applies each batch entry's scale (+ zero point / bias).
  {
    b: 3,
    m: 4,
    n: 40,
    k: 1030,
    format: "int4",
    gs: "channel",
    batchedW: true,
    padA: 2,
    padC: 1,
    gapC: 3,
    residual: true,
    splitK: 3,
  },
  {
    b: 2,
    m: 1,
    n: 300,
    k: 600,
    format: "int4-affine",
    gs: "channel",
    batchedW: false,
    padA: 0,
    padC: 0,
    gapC: 0,
    splitK: 2,
  },
];

for (const c of CASES) {
  const name = `batched B=${c.b} M=${c.m} N=${c.n} K=${c.k} ${c.format} gs=${c.gs} ` +
    `${c.batchedW ? "per-batch W" : "broadcast W"} lda=k+${c.padA} ldc=n+${c.padC} gap=${c.gapC}` +
    `${c.shareA ? " strideA=0" : ""}${c.residual ? " residual" : ""}${c.splitK ? ` splitK=${c.splitK}` : ""}`;
  test(name, () => {
    const dev = openTestDevice();
    const seed = c.m * 31 + c.n * 17 + c.k;
    const q = randomWeight(c.k, c.n, c.format, c.gs, seed, c.batchedW ? c.b : undefined);
    const lda = c.k + c.padA, ldc = c.n + c.padC;
    const strideA = c.shareA ? 0 : c.m * lda, strideC = c.m * ldc + c.gapC;
    const aRows = c.shareA ? c.m : c.b * c.m;
    const aData = randF16(aRows * lda, seed + 1);
    // Row padding holds NaN: a kernel reading past K in any row would poison its outputs.
    for (let r = 0; r < aRows; r++) aData.fill(NaN, r * lda + c.k, (r + 1) * lda);
    const resData = c.residual ? randF16(c.b * c.m * c.n, seed + 2, 3) : undefined;
    try {
      const w = dev.upload(q);
      const a = dev.tensor(aData, c.shareA ? [c.m, lda] : [c.b, c.m, lda]);
      const out = dev.empty([c.b * strideC], "f16");
      const residual = resData ? dev.tensor(resData, [c.b, c.m, c.n]) : undefined;
      dev.batchedGemm(a, w, {
        batch: c.b,
        m: c.m,
        lda,
        strideA,
        out,
        ldc,
        strideC,
        residual,
        splitK: c.splitK,
      });
      const got = out.toArray();
      const wd = dense(q);
      const mag = c.gs === "channel" && c.splitK ? { w: magnitude(q) } : undefined;
      for (let bi = 0; bi < c.b; bi++) {
        const e = expect(
          aData,
          bi * strideA,
          lda,
          c.m,
          c.k,
          c.n,
          wd,
          c.batchedW ? bi * c.k * c.n : 0,
          undefined,
          { residual: resData },
          bi * c.m * c.n,
          "f16",
          mag,
        );
        assertClose(`${name} batch ${bi}`, got, bi * strideC, ldc, c.m, c.n, e);
      }
      // Padding between rows and batches is never written.
      for (let bi = 0; bi < c.b; bi++) {
        for (let i = 0; i < c.m; i++) {
          for (let j = c.n; j < ldc; j++) {
            if (got[bi * strideC + i * ldc + j] !== 0) {
              throw new Error(`${name}: pad element written at batch ${bi} row ${i} col ${j}`);
            }
          }
        }
      }
    } finally {
      dev.dispose();
    }
  });
}
