// Split-K (partials per K range aligned to 256, then an ordered reduction): automatic for few columns
// and deep K, forced for small shapes; results must match the reference and the unsplit kernel's bits
// need not (different summation order), but must be deterministic.
import assert from "node:assert";
import { test } from "./harness.ts";
import { type Case, label, openTestDevice, randF16, randomWeight, runCase } from "./gemm_helpers.ts";
import { gemmRoute } from "../lib/api/device.ts";
import { InvalidArgumentError } from "../lib/runtime/errors.ts";
import { nativeOf, tensorState } from "../lib/runtime/internal.ts";

const CASES: Case[] = [
  { m: 1, n: 40, k: 2100, format: "fp4", gs: 32 },
  { m: 2, n: 33, k: 1030, format: "int4", gs: 64, splitK: 3 },
  { m: 16, n: 17, k: 700, format: "int4-sym", gs: 128, splitK: 2 },
  { m: 5, n: 64, k: 4096, format: "int4", gs: 256 },
  // Per channel: the splits sum value(code) * x (and x), the reduction applies s and b per column.
  { m: 16, n: 33, k: 1500, format: "int4", gs: "channel", splitK: 3, bias: true, activation: "silu" },
  { m: 3, n: 40, k: 2100, format: "fp4", gs: "channel", splitK: 4, residual: true, scale: 0.5 },
  { m: 1, n: 24, k: 1030, format: "int4-sym", gs: "channel", act: "bf16", splitK: 2 },
  { m: 2, n: 20, k: 2100, format: "int4-affine", gs: "channel", scaleDtype: "bf16", swiglu: "separate" },
  { m: 9, n: 24, k: 1300, format: "int4-affine", gs: "channel", act: "bf16", swiglu: "fused", splitK: 3 },
  { m: 4, n: 18, k: 1000, format: "int4", gs: "channel", swiglu: "fused", residual: true, splitK: 2 },
  // An explicit split finer than 32 parts: each split applies the scale itself (the reduction's staging
  // of the sums of x holds 32 parts).
  { m: 2, n: 8, k: 8704, format: "int4-affine", gs: "channel", splitK: 34, bias: true },
];

for (const c of CASES) {
  test(`splitk ${label(c)}`, () => {
    const dev = openTestDevice();
    try {
      runCase(dev, { ...c, kind: "splitk" });
    } finally {
      dev.dispose();
    }
  });
}

test("splitk is deterministic across calls", () => {
  const dev = openTestDevice();
  try {
    const c: Case = { m: 3, n: 24, k: 1500, format: "fp4", gs: 64, splitK: 4, kind: "splitk" };
    const first = runCase(dev, c);
    const second = runCase(dev, c);
    assert.deepStrictEqual(new Uint16Array(second.buffer), new Uint16Array(first.buffer));
  } finally {
    dev.dispose();
  }
});

test("splitk reuses and grows the device's workspace across shapes", () => {
  const dev = openTestDevice();
  try {
    runCase(dev, { m: 1, n: 16, k: 1100, format: "fp4", gs: 32, splitK: 2, kind: "splitk" });
    const buffers = dev.info.live_buffers;
    runCase(dev, { m: 1, n: 16, k: 1100, format: "fp4", gs: 32, splitK: 2, kind: "splitk" });
    assert.strictEqual(dev.info.live_buffers, buffers, "same shape: no new workspace");
    runCase(dev, {
      m: 12,
      n: 48,
      k: 2100,
      format: "int4",
      gs: 64,
      splitK: 5,
      kind: "splitk",
      swiglu: "separate",
    });
    runCase(dev, { m: 2, n: 8, k: 600, format: "int4-sym", gs: 128, splitK: 2, kind: "splitk" });
  } finally {
    dev.dispose();
  }
});

// A splitK of 0xFFFFFFFF (what -1 wrapped to before TS validated it) overflowed ceil_div in the C
// routing, made the split chunk 0 and trapped on the next division (SIGFPE killed the process).
test("splitk: splitK = 2^32-1 through gemm is the finest split (one part per 256 K), no crash", () => {
  const dev = openTestDevice();
  try {
    const w = dev.upload(randomWeight(1100, 16, "fp4", 32, 3));
    const a = dev.tensor(randF16(2 * 1100, 4), [2, 1100]);
    const finest = Math.ceil(1104 / 256); // K walked = 1104
    const huge = dev.gemm(a, w, { splitK: 4294967295 });
    const exact = dev.gemm(a, w, { splitK: finest });
    assert.deepStrictEqual(new Uint16Array(huge.toArray().buffer), new Uint16Array(exact.toArray().buffer));
    const r = gemmRoute(dev, { m: 2, n: 16, k: 1100, format: 0, groupSize: 32, splitK: 4294967295 });
    assert.deepStrictEqual([r.kind, r.splits], ["splitk", finest]);
    for (const bad of [-1, 2.5, NaN, 2 ** 32]) {
      assert.throws(
        () => dev.gemm(a, w, { splitK: bad }),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          e.message === `gemm: splitK must be an integer in 0..4294967295, got ${bad}`,
      );
    }
  } finally {
    dev.dispose();
  }
});

// The C entry points must survive any uint32 split_k on their own (callers other than lib/ops/gemm.ts).
test("splitk (raw ABI): split_k = 0xFFFFFFFF in mm_gemm_route and mm_gemm succeeds", () => {
  const dev = openTestDevice();
  try {
    const { native, handle } = nativeOf(dev);
    const w = dev.upload(randomWeight(1024, 8, "fp4", 32, 5));
    const a = dev.tensor(randF16(1024, 6), [1, 1024]);
    const out = dev.empty([1, 8], "f16");
    const p = new Uint32Array(56);
    p[0] = 224;
    [p[1], p[2], p[3], p[4], p[5], p[6], p[7]] = [0, 32, 1, 8, 1024, w.kp, w.np]; // fmt gs m n k kp np
    p[20] = 0xffffffff; // split_k
    [p[22], p[23], p[25], p[26]] = [w.packed, w.scales, a, out].map((t) => tensorState(t).buffer);
    const info = new Uint8Array(144);
    new DataView(info.buffer).setUint32(0, 144, true);
    const route = native.fns.mm_gemm_route as (d: number, p: Uint8Array, o: Uint8Array) => number;
    assert.strictEqual(route(handle, new Uint8Array(p.buffer), info), 0);
    assert.strictEqual(new DataView(info.buffer).getUint32(32, true), 4, "1024 K -> 4 parts of 256");
    const gemm = native.fns.mm_gemm as (d: number, p: Uint8Array) => number;
    assert.strictEqual(gemm(handle, new Uint8Array(p.buffer)), 0, native.cstring(native.fns.mm_last_error()));
    const ref = dev.gemm(a, w, { splitK: 4 });
    assert.deepStrictEqual(new Uint16Array(out.toArray().buffer), new Uint16Array(ref.toArray().buffer));
  } finally {
    dev.dispose();
  }
});

// n = 2^31 columns in 64 batches is 2^26 * 64 = 2^32 threadgroups: a 32-bit product wrapped to 0, the
// automatic split then divided 64 by it.
test("splitk (routing): a threadgroup count of 2^32 does not wrap to 0", () => {
  const dev = openTestDevice();
  try {
    const r = gemmRoute(dev, { m: 1, n: 2 ** 31, k: 4096, format: 0, groupSize: 128, batch: 64 });
    assert.deepStrictEqual([r.kind, r.splits, r.grid], ["gemv", 1, [2 ** 26, 1, 64]]);
  } finally {
    dev.dispose();
  }
});
