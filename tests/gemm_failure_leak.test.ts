// A failed gemm/batchedGemm leaves the device as it found it: outputs are allocated only after the
// arguments are validated, and an output allocated before a failure in C is released. Counted with the
// device's live-buffer counter, so a leak of one buffer per failed call fails these tests.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice, randF16, randomWeight } from "./gemm_helpers.ts";
import { BoundsError, InvalidArgumentError, MarlinError } from "../lib/runtime/errors.ts";

test("gemm: 1,000 failed calls (bogus M, bad strides, bad options) leave live buffers unchanged", () => {
  const dev = openTestDevice();
  try {
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const a = dev.tensor(randF16(2 * 64, 5), [2, 64]);
    const a3 = dev.tensor(randF16(2 * 2 * 64, 6), [2, 2, 64]);
    // One good call first so the split-K workspace (kept per device) already exists if routed.
    dev.gemm(a, w).dispose();
    const base = dev.info;
    for (let i = 0; i < 1000; i++) {
      const kind = i % 4;
      assert.throws(() => {
        if (kind === 0) dev.gemm(a, w, { m: 1 << 20 }); // would be a 32 MiB output
        else if (kind === 1) dev.batchedGemm(a3, w, { strideA: 1 << 20 }); // C finds A too small
        else if (kind === 2) dev.gemm(a, w, null as never);
        else dev.batchedGemm(a3, w, { batch: 4 }); // C: batch 4 x stride reads past A
      }, MarlinError);
    }
    const after = dev.info;
    assert.strictEqual(after.live_buffers, base.live_buffers);
    assert.strictEqual(after.allocated_bytes, base.allocated_bytes);
    // The device still works and the good result is unchanged in shape.
    const c = dev.gemm(a, w);
    assert.deepStrictEqual([...c.shape], [2, 16]);
  } finally {
    dev.dispose();
  }
});

test("gemm: a bogus M is a BoundsError raised before any output is allocated", () => {
  const dev = openTestDevice();
  try {
    const w = dev.upload(randomWeight(64, 16, "int4", 32, 1));
    const a = dev.tensor(randF16(2 * 64, 7), [2, 64]);
    const base = dev.info.allocated_bytes;
    // M = 2^24 rows of 16 columns would be a 512 MiB output; it must not be allocated at all.
    assert.throws(
      () => dev.gemm(a, w, { m: 1 << 24 }),
      (e: unknown) =>
        e instanceof BoundsError && /gemm: a holds 128 f16 elements but m=16777216/.test(e.message),
    );
    assert.strictEqual(dev.info.allocated_bytes, base);
  } finally {
    dev.dispose();
  }
});

test("gemm/batchedGemm: null, numbers and arrays as options are InvalidArgumentErrors", () => {
  const dev = openTestDevice();
  try {
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const a = dev.tensor(randF16(64, 8), [1, 64]);
    for (const bad of [null, 3, "x", [1]]) {
      assert.throws(
        () => dev.gemm(a, w, bad as never),
        (e: unknown) =>
          e instanceof InvalidArgumentError && /^gemm: options must be an object/.test(e.message),
      );
      assert.throws(() => dev.batchedGemm(a, w, bad as never), InvalidArgumentError);
    }
    assert.deepStrictEqual([...dev.gemm(a, w, undefined).shape], [1, 16]);
  } finally {
    dev.dispose();
  }
});
