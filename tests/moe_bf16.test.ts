// MoE ops on bf16 activations (the dtype MLX models run in) against float64: the router (x and router
// weights bf16), the grouped GEMM (a and the output bf16), the combine (y, add and out bf16) and the whole
// moe() block with a shared expert and residual. Same kernels as f16, with the act_bf16 params field set.
import assert from "node:assert/strict";
import { bf16ToF32, Device, f16ToBf16 } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, sameBits } from "./layer_helpers.ts";
import { combineF64, routeF64, routerLogitsF64, sortPairsF64 } from "../lib/reference/moe.ts";
import { gemmCase, routerWeights } from "./moe_helpers.ts";

/** f16 test data rounded to bf16: the bits for the device and their exact values for the reference. */
function bf16Of(x: Float16Array): { bits: Uint16Array; values: Float32Array } {
  const bits = f16ToBf16(x);
  return { bits, values: bf16ToF32(bits) };
}

for (const c of [{ T: 37, E: 8, k: 2, tied: false }, { T: 13, E: 64, k: 8, tied: true }]) {
  test(`moeRoute bf16 T=${c.T} E=${c.E} k=${c.k} D=48 ${c.tied ? "tied" : "skewed"} logits vs float64`, () => {
    using dev = openTestDevice();
    const D = 48;
    const x = bf16Of(randF16(c.T * D, 100 + c.T));
    const router = bf16Of(routerWeights(c.E, D, 7 + c.E, c.tied));
    using xt = dev.tensor(x.bits, [c.T, D], "bf16");
    using rt = dev.tensor(router.bits, [c.E, D], "bf16");
    const r = dev.moeRoute(xt, rt, { topK: c.k, experts: c.E });
    const logits = routerLogitsF64(x.values, router.values, c.T, c.E);
    const want = routeF64(logits, c.T, c.E, c.k);
    // As the f16 test: logits are float sums of exact products, so ids compare wherever the k-th and
    // (k+1)-th logits are further apart than the float error (exact ties always compare).
    const ids = r.ids.toArray() as Uint32Array;
    for (let t = 0; t < c.T; t++) {
      const row = Array.from(logits.subarray(t * c.E, (t + 1) * c.E)).sort((a, b) => b - a);
      const gap = c.k < c.E ? row[c.k - 1] - row[c.k] : Infinity;
      assert.ok(gap === 0 || gap > 1e-4, `token ${t}: near-tie ${gap} (pick another seed)`);
      assert.deepEqual([...ids.subarray(t * c.k, (t + 1) * c.k)], [
        ...want.ids.subarray(t * c.k, (t + 1) * c.k),
      ]);
    }
    assertWithin(
      "weights",
      r.weights.toArray() as Float32Array,
      want.weights,
      (i) => want.weights[i] * 2 ** -16 + 2 ** -24,
    );
    r.ids.dispose();
    r.weights.dispose();
  });
}

test("moeGemm bf16 fp4 gs32 swiglu: 37 tokens, top-2 of 8, every row against its own expert", () => {
  const ids = Uint32Array.from({ length: 37 * 2 }, (_, p) => (p * 5 + (p >> 3)) % 8);
  for (let t = 0; t < 37; t++) if (ids[2 * t] === ids[2 * t + 1]) ids[2 * t + 1] = (ids[2 * t] + 1) % 8;
  gemmCase("fp4", 32, 37, 2, 8, ids, true, { act: "bf16" });
});

test("moeGemm bf16 int4-affine gs24 K=300 and int4 gs128 M = 1 decode (8 of 64 experts)", () => {
  const ids = Uint32Array.from({ length: 19 * 2 }, (_, p) => (p * 3 + (p >> 2)) % 4);
  for (let t = 0; t < 19; t++) if (ids[2 * t] === ids[2 * t + 1]) ids[2 * t + 1] = (ids[2 * t] + 1) % 4;
  gemmCase("int4-affine", 24, 19, 2, 4, ids, false, { act: "bf16", K: 300 });
  gemmCase("int4", 128, 1, 8, 64, Uint32Array.from([63, 0, 17, 5, 6, 40, 2, 9]), false, { act: "bf16" });
});

test("moeCombine bf16 vs float64 (with an added residual), bit-identical with 1 and 2 threads", () => {
  const [T, k, E, N] = [37, 2, 8, 40];
  const ids = Uint32Array.from({ length: T * k }, (_, p) => (p * 3) % E);
  const y = bf16Of(randF16(T * k * N, 4)), add = bf16Of(randF16(T * N, 5));
  const w = Float32Array.from({ length: T * k }, (_, i) => 0.25 + (i % 3) / 4);
  const run = (threads: number) => {
    using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
    using idt = dev.tensor(ids, [T, k]), wt = dev.tensor(w, [T, k]);
    using yt = dev.tensor(y.bits, [T * k, N], "bf16"), at = dev.tensor(add.bits, [T, N], "bf16");
    const s = dev.moeSort(idt, E);
    using out = dev.moeCombine(yt, { ids: idt, weights: wt }, s, at);
    assert.equal(out.dtype, "bf16");
    return out.toArray() as Uint16Array;
  };
  const got = run(1);
  assert.ok(sameBits(got, run(2)));
  const want = combineF64(y.values, w, sortPairsF64(ids, E).inverse, T, k, N, add.values);
  // k + 1 float additions (2^-24 each of the running sum), then one bf16 store: half an ulp, 2^-8.
  assertWithin(
    "combine bf16",
    bf16ToF32(got),
    want.out,
    (i) => Math.abs(want.out[i]) * 2 ** -8 + (k + 2) * 2 ** -24 * want.abs[i] + 2 ** -133,
  );
});
