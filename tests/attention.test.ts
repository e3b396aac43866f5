// Attention over a KV cache against the float64 reference: odd sequence lengths, KV offsets 0 / 1 / 1000,
// GQA ratios 1 / 4 / 8, head dims 64 / 80 / 96 / 128 (and 136, 256 on the 256 kernel), prefill and the
// split decode path; plus the two attention bugs of the reference repository.
import assert from "node:assert/strict";
import { Device } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, sameBits } from "./layer_helpers.ts";
import {
  type AttnCase,
  attnInputs,
  attnInputsBf16,
  attnLabel,
  checkAttn,
  runAttn,
  runAttnBf16,
} from "./attention_helpers.ts";
import { attentionSplits } from "../lib/ops/attention.ts";
import { bf16ToF32, InvalidArgumentError, LimitError, ShapeError } from "../mod.ts";

const CASES: AttnCase[] = [
  { T: 37, heads: 2, kvHeads: 2, D: 64, offset: 0 },
  { T: 37, heads: 4, kvHeads: 1, D: 80, offset: 1 },
  { T: 5, heads: 8, kvHeads: 1, D: 96, offset: 3 },
  { T: 3, heads: 8, kvHeads: 2, D: 128, offset: 40 },
  { T: 7, heads: 2, kvHeads: 1, D: 136, offset: 20 },
  { T: 2, heads: 4, kvHeads: 4, D: 256, offset: 17 },
  { T: 9, heads: 4, kvHeads: 2, D: 64, offset: 5, causal: false },
  { T: 1, heads: 1, kvHeads: 1, D: 64, offset: 1000 }, // decode over a long cache: split path
  { T: 1, heads: 1, kvHeads: 1, D: 64, offset: 1000, splits: 1 }, // same, one threadgroup
  { T: 1, heads: 8, kvHeads: 1, D: 64, offset: 300 }, // GQA 8 decode: 8 heads share each tile, split
];

for (const c of CASES) {
  test(`attention ${attnLabel(c)} vs float64`, () => {
    using dev = openTestDevice();
    const inp = attnInputs(c);
    checkAttn(c, inp, runAttn(dev, c, inp));
  });
}

// bf16 q, cache and O (the dtype MLX models run in): the same kernels with AttnParams.act_bf16 set. KV
// offset 1 with GQA 4 (prefill, D 80), the 256 kernel (D 136), and split decode over 1001 keys with GQA 4.
const BF16_CASES: AttnCase[] = [
  { T: 37, heads: 4, kvHeads: 1, D: 80, offset: 1 },
  { T: 7, heads: 2, kvHeads: 1, D: 136, offset: 20 },
  { T: 9, heads: 4, kvHeads: 2, D: 64, offset: 5, causal: false },
  { T: 1, heads: 4, kvHeads: 1, D: 64, offset: 1000 },
];
for (const c of BF16_CASES) {
  test(`attention bf16 ${attnLabel(c)} vs float64`, () => {
    using dev = openTestDevice();
    const inp = attnInputsBf16(c);
    checkAttn(c, inp, bf16ToF32(runAttnBf16(dev, c, inp)), "bf16");
  });
}

test("attention bf16: split decode (1001 keys, GQA 4) and prefill are bit-identical with 1 and 2 threads", () => {
  const c: AttnCase = { T: 1, heads: 4, kvHeads: 1, D: 64, offset: 1000 };
  assert.ok(attentionSplits(4, 1, 1001)[0] > 1, "the decode case takes the split path");
  const p: AttnCase = { T: 37, heads: 4, kvHeads: 1, D: 80, offset: 1 };
  for (const k of [c, p]) {
    const inp = attnInputsBf16(k, 5);
    const run = (threads: number) => {
      using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
      return runAttnBf16(dev, k, inp);
    };
    const one = run(1);
    assert.ok(sameBits(one, run(2)), attnLabel(k));
    checkAttn(k, inp, bf16ToF32(one), "bf16");
  }
});

test("attention / kvCache refuse mixed f16 and bf16 and say how to convert", () => {
  using dev = openTestDevice();
  assert.throws(
    () => dev.kvCache({ kvHeads: 1, headDim: 8, capacity: 4, dtype: "f32" as "f16" }),
    (e) =>
      e instanceof InvalidArgumentError &&
      /kvCache: dtype must be "f16" or "bf16", got "f32"/.test(e.message),
  );
  using c16 = dev.kvCache({ kvHeads: 1, headDim: 8, capacity: 4 });
  using cb = dev.kvCache({ kvHeads: 1, headDim: 8, capacity: 4, dtype: "bf16" });
  assert.equal(cb.dtype, "bf16");
  assert.equal(cb.k.dtype, "bf16");
  using qb = dev.tensor(new Uint16Array(8), [1, 8], "bf16");
  using qh = dev.tensor(new Float16Array(8), [1, 8]);
  using qf = dev.tensor(new Float32Array(8), [1, 8]);
  assert.throws(
    () => dev.attention(qb, c16, { heads: 1, kvLength: 1, positionOffset: 0 }),
    (e) =>
      e instanceof InvalidArgumentError &&
      e.message.includes(
        'attention: q is bf16 but the cache is f16; q, the cache and out share one dtype (convert q with bf16ToF16(), or create the cache with dev.kvCache({ ..., dtype: "bf16" }))',
      ),
  );
  assert.throws(
    () => dev.attention(qh, cb, { heads: 1, kvLength: 1, positionOffset: 0 }),
    (e) =>
      e instanceof InvalidArgumentError && /q is f16 but the cache is bf16.*f16ToBf16\(\)/.test(e.message),
  );
  assert.throws(
    () => dev.attention(qf, cb, { heads: 1, kvLength: 1, positionOffset: 0 }),
    (e) =>
      e instanceof InvalidArgumentError &&
      /q must be f16 or bf16, got f32; convert with f32ToF16\(\)/.test(e.message),
  );
  assert.throws(
    () => dev.attention(qb, cb, { heads: 1, kvLength: 1, positionOffset: 0, out: qh }),
    (e) => e instanceof InvalidArgumentError && /out is f16 but the cache is bf16/.test(e.message),
  );
  assert.throws(
    () => c16.append(qb, qb, 1),
    (e) =>
      e instanceof InvalidArgumentError &&
      /kvCache.append: k is bf16 but the cache is f16; k, v and the cache share one dtype/.test(e.message),
  );
  assert.equal(c16.length, 0, "a refused append leaves the cache as it was");
});

test("attention: decode splits a 1001-key cache and the split result is bit-identical with 1 and 2 threads", () => {
  const c: AttnCase = { T: 1, heads: 4, kvHeads: 1, D: 64, offset: 1000 };
  assert.ok(attentionSplits(4, 1, 1001)[0] > 1, "the decode case takes the split path");
  const inp = attnInputs(c, 3);
  const run = (threads: number) => {
    using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
    return runAttn(dev, c, inp);
  };
  const one = run(1), two = run(2);
  assert.ok(sameBits(one, two));
  checkAttn(c, inp, one);
  const p: AttnCase = { T: 37, heads: 4, kvHeads: 1, D: 80, offset: 1 };
  const pin = attnInputs(p, 4);
  const runP = (threads: number) => {
    using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
    return runAttn(dev, p, pin);
  };
  assert.ok(sameBits(runP(1), runP(2)), "prefill bit-identical");
});

// Reference-repo bug: each tile's first key was weighted exp(tile max - m) instead of exp(s_0 - m). Keys
// whose first of every 32 has a low score and whose max sits mid-tile make that weighting visible.
test("attention bug case: the first key of each tile gets its own score's weight, not the tile max", () => {
  using dev = openTestDevice();
  const D = 64, L = 96;
  const q = new Float16Array(D), k = new Float16Array(L * D), v = new Float16Array(L * D);
  q[0] = 1;
  for (let j = 0; j < L; j++) {
    k[j * D] = j % 32 === 0 ? -64 : j % 32 === 13 ? 64 : 0; // scores -8, 8, 0 at scale 1/8: // first key of each tile lowest, key 13 highest
    v[j * D + 1] = j % 32 === 0 ? 100 : 1; // a first key wrongly weighted would pull this to ~50
  }
  using cache = dev.kvCache({ kvHeads: 1, headDim: D, capacity: L });
  using kt = dev.tensor(k), vt = dev.tensor(v), qt = dev.tensor(q);
  cache.append(kt, vt, L);
  const c: AttnCase = { T: 1, heads: 1, kvHeads: 1, D, offset: L - 1 };
  for (const splits of [1, 3]) {
    using o = dev.attention(qt, cache, { heads: 1, splits });
    const got = o.toArray() as Float16Array;
    checkAttn(c, { L, q, k, v }, got);
    assert.ok(got[1] < 1.01, `splits=${splits}: O[1] = ${got[1]}, the low-score first keys must weigh ~0`);
  }
});

// Reference-repo bug: a causal mask without the KV offset let a decode query see only key 0.
test("attention bug case: a decode query at position 1000 sees all 1001 keys, not only key 0", () => {
  using dev = openTestDevice();
  const c: AttnCase = { T: 1, heads: 1, kvHeads: 1, D: 64, offset: 1000 };
  const inp = attnInputs(c, 9);
  inp.q.fill(0); // uniform scores: O is the mean of all values, far from v[0]
  for (let j = 0; j <= 1000; j++) inp.v[j * 64] = j === 0 ? -50 : 1;
  const got = runAttn(dev, c, inp);
  checkAttn(c, inp, got);
  assertWithin("mean of the values", [got[0]], [(1000 - 50) / 1001], [2 ** -8]);
});

test("attention / kvCache errors name the numbers", () => {
  using dev = openTestDevice();
  assert.throws(() => dev.kvCache({ kvHeads: 1, headDim: 60, capacity: 4 }), /multiple of 8/);
  assert.throws(() => dev.kvCache({ kvHeads: 1, headDim: 264, capacity: 4 }), /8\.\.256/);
  using cache = dev.kvCache({ kvHeads: 2, headDim: 8, capacity: 4 });
  using kv = dev.tensor(new Float16Array(5 * 16), [5, 16]);
  assert.throws(
    () => cache.append(kv, kv, 5),
    (e) => e instanceof LimitError && /0 \+ 5 tokens exceed the capacity 4/.test(e.message),
  );
  cache.append(kv, kv, 2);
  using q = dev.tensor(new Float16Array(3 * 24), [3, 24]);
  assert.throws(
    () => dev.attention(q, cache, { heads: 3 }),
    (e) => e instanceof ShapeError && /not a multiple of the cache's kvHeads 2/.test(e.message),
  );
  using q4 = dev.tensor(new Float16Array(3 * 32), [3, 32]);
  assert.throws(
    () => dev.attention(q4, cache, { heads: 4, positionOffset: 0 }),
    /need 3 keys, the cache has 2/,
  );
});
