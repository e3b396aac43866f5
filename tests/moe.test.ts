// MoE pieces against their float64 references: routing (top-k 1 / 2 / 8 of 8 / 64 experts, skewed and
// tied logits), the stable sort, the grouped GEMM in every format, the combine; plus the reference
// repository's three MoE bugs (first token's expert for a whole tile, non-atomic += across experts,
// an unstable sort) as cases that would fail on that behaviour.
import assert from "node:assert/strict";
import { Device } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, randomWeight, sameBits } from "./layer_helpers.ts";
import { combineF64, routeF64, routerLogitsF64, sortPairsF64 } from "../lib/reference/moe.ts";
import { assertRouteIds, type CaseOpts, gemmCase, type GroupSize, routerWeights } from "./moe_helpers.ts";
import { InvalidArgumentError, type QuantFormat, ShapeError } from "../mod.ts";

const ROUTES: { T: number; E: number; k: number; tied: boolean; D?: number }[] = [
  { T: 37, E: 8, k: 1, tied: false },
  { T: 37, E: 8, k: 2, tied: false },
  { T: 13, E: 8, k: 8, tied: false },
  { T: 37, E: 64, k: 1, tied: true },
  { T: 37, E: 64, k: 2, tied: true },
  { T: 13, E: 64, k: 8, tied: true },
  { T: 1, E: 64, k: 8, tied: true },
  { T: 11, E: 8, k: 2, tied: false, D: 600 }, // two x chunks of 512 (the second ragged), a ragged token tile
];

for (const c of ROUTES) {
  test(`moeRoute T=${c.T} E=${c.E} k=${c.k} D=${c.D ?? 48} ${c.tied ? "tied" : "skewed"} logits vs float64`, () => {
    using dev = openTestDevice();
    const D = c.D ?? 48;
    const x = randF16(c.T * D, 100 + c.T);
    const router = routerWeights(c.E, D, 7 + c.E, c.tied);
    // Tied rows give every token exact ties: duplicate the tied experts' logits so both sides see them.
    using xt = dev.tensor(x, [c.T, D]);
    using rt = dev.tensor(router, [c.E, D]);
    for (const renormalize of [true, false]) {
      const r = dev.moeRoute(xt, rt, { topK: c.k, experts: c.E, renormalize });
      const logits = routerLogitsF64(x, router, c.T, c.E);
      const want = routeF64(logits, c.T, c.E, c.k, renormalize);
      const ids = r.ids.toArray() as Uint32Array;
      assertRouteIds(logits, ids, want.ids, c.T, c.E, c.k);
      assertWithin(
        `weights renormalize=${renormalize}`,
        r.weights.toArray() as Float32Array,
        want.weights,
        (i) => want.weights[i] * 2 ** -16 + 2 ** -24,
      );
      if (c.tied) {
        // Ties go to the lower expert: 6 never appears before 5, nor 9 before 2.
        for (let t = 0; t < c.T; t++) {
          const row = [...ids.subarray(t * c.k, (t + 1) * c.k)];
          for (const [lo, hi] of [[5, 6], [2, 9]]) {
            if (row.includes(hi)) {
              assert.ok(row.includes(lo) && row.indexOf(lo) < row.indexOf(hi), `token ${t}: ${row}`);
            }
          }
        }
      }
      r.ids.dispose();
      r.weights.dispose();
    }
  });
}

test("moeSort: stable (ascending pairs within an expert), offsets [E+1], inverse; same bits twice", () => {
  using dev = openTestDevice();
  const E = 64, P = 37 * 8;
  // Skewed: half the pairs go to expert 0, the rest spread, expert 63 empty.
  const ids = Uint32Array.from({ length: P }, (_, p) => (p % 2 === 0 ? 0 : (p * 7) % 63));
  using idt = dev.tensor(ids, [37, 8]);
  const a = dev.moeSort(idt, E), b = dev.moeSort(idt, E);
  const want = sortPairsF64(ids, E);
  assert.deepEqual([...a.offsets.toArray() as Uint32Array], [...want.offsets]);
  assert.deepEqual([...a.sorted.toArray() as Uint32Array], [...want.sorted], "sorted pairs (stable order)");
  assert.deepEqual([...a.inverse.toArray() as Uint32Array], [...want.inverse]);
  const sorted = a.sorted.toArray() as Uint32Array;
  const off = want.offsets;
  for (let e = 0; e < E; e++) {
    for (let i = off[e] + 1; i < off[e + 1]; i++) {
      assert.ok(sorted[i - 1] < sorted[i], `expert ${e}: not stable at ${i}`);
    }
  }
  assert.ok(
    sameBits(a.sorted.toArray(), b.sorted.toArray()) && sameBits(a.inverse.toArray(), b.inverse.toArray()),
  );
});

for (const format of ["fp4", "int4", "int4-sym"] as const) {
  for (const groupSize of [32, 64]) {
    test(`moeGemm ${format} gs${groupSize}: 37 tokens, top-2 of 8, every row against its own expert`, () => {
      const ids = Uint32Array.from({ length: 37 * 2 }, (_, p) => (p * 5 + (p >> 3)) % 8);
      for (let t = 0; t < 37; t++) if (ids[2 * t] === ids[2 * t + 1]) ids[2 * t + 1] = (ids[2 * t] + 1) % 8;
      gemmCase(format, groupSize, 37, 2, 8, ids, format === "fp4");
    });
  }
}
test("moeGemm gs128 / gs256, M = 1 decode: one token, 8 of 64 experts, one tile each", () => {
  gemmCase("int4", 128, 1, 8, 64, Uint32Array.from([63, 0, 17, 5, 6, 40, 2, 9]), false);
  gemmCase("fp4", 256, 1, 8, 64, Uint32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), true);
});

// Every weight format at the GEMMs' group sizes: not powers of two (24, 40), per channel, bf16 / E8M0 / E4M3
// scales, int4-affine biases, nvfp4 with gate and up tensor scales that differ, K over several 256-deep
// blocks with group boundaries inside a block.
const FORMAT_CASES: { format: QuantFormat; gs: GroupSize; swiglu: boolean; opts?: CaseOpts }[] = [
  { format: "int4-affine", gs: 24, swiglu: true },
  { format: "int4-affine", gs: "channel", swiglu: false, opts: { scaleDtype: "bf16" } },
  { format: "mxfp4", gs: 32, swiglu: true, opts: { K: 600 } },
  { format: "nvfp4", gs: 16, swiglu: true, opts: { upScale: 3 } },
  { format: "nvfp4", gs: 16, swiglu: false, opts: { K: 300 } },
  { format: "int4", gs: 40, swiglu: true, opts: { K: 600 } },
  { format: "int4", gs: "channel", swiglu: false, opts: { scaleDtype: "bf16" } },
  { format: "int4-sym", gs: 24, swiglu: false, opts: { K: 300, scaleDtype: "bf16" } },
  { format: "int4-sym", gs: "channel", swiglu: true },
  { format: "fp4", gs: 40, swiglu: false, opts: { K: 600 } },
  { format: "fp4", gs: 8, swiglu: true, opts: { scaleDtype: "bf16" } },
];
for (const c of FORMAT_CASES) {
  const o = c.opts ?? {};
  test(
    `moeGemm ${c.format} gs${c.gs} K=${o.K ?? 72} scales ${o.scaleDtype ?? "default"}${
      c.swiglu ? " swiglu" : ""
    }: 19 tokens, top-2 of 4 vs float64`,
    () => {
      const ids = Uint32Array.from({ length: 19 * 2 }, (_, p) => (p * 3 + (p >> 2)) % 4);
      for (let t = 0; t < 19; t++) if (ids[2 * t] === ids[2 * t + 1]) ids[2 * t + 1] = (ids[2 * t] + 1) % 4;
      gemmCase(c.format, c.gs, 19, 2, 4, ids, c.swiglu, o);
    },
  );
}

// Reference-repo bug: a tile of tokens all given the first token's expert. Here 16 consecutive tokens
// alternate between experts 0 and 1 (top-1), and expert weights differ, so a kernel using one expert for
// a tile of tokens fails the per-row comparison.
test("moe bug case: tokens of one 16-row range with different experts each use their own expert", () => {
  gemmCase("fp4", 32, 16, 1, 2, Uint32Array.from({ length: 16 }, (_, t) => t % 2), false);
});

test("moeCombine vs float64 (with an added residual), and the full chain is bit-identical with 1 and 2 threads", () => {
  const [T, k, E, N] = [37, 2, 8, 40];
  const ids = Uint32Array.from({ length: T * k }, (_, p) => (p * 3) % E);
  const y = randF16(T * k * N, 4);
  const add = randF16(T * N, 5);
  const w = Float32Array.from({ length: T * k }, (_, i) => 0.25 + (i % 3) / 4);
  const run = (threads: number) => {
    using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
    using idt = dev.tensor(ids, [T, k]), yt = dev.tensor(y, [T * k, N]), at = dev.tensor(add, [T, N]);
    using wt = dev.tensor(w, [T, k]);
    const s = dev.moeSort(idt, E);
    using out = dev.moeCombine(yt, { ids: idt, weights: wt }, s, at);
    return out.toArray() as Float16Array;
  };
  const got = run(1);
  assert.ok(sameBits(got, run(2)));
  const { inverse } = sortPairsF64(ids, E);
  const want = combineF64(y, w, inverse, T, k, N, add);
  assertWithin(
    "combine",
    got,
    want.out,
    (i) => Math.abs(want.out[i]) * 2 ** -11 + (k + 2) * 2 ** -24 * want.abs[i] + 2 ** -25,
  );
});

test("moe errors name the numbers: top-k over the experts, router not rows of D, expert count mismatch, up stored differently, mixed f16 / bf16 activations", () => {
  using dev = openTestDevice();
  using x = dev.tensor(new Float16Array(4 * 16), [4, 16]);
  using r = dev.tensor(new Float16Array(8 * 16), [8, 16]);
  assert.throws(
    () => dev.moeRoute(x, r, { topK: 9, experts: 8 }),
    (e) => e instanceof InvalidArgumentError && /topK must be an integer in 1\.\.8/.test(e.message),
  );
  assert.throws(
    () => dev.moeRoute(x, r, { topK: 2, experts: 7 }),
    (e) => e instanceof ShapeError && /128 elements, not a multiple of 7 experts/.test(e.message),
  );
  assert.throws(() => dev.moeRoute(x, r, { topK: 2, experts: 300 }), InvalidArgumentError);
  using ids = dev.tensor(new Uint32Array(8), [4, 2]);
  const s = dev.moeSort(ids, 4);
  using w = dev.upload(randomWeight(16, 8, "fp4", 32, 1, 3));
  assert.throws(
    () => dev.moeGemm(x, w, s, { gather: true }),
    (e) => e instanceof ShapeError && /w holds 3 experts but the routing has 4/.test(e.message),
  );
  // Unsupported: an up weight stored differently from the gate; mixed activation dtypes (as in the GEMMs).
  const s3 = dev.moeSort(ids, 3);
  using up = dev.upload(randomWeight(16, 8, "fp4", 32, 2, 3, "bf16"));
  assert.throws(
    () => dev.moeGemm(x, w, s3, { gather: true, up }),
    (e) =>
      e instanceof ShapeError &&
      /up \(fp4 k=16 n=8 gs=32 experts=3 scales bf16\) must match w \(fp4 k=16 n=8 gs=32 experts=3 scales f16\)/
        .test(e.message),
  );
  using xb = dev.tensor(new Uint16Array(4 * 16), [4, 16], "bf16");
  assert.throws(
    () => dev.moeRoute(xb, r, { topK: 2, experts: 8 }),
    (e) =>
      e instanceof InvalidArgumentError &&
      e.message.includes(
        "moeRoute: router is f16 but x is bf16; x and the router share one dtype (convert router with f16ToBf16())",
      ),
  );
  using xf = dev.tensor(new Float32Array(4 * 16), [4, 16]);
  assert.throws(
    () => dev.moeGemm(xf, w, s3, { gather: true }),
    (e) =>
      e instanceof InvalidArgumentError &&
      /moeGemm: a must be f16 or bf16, got f32; convert with/.test(e.message),
  );
  using yb = dev.tensor(new Uint16Array(8 * 16), [8, 16], "bf16");
  using wt = dev.tensor(new Float32Array(8), [4, 2]);
  assert.throws(
    () => dev.moeCombine(yb, { ids, weights: wt }, s3, x),
    (e) =>
      e instanceof InvalidArgumentError &&
      /moeCombine: add is f16 but y is bf16; y and add share one dtype \(convert add with f16ToBf16\(\)\)/
        .test(e.message),
  );
  using ws = dev.upload(randomWeight(16, 16, "fp4", 32, 3, 3));
  const mw = { router: r, gate: ws, up: ws, down: ws, topK: 2 };
  assert.throws(
    () => dev.moe(xb, mw, x),
    (e) => e instanceof InvalidArgumentError && /moe: residual is f16 but x is bf16/.test(e.message),
  );
});
