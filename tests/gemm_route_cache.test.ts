// The route answer (split-K workspace size) is cached per weight, so a model loop alternating weights
// (q/k/v/o/gate/up/down) makes no mm_gemm_route FFI call after its first pass. Observed by counting the
// calls through the device's native function table.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice, randF16, randomWeight } from "./gemm_helpers.ts";
import { nativeOf } from "../lib/runtime/internal.ts";
import type { NativeFns } from "../lib/ffi/symbols.ts";

test("gemm: alternating weights and shapes makes no mm_gemm_route call after warm-up", () => {
  const dev = openTestDevice();
  const { native } = nativeOf(dev);
  const original = native.fns;
  let calls = 0;
  // A table that inherits every symbol and counts the route calls (restored in finally).
  const counting = Object.create(original) as { -readonly [K in keyof NativeFns]: NativeFns[K] };
  counting.mm_gemm_route = ((...args: Parameters<NativeFns["mm_gemm_route"]>) => {
    calls++;
    return original.mm_gemm_route(...args);
  }) as NativeFns["mm_gemm_route"];
  (native as { fns: NativeFns }).fns = counting;
  try {
    const q = dev.upload(randomWeight(256, 64, "fp4", 64, 1));
    const k = dev.upload(randomWeight(256, 32, "int4", 32, 2));
    const down = dev.upload(randomWeight(2048, 16, "int4-sym", 128, 3)); // M = 1: split-K
    const x1 = dev.tensor(randF16(256, 4), [1, 256]);
    const x7 = dev.tensor(randF16(7 * 256, 5), [7, 256]);
    const h = dev.tensor(randF16(2048, 6), [1, 2048]);
    const outs = [dev.empty([1, 64], "f16"), dev.empty([1, 32], "f16"), dev.empty([7, 64], "f16")];
    const hOut = dev.empty([1, 16], "f16");
    const step = (): void => {
      dev.gemm(x1, q, { out: outs[0] });
      dev.gemm(x1, k, { out: outs[1] });
      dev.gemm(x7, q, { out: outs[2] });
      dev.gemm(h, down, { out: hOut });
    };
    step();
    assert.strictEqual(calls, 4, "one route call per (weight, shape) on the first pass");
    calls = 0;
    for (let i = 0; i < 10; i++) step();
    assert.strictEqual(calls, 0, "no route call once every (weight, shape) was seen");
    dev.gemm(x1, q, { out: outs[0], splitK: 1 }); // a new key for q: asks again
    assert.strictEqual(calls, 1);
    const ref = dev.gemm(h, down, { splitK: 0 });
    assert.deepStrictEqual([...hOut.toArray()], [...ref.toArray()]);
  } finally {
    (native as { fns: NativeFns }).fns = original;
    dev.dispose();
  }
});
