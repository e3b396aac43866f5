// RoPE against its float64 reference: half-split and interleaved, partial rotary dims, position offsets
// 0 / 1 / 1000, in place and into a strided destination, f16 and bf16.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, sameBits } from "./layer_helpers.ts";
import { ropeF64 } from "../lib/reference/rope.ts";
import { ropeInvFreq } from "../lib/ops/rope.ts";
import { bf16ToF32, InvalidArgumentError } from "../mod.ts";
import { randBf16 } from "./gemm_helpers.ts";

// The kernel forms angle = fl(pos · inv_freq) in float (relative error 2^-24, so absolute angle·2^-24)
// and evaluates precise cos/sin (a few ulp): each output errs by (|x0| + |x1|)·(angle + 4)·2^-24 before
// the store, which adds half an ulp: 2^-11 relative for f16, 2^-8 for bf16 (8 significant bits).
function bound(
  x: ArrayLike<number>,
  want: ArrayLike<number>,
  heads: number,
  D: number,
  pos0: number,
  halfUlp = 2 ** -11,
) {
  return (i: number) => {
    const t = Math.floor(i / (heads * D));
    const base = i - (i % D);
    let mag = 0;
    for (let d = 0; d < D; d++) mag = Math.max(mag, Math.abs(x[base + d]));
    return Math.abs(want[i]) * halfUlp + 2 * mag * (pos0 + t + 4) * 2 ** -23 + 2 ** -25;
  };
}

const cases = [
  { T: 1, heads: 1, D: 8, rot: 8, pos0: 0, interleaved: false },
  { T: 37, heads: 3, D: 64, rot: 64, pos0: 1, interleaved: false },
  { T: 5, heads: 2, D: 80, rot: 32, pos0: 1000, interleaved: false },
  { T: 7, heads: 4, D: 96, rot: 96, pos0: 13, interleaved: true },
  { T: 3, heads: 1, D: 128, rot: 64, pos0: 1000, interleaved: true },
];

for (const c of cases) {
  const label = `T=${c.T} heads=${c.heads} D=${c.D} rot=${c.rot} pos0=${c.pos0} ${
    c.interleaved ? "interleaved" : "half-split"
  }`;
  test(`rope ${label} vs float64 (in place)`, () => {
    using dev = openTestDevice();
    const x = randF16(c.T * c.heads * c.D, c.D + c.T, 2);
    using xt = dev.tensor(x, [c.T, c.heads * c.D]);
    dev.rope(xt, {
      heads: c.heads,
      headDim: c.D,
      rotaryDim: c.rot,
      positionOffset: c.pos0,
      interleaved: c.interleaved,
    });
    const invFreq = ropeInvFreq(c.rot);
    const want = ropeF64(x, c.T, { ...c, headDim: c.D, rotaryDim: c.rot, positionOffset: c.pos0, invFreq });
    const got = xt.toArray() as Float16Array;
    assertWithin(label, got, want, bound(x, want, c.heads, c.D, c.pos0));
    // Dims past rotaryDim are copied bit for bit.
    for (let i = 0; i < x.length; i++) {
      if (i % c.D >= c.rot) assert.ok(Object.is(got[i], x[i]), `pass-through element ${i}`);
    }
  });
}

test("rope from a fused-QKV-like source into a head-major destination; src untouched", () => {
  using dev = openTestDevice();
  const [T, H, D, pitch] = [6, 2, 16, 80];
  const src = randF16(T * pitch, 3);
  using s = dev.tensor(src, [T, pitch]);
  using d = dev.empty([H, 10, D], "f16"); // [heads, capacity 10, D]; write positions 2..7
  dev.rope({ tensor: s, offset: 16 }, {
    heads: H,
    headDim: D,
    tokens: T, // the offset leaves room for only 5 whole rows of 80, but each reads just 32
    positionOffset: 2,
    srcTokenPitch: pitch,
    out: { tensor: d, offset: 2 * D },
    dstTokenPitch: D,
    dstHeadPitch: 10 * D,
  });
  const x = Float16Array.from(
    { length: T * H * D },
    (_, i) => src[Math.floor(i / (H * D)) * pitch + 16 + (i % (H * D))],
  );
  const want = ropeF64(x, T, {
    heads: H,
    headDim: D,
    rotaryDim: D,
    positionOffset: 2,
    interleaved: false,
    invFreq: ropeInvFreq(D),
  });
  const out = d.toArray() as Float16Array;
  const got = Float16Array.from({ length: T * H * D }, (_, i) => {
    const t = Math.floor(i / (H * D)), h = Math.floor(i / D) % H;
    return out[(h * 10 + 2 + t) * D + (i % D)];
  });
  assertWithin("strided destination", got, want, bound(x, want, H, D, 2));
  for (let h = 0; h < H; h++) {
    for (const p of [0, 1, 8, 9]) {
      assert.ok(
        out.subarray((h * 10 + p) * D, (h * 10 + p + 1) * D).every((v) => v === 0),
        `position ${p} untouched`,
      );
    }
  }
  assert.ok(sameBits(s.toArray(), src), "source untouched");
});

test("rope errors: odd rotary dims, rotaryDim > headDim, too short a tensor", () => {
  using dev = openTestDevice();
  using x = dev.tensor(new Float16Array(64), [4, 16]);
  assert.throws(() => dev.rope(x, { heads: 1, headDim: 16, rotaryDim: 7 }), InvalidArgumentError);
  assert.throws(() => dev.rope(x, { heads: 1, headDim: 16, rotaryDim: 18 }), InvalidArgumentError);
  assert.throws(() => dev.rope(x, { heads: 2, headDim: 16, tokens: 3 }), /needs 96 elements/);
});

test("rope interleaved from an odd element offset (scalar path) matches the half2 path's reference", () => {
  using dev = openTestDevice();
  const [T, H, D] = [5, 3, 32];
  const x = randF16(1 + T * H * D, 17, 2);
  using xt = dev.tensor(x);
  dev.rope({ tensor: xt, offset: 1 }, { heads: H, headDim: D, positionOffset: 7, interleaved: true });
  const src = x.subarray(1);
  const want = ropeF64(src, T, {
    heads: H,
    headDim: D,
    rotaryDim: D,
    positionOffset: 7,
    interleaved: true,
    invFreq: ropeInvFreq(D),
  });
  const got = xt.toArray() as Float16Array;
  assert.ok(Object.is(got[0], x[0]), "element before the offset untouched");
  assertWithin("odd offset", got.subarray(1), want, bound(src, want, H, D, 7));
});

// bf16 (MLX models): the same kernel with the bf16 word set; pairs rotate in float and round once to bf16,
// pass-through dims are copied bit for bit. Half-split with partial rotary dims at position 1000, the
// interleaved ushort2 path (even offsets) and its scalar path (odd offset).
for (const c of [cases[2], cases[3], { ...cases[4], odd: true }]) {
  const odd = "odd" in c;
  const label = `T=${c.T} heads=${c.heads} D=${c.D} rot=${c.rot} pos0=${c.pos0} ${
    c.interleaved ? "interleaved" : "half-split"
  }${odd ? " from an odd offset" : ""}`;
  test(`rope bf16 ${label} vs float64 (in place)`, () => {
    using dev = openTestDevice();
    const n = c.T * c.heads * c.D;
    const x = randBf16(n + (odd ? 1 : 0), c.D + c.T, 2);
    using xt = dev.tensor(x.bits, [x.bits.length], "bf16");
    dev.rope({ tensor: xt, offset: odd ? 1 : 0 }, {
      heads: c.heads,
      headDim: c.D,
      rotaryDim: c.rot,
      positionOffset: c.pos0,
      interleaved: c.interleaved,
    });
    const src = x.values.subarray(odd ? 1 : 0);
    const invFreq = ropeInvFreq(c.rot);
    const want = ropeF64(src, c.T, { ...c, headDim: c.D, rotaryDim: c.rot, positionOffset: c.pos0, invFreq });
    const bits = xt.toArray() as Uint16Array;
    const got = bf16ToF32(bits.subarray(odd ? 1 : 0));
    assertWithin(`bf16 ${label}`, got, want, bound(src, want, c.heads, c.D, c.pos0, 2 ** -8));
    if (odd) assert.equal(bits[0], x.bits[0], "element before the offset untouched");
    for (let i = 0; i < n; i++) {
      if (i % c.D >= c.rot) assert.equal(got[i], src[i], `pass-through element ${i}`);
    }
  });
}

test("rope bf16 into a strided destination (K into a head-major cache); a mixed-dtype out is refused", () => {
  using dev = openTestDevice();
  const [T, H, D, pitch] = [3, 2, 16, 48];
  const src = randBf16(T * pitch, 5);
  using s = dev.tensor(src.bits, [T, pitch], "bf16");
  using d = dev.empty([H, 4, D], "bf16"); // [heads, capacity 4, D]; positions 1..3
  const opts = { heads: H, headDim: D, positionOffset: 1, srcTokenPitch: pitch, dstTokenPitch: D };
  dev.rope({ tensor: s, offset: 8 }, { ...opts, out: { tensor: d, offset: D }, dstHeadPitch: 4 * D });
  const x = Float32Array.from(
    { length: T * H * D },
    (_, i) => src.values[Math.floor(i / (H * D)) * pitch + 8 + (i % (H * D))],
  );
  const want = ropeF64(x, T, {
    heads: H,
    headDim: D,
    rotaryDim: D,
    positionOffset: 1,
    interleaved: false,
    invFreq: ropeInvFreq(D),
  });
  const out = bf16ToF32(d.toArray() as Uint16Array);
  const got = Float32Array.from({ length: T * H * D }, (_, i) => {
    const t = Math.floor(i / (H * D)), h = Math.floor(i / D) % H;
    return out[(h * 4 + 1 + t) * D + (i % D)];
  });
  assertWithin("bf16 strided destination", got, want, bound(x, want, H, D, 1, 2 ** -8));
  for (let h = 0; h < H; h++) {
    assert.ok(
      out.subarray(h * 4 * D, (h * 4 + 1) * D).every((v) => v === 0),
      `head ${h} position 0 untouched`,
    );
  }
  assert.ok(sameBits(s.toArray(), src.bits), "source untouched");
  using f = dev.empty([H, 4, D], "f16");
  assert.throws(
    () => dev.rope(s, { ...opts, tokens: T, out: f }),
    (e) =>
      e instanceof InvalidArgumentError &&
      /^rope: out is f16 but x is bf16; .*convert out with f16ToBf16\(\)/.test(e.message),
  );
});
