// MoE ops on bf16 activations (the dtype MLX models run in) against float64: the router (x and router
// weights bf16), the grouped GEMM (a and the output bf16), the combine (y, add and out bf16) and the whole
// moe() block with a shared expert and residual. Same kernels as f16, with the act_bf16 params field set.
import assert from "node:assert/strict";
import { bf16ToF32, Device, f16ToBf16 } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, sameBits } from "./layer_helpers.ts";
import { combineF64, routeF64, routerLogitsF64, sortPairsF64 } from "../lib/reference/moe.ts";
import {
  assertRouteIds,
  type Bounded,
  gemmCase,
  linB,
  routerWeights,
  storeBf16,
  swigluB,
} from "./moe_helpers.ts";
import { CFG, layerWeights } from "./layer_model.ts";
import { dequantizeF64 } from "../lib/reference/gemm.ts";

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
    // As the f16 test: logits are float sums of exact products (bf16 values), the same bound applies.
    assertRouteIds(logits, r.ids.toArray() as Uint32Array, want.ids, c.T, c.E, c.k);
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

// The whole block: the float64 chain rounds to bf16 where the device stores bf16 (h, y, the shared
// expert's h and its down + residual), carrying a per-element bound stage by stage (moe_helpers.ts).
test("moe() bf16 block (8 experts, top-2, shared expert, residual): T = 9 and decode T = 1 vs float64, 1 vs 2 threads", () => {
  const hw = layerWeights(true, 21).mlp;
  assert.ok("router" in hw && hw.shared !== undefined);
  const sh = hw.shared;
  const [H, F, E, k] = [CFG.hidden, CFG.expertFfn, CFG.experts, hw.topK];
  const router = bf16Of(Float16Array.from(hw.router as ArrayLike<number>));
  const [G, Up, Dn] = [dequantizeF64(hw.gate), dequantizeF64(hw.up), dequantizeF64(hw.down)];
  const [Gs, Us, Ds] = [dequantizeF64(sh.gate), dequantizeF64(sh.up), dequantizeF64(sh.down)];
  const exact = (v: ArrayLike<number>): Bounded => ({
    v: Float64Array.from(v),
    e: new Float64Array(v.length),
  });
  for (const T of [9, 1]) {
    const x = bf16Of(randF16(T * H, 40 + T)), res = bf16Of(randF16(T * H, 50 + T));
    const run = (threads: number) => {
      using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
      const up = (q: typeof hw.gate) => dev.upload(q); // owned (and freed) by the device
      using xt = dev.tensor(x.bits, [T, H], "bf16"), rt = dev.tensor(res.bits, [T, H], "bf16");
      using rw = dev.tensor(router.bits, [E, H], "bf16");
      const shared = { gate: up(sh.gate), up: up(sh.up), down: up(sh.down) };
      using y = dev.moe(xt, {
        router: rw,
        gate: up(hw.gate),
        up: up(hw.up),
        down: up(hw.down),
        topK: k,
        shared,
      }, rt);
      assert.equal(y.dtype, "bf16");
      return y.toArray() as Uint16Array;
    };
    const got = run(1);
    assert.ok(sameBits(got, run(2)), `T=${T}: bit-identical with 1 and 2 threads`);

    const logits = routerLogitsF64(x.values, router.values, T, E);
    for (let t = 0; t < T; t++) {
      const row = Array.from(logits.subarray(t * E, (t + 1) * E)).sort((a, b) => b - a);
      assert.ok(row[k - 1] - row[k] > 1e-4, `token ${t}: near-tie (pick another seed)`);
    }
    const r = routeF64(logits, T, E, k);
    const { sorted, inverse } = sortPairsF64(r.ids, E);
    const y: Bounded = { v: new Float64Array(T * k * H), e: new Float64Array(T * k * H) };
    for (let i = 0; i < T * k; i++) {
      const p = sorted[i], t = Math.floor(p / k), e = r.ids[p];
      const xa = exact(x.values.subarray(t * H, (t + 1) * H));
      const of = (w: Float64Array, K: number, N: number) => w.subarray(e * K * N, (e + 1) * K * N);
      const h = storeBf16(swigluB(linB(xa, of(G, H, F), 1, H, F), linB(xa, of(Up, H, F), 1, H, F)));
      const yi = storeBf16(linB(h, of(Dn, F, H), 1, F, H));
      y.v.set(yi.v, i * H);
      y.e.set(yi.e, i * H);
    }
    const xa = exact(x.values);
    const hs = storeBf16(swigluB(linB(xa, Gs, T, H, F), linB(xa, Us, T, H, F)));
    const d = linB(hs, Ds, T, F, H);
    const sum = d.v.map((v, i) => v + res.values[i]);
    const add = storeBf16({ v: sum, e: d.e.map((e, i) => e + 2 ** -24 * Math.abs(sum[i])) });
    const c = combineF64(y.v, r.weights, inverse, T, k, H, add.v);
    // Combine: the inputs' errors through the weights, each f32 routing weight within 2^-16 of its
    // value (the router test's bound), k + 1 float additions; then the final bf16 store, half an ulp.
    const bound = (i: number) => {
      const t = Math.floor(i / H), n = i % H;
      let e = add.e[i] + (k + 2) * 2 ** -24 * c.abs[i];
      for (let j = 0; j < k; j++) {
        const w = r.weights[t * k + j], at = inverse[t * k + j] * H + n;
        e += w * y.e[at] + (w * 2 ** -16 + 2 ** -24) * (Math.abs(y.v[at]) + y.e[at]);
      }
      return e + 2 ** -8 * (Math.abs(c.out[i]) + e);
    };
    assertWithin(`moe bf16 T=${T}`, bf16ToF32(got), c.out, bound);
  }
});
