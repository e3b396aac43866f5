// dev.scope(fn) disposes every tensor created inside except those reachable from the result, disposes
// all of them when fn throws, and refuses async functions. Counted with the live-buffer counter.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice } from "./util/backend.ts";
import { InvalidArgumentError } from "../lib/runtime/errors.ts";
import { randomWeight } from "./gemm_helpers.ts";

test("scope: temporaries are disposed, returned tensors and weights are kept", () => {
  using dev = openTestDevice();
  const outside = dev.empty([4], "f32");
  const base = dev.info.live_buffers;
  const [kept, w] = dev.scope(() => {
    for (let i = 0; i < 20; i++) dev.empty([16], "f16");
    return [dev.tensor(new Float32Array([1, 2])), dev.upload(randomWeight(64, 16, "fp4", 32, 1))] as const;
  });
  assert.strictEqual(outside.disposed, false);
  assert.deepStrictEqual([...kept.toArray()], [1, 2]);
  assert.strictEqual(w.packed.disposed, false);
  assert.strictEqual(dev.info.live_buffers, base + 1 + (w.zeros ? 3 : 2));
  assert.strictEqual(dev.scope(() => 7), 7);
});

test("scope: a throw disposes everything created inside; a promise or a non-function is refused", () => {
  using dev = openTestDevice();
  const base = dev.info.live_buffers;
  assert.throws(() =>
    dev.scope(() => {
      dev.empty([8], "u8");
      throw new RangeError("boom");
    }), RangeError);
  assert.strictEqual(dev.info.live_buffers, base);
  assert.throws(() => dev.scope(() => Promise.resolve(1)), InvalidArgumentError);
  assert.throws(() => dev.scope(null as never), InvalidArgumentError);
});
