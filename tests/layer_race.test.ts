// Race mode over the layer kernels (norm, rope, attention prefill / split decode / combine, MoE router,
// sort, grouped GEMM, combine, dequant): no threadgroup or device race, no read of threadgroup memory no
// lane wrote, and the results still match the plain runtime bit for bit (and 1 vs 2 worker threads for
// the bf16 paths of norm, rope and the fused norm + linear). Group sizes 64 / 128 / 256 cover
// the reference repository's uninitialised scale cache (a read of unwritten threadgroup memory here).
import assert from "node:assert/strict";
import { test as harnessTest } from "./harness.ts";
import { clangSkip } from "./util/clang.ts";
import { randF16, randomWeight, sameBits } from "./layer_helpers.ts";
import { randBf16 } from "./gemm_helpers.ts";
import { type AttnCase, attnInputs, attnInputsBf16, runAttn, runAttnBf16 } from "./attention_helpers.ts";
import { CFG, layerWeights, uploadLayer } from "./layer_model.ts";
import { Device, f16ToBf16 } from "../mod.ts";

// A CPU-runtime feature (race mode): the plain reference device is the CPU runtime by name too.
const openCpu = (): Device => Device.open({ backend: "cpu" });

const test = (name: string, fn: () => void | Promise<void>): void =>
  harnessTest(name, fn, { skip: clangSkip });
const raceDevice = (): Device => Device.open({ backend: "cpu", instrument: "race" });

test("race: attention prefill (GQA 4, D=80), split decode + combine (D=64) and D=136 are clean", () => {
  const cases: AttnCase[] = [
    { T: 5, heads: 4, kvHeads: 1, D: 80, offset: 2 },
    { T: 1, heads: 2, kvHeads: 1, D: 64, offset: 70, splits: 3 },
    { T: 2, heads: 1, kvHeads: 1, D: 136, offset: 18 },
  ];
  using race = raceDevice();
  using plain = openCpu();
  for (const c of cases) {
    const inp = attnInputs(c);
    assert.ok(sameBits(runAttn(race, c, inp), runAttn(plain, c, inp)), `T=${c.T} D=${c.D}`);
  }
});

test("race: bf16 attention (prefill GQA 4, split decode + combine) and a bf16 moe() block are clean", () => {
  const cases: AttnCase[] = [
    { T: 5, heads: 4, kvHeads: 1, D: 80, offset: 1 },
    { T: 1, heads: 2, kvHeads: 1, D: 64, offset: 70, splits: 3 },
  ];
  using race = raceDevice();
  using plain = openCpu();
  for (const c of cases) {
    const inp = attnInputsBf16(c);
    assert.ok(sameBits(runAttnBf16(race, c, inp), runAttnBf16(plain, c, inp)), `bf16 T=${c.T} D=${c.D}`);
  }
  const m = layerWeights(true, 21).mlp;
  assert.ok("router" in m && m.shared !== undefined);
  const sh = m.shared;
  const run = (dev: Device) => {
    const up = (q: typeof m.gate) => dev.upload(q); // owned (and freed) by the device
    using x = dev.tensor(f16ToBf16(randF16(3 * CFG.hidden, 3)), [3, CFG.hidden], "bf16");
    using r = dev.tensor(f16ToBf16(Float16Array.from(m.router as ArrayLike<number>)), [
      CFG.experts,
      CFG.hidden,
    ], "bf16");
    const shared = { gate: up(sh.gate), up: up(sh.up), down: up(sh.down) };
    using y = dev.moe(x, {
      router: r,
      gate: up(m.gate),
      up: up(m.up),
      down: up(m.down),
      topK: m.topK,
      shared,
    }, x);
    return y.toArray();
  };
  assert.ok(sameBits(run(race), run(plain)), "bf16 moe");
});

test("race: a whole MoE decoder layer step (norm, rope, cache append, attention, router, sort, grouped GEMM, combine) is clean", () => {
  const hw = layerWeights(true, 21);
  const run = (dev: Device) => {
    const w = uploadLayer(dev, hw);
    using cache = dev.kvCache({ kvHeads: CFG.kvHeads, headDim: CFG.headDim, capacity: 8 });
    const cfg = { heads: CFG.heads, kvHeads: CFG.kvHeads, headDim: CFG.headDim };
    using x = dev.tensor(randF16(3 * CFG.hidden, 3), [3, CFG.hidden]);
    using y = dev.decoderLayer(x, w, cfg, cache);
    return y.toArray();
  };
  using race = raceDevice();
  using plain = openCpu();
  assert.ok(sameBits(run(race), run(plain)));
});

test("race: grouped GEMM and dequant at group sizes 64 / 128 / 256 (int4), 40 (int4-affine), 16 (nvfp4) read no unwritten threadgroup memory", () => {
  using race = raceDevice();
  using plain = openCpu();
  const cases = [[64, "int4"], [128, "int4"], [256, "int4"], [40, "int4-affine"], [16, "nvfp4"]] as const;
  for (const [gs, format] of cases) {
    const q = randomWeight(gs + 8, 40, format, gs, gs, 2);
    const run = (dev: Device) => {
      using w = dev.upload(q);
      using d = dev.dequantize(w);
      using x = dev.tensor(randF16(3 * (gs + 8), 1), [3, gs + 8]);
      using ids = dev.tensor(new Uint32Array([1, 0, 1]), [3, 1]);
      const s = dev.moeSort(ids, 2);
      using y = dev.moeGemm(x, w, s, { gather: true });
      return [d.toArray(), y.toArray()];
    };
    const [a, b] = [run(race), run(plain)];
    assert.ok(sameBits(a[0], b[0]) && sameBits(a[1], b[1]), `${format} gs${gs}`);
  }
});

test("race: bf16 rmsNorm (bf16 weight), rope (half-split and interleaved) and rmsNormLinear are clean; same bits with 1 and 2 threads", () => {
  const [T, H, D, K, N] = [3, 2, 64, 200, 40];
  const x = randBf16(T * H * D, 5, 2), w = randBf16(H * D, 6), g = randBf16(K, 7), a = randBf16(T * K, 8);
  const q = randomWeight(K, N, "int4-affine", 64, 9, undefined, "bf16");
  const run = (dev: Device) => {
    using xt = dev.tensor(x.bits, [T, H * D], "bf16"), wt = dev.tensor(w.bits, [H * D], "bf16");
    using n = dev.rmsNorm(xt, wt);
    dev.rope(n, { heads: H, headDim: D, positionOffset: 5 });
    dev.rope(xt, { heads: H, headDim: D, rotaryDim: 32, positionOffset: 1000, interleaved: true });
    using gt = dev.tensor(g.bits, [K], "bf16"), at = dev.tensor(a.bits, [T, K], "bf16");
    using qw = dev.upload(q);
    using y = dev.rmsNormLinear(at, gt, qw);
    return [n.toArray(), xt.toArray(), y.toArray()];
  };
  using race = raceDevice();
  using plain = openCpu();
  using two = Device.open({ backend: "cpu", threads: 2 });
  using one = Device.open({ backend: "cpu", threads: 1 });
  const [r, p, t2, t1] = [run(race), run(plain), run(two), run(one)];
  for (const [i, what] of ["rmsNorm + rope", "rope interleaved", "rmsNormLinear"].entries()) {
    assert.ok(sameBits(r[i], p[i]), `${what}: race vs plain`);
    assert.ok(sameBits(t1[i], t2[i]), `${what}: 1 vs 2 threads`);
  }
});
