// Bad input gives typed errors, never a crash: mismatched K, wrong dtypes, disposed tensors and
// weights, an output too small, batch strides that would read past a buffer (checked in C against the
// real buffer length), unsupported group sizes. The device keeps working afterwards.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openCpu, randF16, randomWeight } from "./gemm_helpers.ts";
import {
  BoundsError,
  DisposedError,
  InvalidArgumentError,
  ShapeError,
  UnsupportedError,
} from "../lib/errors.ts";
import type { Device } from "../lib/device.ts";

function withDev(fn: (dev: Device) => void): () => void {
  return () => {
    const dev = openCpu();
    try {
      fn(dev);
    } finally {
      dev.dispose();
    }
  };
}

test(
  "gemm: mismatched K is a ShapeError naming both K",
  withDev((dev) => {
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const a = dev.tensor(randF16(2 * 63, 2), [2, 63]);
    assert.throws(
      () => dev.gemm(a, w),
      (e: unknown) => e instanceof ShapeError && /K=63 but w has K=64/.test(e.message),
    );
  }),
);

test(
  "gemm: f32 activations, f32 bias and u16 residual are InvalidArgumentErrors",
  withDev((dev) => {
    const w = dev.upload(randomWeight(64, 16, "int4", 32, 1));
    const a32 = dev.tensor(new Float32Array(2 * 64), [2, 64]);
    assert.throws(
      () => dev.gemm(a32, w),
      (e: unknown) => e instanceof InvalidArgumentError && /a must be f16/.test(e.message),
    );
    const a = dev.tensor(randF16(2 * 64, 3), [2, 64]);
    assert.throws(() => dev.gemm(a, w, { bias: dev.tensor(new Float32Array(16)) }), InvalidArgumentError);
    assert.throws(
      () => dev.gemm(a, w, { residual: dev.tensor(new Uint16Array(32), [2, 16]) }),
      InvalidArgumentError,
    );
    assert.throws(() => dev.gemm(a, w, { activation: "tanh" as never }), InvalidArgumentError);
  }),
);

test(
  "gemm: disposed activations, weights and outputs throw DisposedError",
  withDev((dev) => {
    const w = dev.upload(randomWeight(64, 16, "int4-sym", 64, 1));
    const a = dev.tensor(randF16(64, 4), [1, 64]);
    const out = dev.empty([1, 16], "f16");
    out.dispose();
    assert.throws(() => dev.gemm(a, w, { out }), DisposedError);
    a.dispose();
    assert.throws(() => dev.gemm(a, w), DisposedError);
    const a2 = dev.tensor(randF16(64, 4), [1, 64]);
    w.dispose();
    assert.throws(() => dev.gemm(a2, w), DisposedError);
  }),
);

test(
  "gemm: an output too small is a BoundsError from the C side",
  withDev((dev) => {
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const a = dev.tensor(randF16(3 * 64, 5), [3, 64]);
    const out = dev.empty([3 * 16 - 1], "f16");
    assert.throws(
      () => dev.gemm(a, w, { out, ldc: 16 }),
      (e: unknown) => e instanceof BoundsError && e.code === -7 && /c needs 96 bytes/.test(e.message),
    );
    const short = dev.tensor(randF16(2 * 64, 5), [2, 64]);
    assert.throws(() => dev.gemm(short, w, { m: 3 }), BoundsError); // rows past the end of a
  }),
);

test(
  "batchedGemm: strides reading past a buffer are BoundsErrors; stride_c 0 is refused",
  withDev((dev) => {
    const w = dev.upload(randomWeight(32, 8, "int4", 32, 1));
    const a = dev.tensor(randF16(2 * 3 * 32, 6), [2, 3, 32]);
    assert.throws(
      () => dev.batchedGemm(a, w, { strideA: 3 * 32 + 1 }),
      (e: unknown) => e instanceof BoundsError && /\ba needs/.test(e.message),
    );
    const out = dev.empty([2, 3, 8], "f16");
    assert.throws(() => dev.batchedGemm(a, w, { out, strideC: 25 }), BoundsError);
    assert.throws(() => dev.batchedGemm(a, w, { out, strideC: 0 }), InvalidArgumentError);
    const wb = dev.upload(randomWeight(32, 8, "int4", 32, 2, 3));
    assert.throws(
      () => dev.batchedGemm(a, wb),
      (e: unknown) => e instanceof ShapeError && /batch 2 but w has batch 3/.test(e.message),
    );
  }),
);

test(
  "gemm: group size 16 is UnsupportedError; SwiGLU shape errors are ShapeErrors",
  withDev((dev) => {
    const w16 = dev.upload(randomWeight(64, 16, "fp4", 16, 1));
    const a = dev.tensor(randF16(64, 7), [1, 64]);
    assert.throws(
      () => dev.gemm(a, w16),
      (e: unknown) => e instanceof UnsupportedError && /group size 16/.test(e.message),
    );
    const odd = dev.upload(randomWeight(64, 15, "fp4", 32, 1));
    assert.throws(() => dev.gemm(a, odd, { swiglu: true }), ShapeError);
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const up = dev.upload(randomWeight(64, 16, "int4", 32, 1));
    assert.throws(() => dev.gemm(a, w, { up }), ShapeError);
  }),
);

test(
  "gemm: the device still computes after a series of rejected calls",
  withDev((dev) => {
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const a = dev.tensor(new Float16Array(64).fill(0), [1, 64]);
    for (let i = 0; i < 5; i++) {
      assert.throws(() => dev.gemm(a, w, { out: dev.empty([15], "f16"), ldc: 16 }), BoundsError);
    }
    const out = dev.gemm(a, w);
    assert.deepStrictEqual([...out.toArray()], new Array(16).fill(0));
  }),
);
