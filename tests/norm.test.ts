// RMSNorm against its float64 reference: odd row lengths and counts, pitches, in place, f16 and bf16
// activations and weights; bound derived from float accumulation of the sum of squares and the output
// rounding (f16 or bf16).
import assert from "node:assert/strict";
import { bf16ToF32, Device } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, sameBits } from "./layer_helpers.ts";
import { randBf16 } from "./gemm_helpers.ts";
import { rmsNormF64 } from "../lib/reference/norm.ts";
import { InvalidArgumentError, ShapeError } from "../mod.ts";

// y = x·inv·w: the float sum of squares over `dim` terms errs by <= dim·2^-24 relative, rsqrt and the two
// products a few ulp each; the f16 store adds half an ulp (2^-11) and 2^-25 in the subnormal range.
const bound = (want: ArrayLike<number>, dim: number) => (i: number) =>
  Math.abs(want[i]) * (2 ** -11 + (dim + 8) * 2 ** -24) + 2 ** -25;

for (const [rows, dim, eps] of [[1, 8, 1e-6], [3, 37, 1e-5], [37, 200, 1e-6], [5, 4096, 1e-6]] as const) {
  test(`rmsNorm rows=${rows} dim=${dim} eps=${eps} vs float64`, () => {
    using dev = openTestDevice();
    const x = randF16(rows * dim, 11 + dim, 3);
    const w = randF16(dim, 7 + dim, 1.5);
    using xt = dev.tensor(x, [rows, dim]);
    using wt = dev.tensor(w, [dim]);
    using y = dev.rmsNorm(xt, wt, { eps });
    const want = rmsNormF64(x, w, rows, dim, eps);
    assertWithin(`rows=${rows} dim=${dim}`, y.toArray() as Float16Array, want, bound(want, dim));
  });
}

test("rmsNorm in place and with row pitches (a [rows, 2·dim] buffer, right half)", () => {
  using dev = openTestDevice();
  const [rows, dim] = [7, 24];
  const x = randF16(rows * 2 * dim, 5, 2);
  const w = randF16(dim, 6);
  using xt = dev.tensor(x, [rows, 2 * dim]);
  using wt = dev.tensor(w);
  dev.rmsNorm({ tensor: xt, offset: dim }, wt, {
    rows,
    ldx: 2 * dim,
    ldy: 2 * dim,
    out: { tensor: xt, offset: dim },
  });
  const got = xt.toArray() as Float16Array;
  const right = new Float16Array(rows * dim),
    wantLeft = new Float16Array(rows * dim),
    left = new Float16Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < dim; d++) {
      right[r * dim + d] = x[r * 2 * dim + dim + d];
      wantLeft[r * dim + d] = x[r * 2 * dim + d];
      left[r * dim + d] = got[r * 2 * dim + d];
    }
  }
  const want = rmsNormF64(right, w, rows, dim, 1e-6);
  const gotRight = Float16Array.from(
    { length: rows * dim },
    (_, i) => got[Math.floor(i / dim) * 2 * dim + dim + (i % dim)],
  );
  assertWithin("in place, right half", gotRight, want, bound(want, dim));
  assert.ok(sameBits(left, wantLeft), "the left half is untouched");
});

test("rmsNorm is bit-identical with 1 and 2 worker threads", () => {
  const x = randF16(33 * 300, 3, 4);
  const w = randF16(300, 4);
  const run = (threads: number) => {
    using dev = Device.open({ backend: "cpu", threads }); // worker threads: a CPU-runtime property
    using xt = dev.tensor(x, [33, 300]);
    using wt = dev.tensor(w);
    using y = dev.rmsNorm(xt, wt);
    return y.toArray();
  };
  assert.ok(sameBits(run(1), run(2)));
});

test("rmsNorm errors name the numbers", () => {
  using dev = openTestDevice();
  using x = dev.tensor(new Float16Array(30), [3, 10]);
  using w = dev.tensor(new Float16Array(8));
  assert.throws(
    () => dev.rmsNorm(x, w),
    (e) => e instanceof ShapeError && /30 elements, not a multiple of dim 8/.test(e.message),
  );
  using w32 = dev.tensor(new Float32Array(10));
  assert.throws(
    () => dev.rmsNorm(x, w32),
    (e) => e instanceof InvalidArgumentError && /weight must be f16/.test(e.message),
  );
  using w10 = dev.tensor(new Float16Array(10));
  assert.throws(
    () => dev.rmsNorm(x, w10, { rows: 4 }),
    (e) => e instanceof ShapeError && /needs 40 elements/.test(e.message),
  );
});

// bf16 (MLX models): x and y bf16, the weight f16 or bf16 on its own. Same accumulation bound; the bf16
// store rounds to 8 significant bits, half an ulp = 2^-8 relative (2^-134 absolute among subnormals).
const boundBf16 = (want: ArrayLike<number>, dim: number) => (i: number) =>
  Math.abs(want[i]) * (2 ** -8 + (dim + 8) * 2 ** -24) + 2 ** -133;

for (
  const [rows, dim, x16, w16] of [
    [1, 8, "bf16", "bf16"],
    [3, 37, "bf16", "f16"],
    [37, 200, "bf16", "bf16"],
    [5, 129, "f16", "bf16"],
  ] as const
) {
  test(`rmsNorm rows=${rows} dim=${dim} x ${x16}, weight ${w16} vs float64`, () => {
    using dev = openTestDevice();
    const upload = (dt: "f16" | "bf16", len: number, seed: number, scale: number) => {
      if (dt === "f16") {
        const v = randF16(len, seed, scale);
        return { t: dev.tensor(v), values: v };
      }
      const b = randBf16(len, seed, scale);
      return { t: dev.tensor(b.bits, [len], "bf16"), values: b.values };
    };
    const x = upload(x16, rows * dim, 11 + dim, 3), w = upload(w16, dim, 7 + dim, 1.5);
    using xt = x.t, wt = w.t;
    using y = dev.rmsNorm(xt, wt, { rows });
    assert.equal(y.dtype, x16, "out takes x's dtype");
    const got = x16 === "bf16" ? bf16ToF32(y.toArray() as Uint16Array) : (y.toArray() as Float16Array);
    const want = rmsNormF64(x.values, w.values, rows, dim, 1e-6);
    assertWithin(`${x16}/${w16}`, got, want, (x16 === "bf16" ? boundBf16 : bound)(want, dim));
  });
}

test("rmsNorm bf16 in place at a row pitch (a [rows, 2·dim] buffer, right half); left half untouched", () => {
  using dev = openTestDevice();
  const [rows, dim] = [5, 40];
  const x = randBf16(rows * 2 * dim, 9, 2), w = randBf16(dim, 10);
  using xt = dev.tensor(x.bits, [rows, 2 * dim], "bf16");
  using wt = dev.tensor(w.bits, [dim], "bf16");
  const half = { tensor: xt, offset: dim };
  dev.rmsNorm(half, wt, { rows, ldx: 2 * dim, ldy: 2 * dim, out: half });
  const bits = xt.toArray() as Uint16Array;
  const at = (side: number) => (_: unknown, i: number) => Math.floor(i / dim) * 2 * dim + side + (i % dim);
  const right = Float32Array.from({ length: rows * dim }, (_, i) => x.values[at(dim)(_, i)]);
  const want = rmsNormF64(right, w.values, rows, dim, 1e-6);
  const got = bf16ToF32(Uint16Array.from({ length: rows * dim }, (_, i) => bits[at(dim)(_, i)]));
  assertWithin("bf16 in place, right half", got, want, boundBf16(want, dim));
  const left = (b: Uint16Array) => Uint16Array.from({ length: rows * dim }, (_, i) => b[at(0)(_, i)]);
  assert.ok(sameBits(left(bits), left(x.bits)), "the left half is untouched");
});

test("rmsNorm refuses mixed activation dtypes and f32, naming the conversion", () => {
  using dev = openTestDevice();
  using xb = dev.tensor(new Uint16Array(16), [2, 8], "bf16");
  using xh = dev.tensor(new Float16Array(16), [2, 8]);
  using w = dev.tensor(new Float16Array(8));
  const mixed = (re: RegExp) => (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message);
  assert.throws(
    () => dev.rmsNorm(xb, w, { out: xh }),
    mixed(/^rmsNorm: out is f16 but x is bf16; .*convert out with f16ToBf16\(\)/),
  );
  assert.throws(
    () => dev.rmsNorm(xh, w, { out: xb }),
    mixed(/^rmsNorm: out is bf16 but x is f16; .*convert out with bf16ToF16\(\)/),
  );
  using x32 = dev.tensor(new Float32Array(16), [2, 8]);
  assert.throws(
    () => dev.rmsNorm(x32, w),
    mixed(/^rmsNorm: x must be f16 or bf16, got f32; .*f32ToBf16\(\)/),
  );
  using w32 = dev.tensor(new Float32Array(8));
  assert.throws(() => dev.rmsNorm(xb, w32), mixed(/^rmsNorm: weight must be f16 or bf16, got f32/));
});
