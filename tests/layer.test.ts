// A decoder layer end to end against its float64 reference: prefill of 37 tokens, then 5 decode steps,
// for a Llama-style layer and an MoE layer (8 experts, top-2, shared expert); plus the fused
// RMSNorm + linear and the SwiGLU MLP call on their own, in f16 and bf16.
import assert from "node:assert/strict";
import { bf16ToF32, Device, InvalidArgumentError } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, sameBits } from "./layer_helpers.ts";
import { CFG, layerWeights, uploadLayer } from "./layer_model.ts";
import { LayerRef } from "../lib/reference/layer.ts";
import { ropeInvFreq } from "../lib/ops/rope.ts";
import { dequantizeF64, matmulF64 } from "../lib/reference/gemm.ts";
import { rmsNormF64 } from "../lib/reference/norm.ts";
import { gemmF16Tolerance } from "./util/reference_f16.ts";
import { expect, randBf16, randomWeight } from "./gemm_helpers.ts";
import { roundBf16 } from "../lib/reference/round.ts";

// Bound of a whole layer: the reference rounds to f16 exactly where the device stores f16, so the two
// differ only where float accumulation (~K·2^-24 relative) tips a rounding the other way — one f16 ulp
// (2^-10 of the value) at that stage — and later stages carry it with gains near 1 (norms, unit-scale
// projections, residual adds). Eight stored stages: 8·2^-10 ≈ 2^-7 of the row's magnitude; in bf16 (one
// ulp 2^-7) 8·2^-7 = 2^-4.
function layerBound(
  want: Float64Array,
  hidden: number,
  dtype: "f16" | "bf16" = "f16",
): (i: number) => number {
  const ulp = dtype === "bf16" ? 2 ** -7 : 2 ** -10;
  return (i) => {
    const row = Math.floor(i / hidden);
    let ss = 0;
    for (let d = 0; d < hidden; d++) ss += want[row * hidden + d] ** 2;
    return 8 * ulp * (Math.abs(want[i]) + Math.sqrt(ss / hidden));
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

// The same layer in bf16 (MLX models run in bf16): activations, the KV cache, norms and router in bf16.
for (const moe of [false, true]) {
  const kind = moe ? "MoE (8 experts, top-2, shared expert)" : "Llama-style";
  test(`decoder layer ${kind} in bf16: prefill 37 tokens then 5 decode steps vs float64`, () => {
    using dev = openTestDevice();
    const hw = layerWeights(moe, moe ? 23 : 13, "bf16");
    const w = uploadLayer(dev, hw, "bf16");
    const cfg = { heads: CFG.heads, kvHeads: CFG.kvHeads, headDim: CFG.headDim, eps: 1e-5 };
    const ref = new LayerRef(hw, { ...cfg, invFreq: ropeInvFreq(CFG.headDim), dtype: "bf16" });
    const kv = { kvHeads: CFG.kvHeads, headDim: CFG.headDim, capacity: 64, dtype: "bf16" } as const;
    using cache = dev.kvCache(kv);
    [37, 1, 1, 1, 1, 1].forEach((T, s) => {
      const x = randBf16(T * CFG.hidden, 200 + s, 1);
      using xt = dev.tensor(x.bits, [T, CFG.hidden], "bf16");
      using y = dev.decoderLayer(xt, w, cfg, cache);
      assert.equal(y.dtype, "bf16");
      const want = ref.forward(x.values, T);
      const got = bf16ToF32(y.toArray() as Uint16Array);
      assertWithin(`${kind} bf16 step ${s} (T=${T})`, got, want, layerBound(want, CFG.hidden, "bf16"));
    });
    assert.equal(cache.length, 42);
  });
}

for (const dtype of ["f16", "bf16"] as const) {
  test(`decoder layer (MoE, ${dtype}) is bit-identical with 1 and 2 worker threads`, () => {
    const hw = layerWeights(true, 21, dtype);
    const input = (len: number, seed: number) =>
      dtype === "bf16" ? randBf16(len, seed).bits : randF16(len, seed);
    const tag = dtype === "bf16" ? "bf16" : undefined; // dev.tensor's dtype argument (f16 is the default)
    const run = (threads: number) => {
      using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
      const w = uploadLayer(dev, hw, dtype);
      using cache = dev.kvCache({ kvHeads: CFG.kvHeads, headDim: CFG.headDim, capacity: 16, dtype });
      const cfg = { heads: CFG.heads, kvHeads: CFG.kvHeads, headDim: CFG.headDim };
      using x = dev.tensor(input(9 * CFG.hidden, 3), [9, CFG.hidden], tag);
      dev.decoderLayer(x, w, cfg, cache).dispose();
      using x1 = dev.tensor(input(CFG.hidden, 4), [1, CFG.hidden], tag);
      using y = dev.decoderLayer(x1, w, cfg, cache);
      return y.toArray();
    };
    assert.ok(sameBits(run(1), run(2)));
  });
}

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

/** The MLP tests' weights (H 48, F 80): uploaded (owned by the device) and dequantized in float64. */
function mlpFixture(dev: Device) {
  const [H, F] = [48, 80];
  const gq = randomWeight(H, F, "int4-sym", 32, 1), uq = randomWeight(H, F, "int4-sym", 32, 2);
  const dq = randomWeight(F, H, "fp4", 32, 3);
  const [gd, ud, dd] = [dequantizeF64(gq), dequantizeF64(uq), dequantizeF64(dq)];
  return { H, F, gate: dev.upload(gq), up: dev.upload(uq), down: dev.upload(dq), gd, ud, dd };
}

test("mlp: down(silu(x·gate) * (x·up)) + residual in one call, M = 1 and M = 5", () => {
  using dev = openTestDevice();
  const { H, F, gate, up, down, gd, ud, dd } = mlpFixture(dev);
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

// bf16 (MLX models): the stored intermediate (normed rows, or h) is bf16, so the reference rounds it to bf16
// too; the device's may sit one bf16 ulp (2^-7 of each |a|) away where float accumulation tips the
// rounding. The GEMM bound (tests/gemm_helpers.ts `expect`, bf16 output: 2^-8 of the value) does the rest.
const flipBf16 = (a: ArrayLike<number>, w: Float64Array, m: number, k: number, n: number): Float64Array =>
  matmulF64(Float64Array.from(a, Math.abs), w.map(Math.abs), m, k, n).map((v) => v * 2 ** -7);
const bf16Of = (t: { toArray(): unknown }): Float32Array => bf16ToF32(t.toArray() as Uint16Array);

test("rmsNormLinear bf16 (x, gamma, residual; int4-affine bf16 scales): decode M=1 + residual, prefill M=37 SwiGLU", () => {
  using dev = openTestDevice();
  const K = 96, N = 72;
  const q = randomWeight(K, N, "int4-affine", 32, 8, undefined, "bf16");
  const uq = randomWeight(K, N, "int4-affine", 32, 9, undefined, "bf16");
  using w = dev.upload(q), up = dev.upload(uq);
  const [wd, ud] = [dequantizeF64(q), dequantizeF64(uq)];
  const gamma = randBf16(K, 2);
  using g = dev.tensor(gamma.bits, [K], "bf16");
  for (const M of [1, 37]) {
    const x = randBf16(M * K, M, 2), res = randBf16(M * N, M + 1);
    using xt = dev.tensor(x.bits, [M, K], "bf16"), rt = dev.tensor(res.bits, [M, N], "bf16");
    const swiglu = M > 1;
    using y = dev.rmsNormLinear(xt, g, w, swiglu ? { up, eps: 1e-5 } : { residual: rt, eps: 1e-5 });
    assert.equal(y.dtype, "bf16");
    const normed = roundBf16(rmsNormF64(x.values, gamma.values, M, K, 1e-5));
    const epi = swiglu ? {} : { residual: res.values };
    const { ref, tol } = expect(normed, 0, K, M, K, N, wd, 0, swiglu ? ud : undefined, epi, 0, "bf16");
    // SwiGLU: a flip in the normed row moves both products; silu'·|u| + |silu| <= 1.1·|u| + |g| bounds it.
    const fw = flipBf16(normed, wd, M, K, N), fu = swiglu ? flipBf16(normed, ud, M, K, N) : undefined;
    const gv = swiglu ? matmulF64(normed, wd, M, K, N) : undefined,
      uv = swiglu ? matmulF64(normed, ud, M, K, N) : undefined;
    const bound = (i: number) =>
      tol[i] +
      (swiglu ? 1.1 * fw[i] * (Math.abs(uv![i]) + fu![i]) + (Math.abs(gv![i]) + fw[i]) * fu![i] : fw[i]);
    assertWithin(`bf16 M=${M}${swiglu ? " SwiGLU" : " + residual"}`, bf16Of(y), ref, bound);
  }
});

test("mlp bf16: down(silu(x·gate) * (x·up)) + residual, M = 1 and M = 5, h stored as bf16", () => {
  using dev = openTestDevice();
  const { H, F, gate, up, down, gd, ud, dd } = mlpFixture(dev);
  for (const M of [1, 5]) {
    const x = randBf16(M * H, 10 + M), res = randBf16(M * H, 20 + M);
    using xt = dev.tensor(x.bits, [M, H], "bf16"), rt = dev.tensor(res.bits, [M, H], "bf16");
    using y = dev.mlp(xt, { gate, up, down }, rt);
    assert.equal(y.dtype, "bf16");
    const g = matmulF64(x.values, gd, M, H, F), u = matmulF64(x.values, ud, M, H, F);
    const h = roundBf16(g.map((v, i) => v / (1 + Math.exp(-v)) * u[i]));
    const { ref, tol } = expect(h, 0, F, M, F, H, dd, 0, undefined, { residual: res.values }, 0, "bf16");
    const flip = flipBf16(h, dd, M, F, H);
    assertWithin(`mlp bf16 M=${M}`, bf16Of(y), ref, (i) => tol[i] + flip[i]);
  }
});

test("rmsNormLinear and mlp refuse a residual whose dtype is not x's, under their own op name", () => {
  using dev = openTestDevice();
  const q = randomWeight(16, 16, "fp4", 16, 1);
  using w = dev.upload(q);
  using g = dev.tensor(new Float16Array(16).fill(1));
  using xb = dev.tensor(new Uint16Array(32).fill(0x3f80), [2, 16], "bf16");
  using rh = dev.tensor(new Float16Array(32), [2, 16]);
  const mixed = (op: string) => (e: unknown) =>
    e instanceof InvalidArgumentError &&
    new RegExp(`^${op}: residual is f16 but x is bf16; .*convert residual with f16ToBf16\\(\\)`).test(
      e.message,
    );
  assert.throws(() => dev.rmsNormLinear(xb, g, w, { residual: rh }), mixed("rmsNormLinear"));
  assert.throws(() => dev.mlp(xb, { gate: w, up: w, down: w }, rh), mixed("mlp"));
});
