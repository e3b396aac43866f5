// RMSNorm against its float64 reference: odd row lengths and counts, pitches, in place; bound derived
// from float accumulation of the sum of squares and the f16 output rounding.
import assert from "node:assert/strict";
import { Device } from "../mod.ts";
import { test } from "./harness.ts";
import { assertWithin, openTestDevice, randF16, sameBits } from "./layer_helpers.ts";
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
