// A decoder layer end to end against its float64 reference: prefill of 37 tokens, then 5 decode steps,
// for a Llama-style layer and an MoE layer (8 experts, top-2, shared expert); plus the fused
// RMSNorm + linear and the SwiGLU MLP call on their own.
import assert from "node:assert/strict";
import { Device } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, sameBits } from "./layer_helpers.ts";
import { CFG, layerWeights, uploadLayer } from "./layer_model.ts";
import { LayerRef } from "../lib/reference/layer.ts";
import { ropeInvFreq } from "../lib/ops/rope.ts";
import { dequantizeF64, matmulF64 } from "../lib/reference/gemm.ts";
import { rmsNormF64 } from "../lib/reference/norm.ts";
import { gemmF16Tolerance } from "./util/reference_f16.ts";
import { randomWeight } from "./gemm_helpers.ts";

// Bound of a whole layer: the reference rounds to f16 exactly where the device stores f16, so the two
// differ only where float accumulation (~K·2^-24 relative) tips a rounding the other way — one f16 ulp
// (2^-10 of the value) at that stage — and later stages carry it with gains near 1 (norms, unit-scale
// projections, residual adds). Eight stored stages: 8·2^-10 ≈ 2^-7 of the row's magnitude.
function layerBound(want: Float64Array, hidden: number): (i: number) => number {
  return (i) => {
    const row = Math.floor(i / hidden);
    let ss = 0;
    for (let d = 0; d < hidden; d++) ss += want[row * hidden + d] ** 2;
    return 2 ** -7 * (Math.abs(want[i]) + Math.sqrt(ss / hidden));
  };
}

for (const moe of [false, true]) {
  const kind = moe ? "MoE (8 experts, top-2, shared expert)" : "Llama-style";
  test(`decoder layer ${kind}: prefill 37 tokens then 5 decode steps vs float64`, () => {
    using dev = openTestDevice();
    const hw = layerWeights(moe, moe ? 21 : 11);
    const w = uploadLayer(dev, hw);
    const cfg = { heads: CFG.heads, kvHeads: CFG.kvHeads, headDim: CFG.headDim, eps: 1e-5 };
    const ref = new LayerRef(hw, { ...cfg, invFreq: ropeInvFreq(CFG.headDim) });
    using cache = dev.kvCache({ kvHeads: CFG.kvHeads, headDim: CFG.headDim, capacity: 64 });
    const steps = [37, 1, 1, 1, 1, 1];
    steps.forEach((T, s) => {
      const x = randF16(T * CFG.hidden, 100 + s, 1);
      using xt = dev.tensor(x, [T, CFG.hidden]);
      using y = dev.decoderLayer(xt, w, cfg, cache);
      const want = ref.forward(x, T);
      assertWithin(
        `${kind} step ${s} (T=${T}, positions ${cache.length - T}..)`,
        y.toArray() as Float16Array,
        want,
        layerBound(want, CFG.hidden),
      );
    });
    assert.equal(cache.length, 42);
  });
}

test("decoder layer (MoE) is bit-identical with 1 and 2 worker threads", () => {
  const hw = layerWeights(true, 21);
  const run = (threads: number) => {
    using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
    const w = uploadLayer(dev, hw);
    using cache = dev.kvCache({ kvHeads: CFG.kvHeads, headDim: CFG.headDim, capacity: 16 });
    const cfg = { heads: CFG.heads, kvHeads: CFG.kvHeads, headDim: CFG.headDim };
    using x = dev.tensor(randF16(9 * CFG.hidden, 3), [9, CFG.hidden]);
    dev.decoderLayer(x, w, cfg, cache).dispose();
    using x1 = dev.tensor(randF16(CFG.hidden, 4), [1, CFG.hidden]);
    using y = dev.decoderLayer(x1, w, cfg, cache);
    return y.toArray();
  };
  assert.ok(sameBits(run(1), run(2)));
});

test("rmsNormLinear = RMSNorm once per row, then the GEMM (decode M=1 and prefill M=37), with residual", () => {
  using dev = openTestDevice();
  const K = 96, N = 72;
  const q = randomWeight(K, N, "int4", 32, 8);
  using w = dev.upload(q);
  const gamma = randF16(K, 2);
  using g = dev.tensor(gamma);
  for (const M of [1, 37]) {
    const x = randF16(M * K, M, 2);
    const res = randF16(M * N, M + 1);
    using xt = dev.tensor(x, [M, K]), rt = dev.tensor(res, [M, N]);
    using y = dev.rmsNormLinear(xt, g, w, { residual: rt, eps: 1e-5 });
    const normed = Float16Array.from(rmsNormF64(x, gamma, M, K, 1e-5));
    const wd = dequantizeF64(q);
    const want = matmulF64(normed, wd, M, K, N).map((v, i) => v + res[i]);
    // The normed row is stored as f16 (as the reference's `normed`) up to a one-ulp flip: 2^-10 of each |a|.
    const tol = gemmF16Tolerance(normed, wd, M, N, K);
    const flip = matmulF64(normed.map(Math.abs), wd.map(Math.abs), M, K, N).map((v) => v * 2 ** -10);
    assertWithin(
      `M=${M}`,
      y.toArray() as Float16Array,
      want,
      (i) => tol[i] + flip[i] + Math.abs(want[i]) * 2 ** -11,
    );
  }
});

test("mlp: down(silu(x·gate) * (x·up)) + residual in one call, M = 1 and M = 5", () => {
  using dev = openTestDevice();
  const [H, F] = [48, 80];
  const gq = randomWeight(H, F, "int4-sym", 32, 1), uq = randomWeight(H, F, "int4-sym", 32, 2);
  const dq = randomWeight(F, H, "fp4", 32, 3);
  using gate = dev.upload(gq), up = dev.upload(uq), down = dev.upload(dq);
  const [gd, ud, dd] = [dequantizeF64(gq), dequantizeF64(uq), dequantizeF64(dq)];
  for (const M of [1, 5]) {
    const x = randF16(M * H, 10 + M), res = randF16(M * H, 20 + M);
    using xt = dev.tensor(x, [M, H]), rt = dev.tensor(res, [M, H]);
    using y = dev.mlp(xt, { gate, up, down }, rt);
    const g = matmulF64(x, gd, M, H, F), u = matmulF64(x, ud, M, H, F);
    // The device stores h = silu(g)·u as f16 before the down projection: the reference does the same.
    const h = Float16Array.from(g.map((v, i) => v / (1 + Math.exp(-v)) * u[i]));
    const want = matmulF64(h, dd, M, F, H).map((v, i) => v + res[i]);
    // h may differ by one f16 ulp (2^-10 relative) where float accumulation tips its rounding.
    const tol = gemmF16Tolerance(h, dd, M, H, F);
    const flip = matmulF64(h.map(Math.abs), dd.map(Math.abs), M, F, H).map((v) => v * 2 ** -10);
    assertWithin(
      `mlp M=${M}`,
      y.toArray() as Float16Array,
      want,
      (i) => tol[i] + flip[i] + Math.abs(want[i]) * 2 ** -11,
    );
  }
});
