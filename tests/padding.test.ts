// Padding helpers: padTo, the M policy (M = 1 keeps the GEMV path), matrix pad/slice, unservable shapes.
import assert from "node:assert";
import { test } from "./harness.ts";
import {
  DEFAULT_M_PADDING,
  M_PAD_THRESHOLD,
  MAX_DIM,
  padK,
  padM,
  padMatrix,
  padN,
  padTo,
  sliceMatrix,
} from "../lib/quant/padding.ts";
import { InvalidArgumentError, ShapeError } from "../lib/runtime/errors.ts";

test("padTo rounds up to the multiple and leaves multiples alone", () => {
  assert.strictEqual(padTo(1, 8), 8);
  assert.strictEqual(padTo(8, 8), 8);
  assert.strictEqual(padTo(9, 8), 16);
  assert.strictEqual(padTo(4095, 128), 4096);
  assert.strictEqual(padTo(300, 64), 320);
});

test("padM: M = 1 never padded (GEMV, reference bug 8); multiple of 8 up to the threshold, then 64", () => {
  assert.strictEqual(padM(1), 1);
  assert.strictEqual(padM(2), 8);
  assert.strictEqual(padM(7), 8);
  assert.strictEqual(padM(17), 24);
  assert.strictEqual(padM(M_PAD_THRESHOLD), M_PAD_THRESHOLD);
  assert.strictEqual(padM(M_PAD_THRESHOLD + 1), Math.ceil((M_PAD_THRESHOLD + 1) / 64) * 64);
  assert.strictEqual(padM(1000), 1024);
  assert.strictEqual(padM(17, { ...DEFAULT_M_PADDING, enabled: false }), 17);
  assert.strictEqual(padM(17, { ...DEFAULT_M_PADDING, threshold: 16 }), 64);
});

test("padK / padN: Kp is a multiple of the group size, Np of 8 or the given multiple", () => {
  assert.strictEqual(padK(1, 128), 128);
  assert.strictEqual(padK(129, 32), 160);
  assert.strictEqual(padN(1), 8);
  assert.strictEqual(padN(100, 64), 128);
  assert.throws(
    () => padK(64, 12),
    (e) =>
      e instanceof InvalidArgumentError &&
      /groupSize must be a positive multiple of 8, got 12/.test(e.message),
  );
  assert.throws(
    () => padN(64, 12),
    (e) =>
      e instanceof InvalidArgumentError &&
      /nMultiple must be a positive multiple of 8, got 12/.test(e.message),
  );
});

test("shapes padding cannot serve get a typed error saying why", () => {
  assert.throws(
    () => padTo(MAX_DIM, 8),
    (e) =>
      e instanceof ShapeError &&
      /4294967295 rounded up to a multiple of 8 is 4294967296, above the uint32 dimension limit/.test(
        e.message,
      ),
  );
  assert.throws(
    () => padTo(0, 8),
    (e) => e instanceof InvalidArgumentError && /x must be a positive integer, got 0/.test(e.message),
  );
  assert.throws(() => padM(-1), InvalidArgumentError);
  assert.throws(
    () => padTo(2 ** 33, 8),
    (e) => e instanceof ShapeError && /above the C ABI's uint32 dimension limit/.test(e.message),
  );
});

test("padMatrix zero-fills new rows and columns per batch; sliceMatrix inverts it", () => {
  const src = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // 2 x [2, 3]
  const p = padMatrix(src, 2, 2, 3, 3, 4);
  assert.deepStrictEqual(Array.from(p), [
    1,
    2,
    3,
    0,
    4,
    5,
    6,
    0,
    0,
    0,
    0,
    0,
    7,
    8,
    9,
    0,
    10,
    11,
    12,
    0,
    0,
    0,
    0,
    0,
  ]);
  assert.deepStrictEqual(sliceMatrix(p, 2, 3, 4, 2, 3), src);
  assert.strictEqual(padMatrix(src, 2, 2, 3, 2, 3), src);
  const u = padMatrix(new Uint32Array([0xffffffff]), 1, 1, 1, 1, 2);
  assert.ok(u instanceof Uint32Array && u[0] === 0xffffffff && u[1] === 0);
  assert.throws(
    () => padMatrix(src, 1, 2, 3, 2, 3),
    (e) =>
      e instanceof ShapeError && /src has 12 elements but batch\*rows\*cols = 1\*2\*3 = 6/.test(e.message),
  );
  assert.throws(() => padMatrix(src, 2, 2, 3, 1, 3), ShapeError);
});
