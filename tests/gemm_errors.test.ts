// Bad input gives typed errors, never a crash: mismatched K, wrong dtypes, disposed tensors and
// weights, an output too small, batch strides that would read past a buffer (checked in C against the
// real buffer length), unsupported group sizes. The device keeps working afterwards.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice, randF16, randomWeight } from "./gemm_helpers.ts";
import {
  BadHandleError,
  BoundsError,
  DisposedError,
  InvalidArgumentError,
  LimitError,
  ShapeError,
} from "../lib/runtime/errors.ts";
import { type Device, gemmRoute } from "../lib/api/device.ts";
import { nativeOf, tensorState } from "../lib/runtime/internal.ts";

function withDev(fn: (dev: Device) => void): () => void {
  return () => {
    const dev = openTestDevice();
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
  "gemm: a weight whose group size breaks its format's definition is refused; SwiGLU shape errors are ShapeErrors",
  withDev((dev) => {
    // quantize() refuses mxfp4 at group size 16; a hand-edited matrix reaches upload's check instead.
    const mx = randomWeight(64, 16, "mxfp4", undefined, 1);
    const a = dev.tensor(randF16(64, 7), [1, 64]);
    assert.throws(
      () => dev.upload({ ...mx, groupSize: 16, scales: new Uint8Array(4 * 16) }),
      (e: unknown) => e instanceof InvalidArgumentError && /mxfp4 has group size 32/.test(e.message),
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

test(
  "gemm: an output overlapping the activations or another batch's output is rejected; in-place residual works",
  withDev((dev) => {
    const q = randomWeight(64, 16, "fp4", 32, 4);
    const w = dev.upload(q);
    const a = dev.tensor(randF16(2 * 64, 5), [2, 64]);
    // Other threadgroups would still read rows of a that this one overwrites.
    assert.throws(
      () => dev.gemm(a, w, { out: a }),
      (e: unknown) => e instanceof InvalidArgumentError && /c \(bytes 0\.\.\d+\) overlaps a/.test(e.message),
    );
    const a3 = dev.tensor(randF16(2 * 2 * 64, 6), [2, 2, 64]);
    const out = dev.empty([64], "f16");
    assert.throws(
      () => dev.batchedGemm(a3, w, { out, ldc: 16, strideC: 24 }),
      (e: unknown) => e instanceof ShapeError && /stride_c = 24 makes batch outputs overlap/.test(e.message),
    );
    // residual == out element for element: each thread reads its element before writing it.
    const res = randF16(2 * 16, 7);
    const inPlace = dev.tensor(res, [2, 16]);
    dev.gemm(a, w, { out: inPlace, residual: inPlace });
    const separate = dev.gemm(a, w, { residual: dev.tensor(res, [2, 16]) });
    assert.deepStrictEqual([...inPlace.toArray()], [...separate.toArray()]);
  }),
);

// The C entry points validate on their own: a params block built by hand (as a non-TS caller would)
// with a weight batch stride past the packed buffer, or extents beyond 32-bit indexing.
test(
  "mm_batched_gemm (raw ABI): weight stride past the buffer -> MM_E_BOUNDS, 2^32 extents -> MM_E_LIMIT",
  withDev((dev) => {
    const { native, handle } = nativeOf(dev);
    const w = dev.upload(randomWeight(32, 8, "fp4", 32, 1));
    const a = dev.tensor(randF16(2 * 32, 8), [2, 32]);
    const out = dev.empty([2, 8], "f16");
    const p = new Uint32Array(56);
    p[0] = 224;
    [p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]] = [0, 32, 1, 8, 32, w.kp, w.np, w.np, 2]; // fmt gs m n k kp np ldw batch
    [p[10], p[11], p[12], p[13], p[14], p[15], p[16]] = [32, 8, 8, 32, 1, 0, 8]; // lda ldc ldr sA sW sS sC
    p[22] = tensorState(w.packed).buffer;
    p[23] = tensorState(w.scales).buffer;
    p[25] = tensorState(a).buffer;
    p[26] = tensorState(out).buffer;
    const call = native.fns.mm_batched_gemm as (d: number, b: Uint8Array) => number;
    const msg = () => native.cstring(native.fns.mm_last_error());
    assert.strictEqual(call(handle, new Uint8Array(p.buffer)), -7);
    assert.match(msg(), /packed needs 132 bytes at offset 0 but the buffer holds 128 bytes/);
    p[14] = 0; // shared weight: fine
    assert.strictEqual(call(handle, new Uint8Array(p.buffer)), 0);
    [p[3], p[10]] = [70000, 70000]; // m * lda > 2^32 elements
    assert.strictEqual(call(handle, new Uint8Array(p.buffer)), -6);
    assert.match(msg(), /kernels index with 32 bits/);
    p[0] = 100; // a params block from an unknown, smaller layout
    assert.strictEqual(call(handle, new Uint8Array(p.buffer)), -1);
  }),
);

test("gemm: a weight uploaded to another device is a BadHandleError, not a crash", () => {
  const one = openTestDevice(), two = openTestDevice();
  try {
    const w = one.upload(randomWeight(32, 8, "int4", 32, 1));
    const a = two.tensor(randF16(32, 9), [1, 32]);
    assert.throws(
      () => two.gemm(a, w),
      (e: unknown) => e instanceof BadHandleError && /packed buffer/.test(e.message),
    );
  } finally {
    one.dispose();
    two.dispose();
  }
});

// Every count, pitch and stride lands in a uint32 field: before validation 2^32+1 rows computed 1 row,
// lda 2^32+64 acted as 64, 1.5 truncated, NaN and "2" were coerced, and -1 rows surfaced as a
// 137 GB allocation failure. Each is now an InvalidArgumentError naming the op, the option and the value.
test(
  "gemm/batchedGemm: numeric options outside uint32 integers are InvalidArgumentErrors with the numbers",
  withDev((dev) => {
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const a = dev.tensor(randF16(2 * 64, 2), [2, 64]);
    const res = dev.tensor(randF16(2 * 16, 3), [2, 16]);
    const range = (min: number) => `must be an integer in ${min}..4294967295, got`;
    const cases: [Record<string, unknown>, string][] = [
      [{ m: -1 }, `gemm: m ${range(1)} -1`],
      [{ m: 2 ** 32 + 1 }, `gemm: m ${range(1)} 4294967297`],
      [{ m: 1.5 }, `gemm: m ${range(1)} 1.5`],
      [{ m: 0 }, `gemm: m ${range(1)} 0`],
      [{ lda: 2 ** 32 + 64 }, `gemm: lda ${range(1)} 4294967360`],
      [{ lda: -64 }, `gemm: lda ${range(1)} -64`],
      [{ ldc: 16.5 }, `gemm: ldc ${range(1)} 16.5`],
      [{ residual: res, ldr: NaN }, `gemm: ldr ${range(1)} NaN`],
      [{ splitK: NaN }, `gemm: splitK ${range(0)} NaN`],
      [{ splitK: "2" }, `gemm: splitK ${range(0)} "2"`],
      [{ scale: "2" }, `gemm: scale must be a finite number, got "2"`],
      [{ scale: Infinity }, `gemm: scale must be a finite number, got Infinity`],
    ];
    for (const [opts, message] of cases) {
      assert.throws(
        () => dev.gemm(a, w, opts as never),
        (e: unknown) => e instanceof InvalidArgumentError && e.op === "gemm" && e.message === message,
        JSON.stringify(opts),
      );
    }
    const a3 = dev.tensor(randF16(2 * 2 * 64, 4), [2, 2, 64]);
    const batched: [Record<string, unknown>, string][] = [
      [{ batch: 0 }, `batchedGemm: batch ${range(1)} 0`],
      [{ batch: 2.5 }, `batchedGemm: batch ${range(1)} 2.5`],
      [{ strideA: -1 }, `batchedGemm: strideA ${range(0)} -1`],
      [{ strideC: 2 ** 32 }, `batchedGemm: strideC ${range(0)} 4294967296`],
      [{ strideR: 0.5 }, `batchedGemm: strideR ${range(0)} 0.5`],
      [
        { m: 2 ** 26, out: dev.empty([2, 2, 16], "f16") },
        `batchedGemm: m * lda (the default strideA) ${range(0)} 4294967296`,
      ],
    ];
    for (const [opts, message] of batched) {
      assert.throws(
        () => dev.batchedGemm(a3, w, opts as never),
        (e: unknown) => e instanceof InvalidArgumentError && e.message === message,
        JSON.stringify(opts),
      );
    }
    // The default output is allocated under the caller's op (it said "tensor: mm_buffer_alloc: ...").
    assert.throws(
      () => dev.gemm(a, w, { m: 2 ** 28 }),
      (e: unknown) =>
        e instanceof LimitError && e.op === "gemm" &&
        e.message === "gemm: the output [268435456, 16] has 4294967296 elements; kernels index with 32 bits",
    );
    assert.deepStrictEqual(dev.gemm(a, w, { scale: 1, splitK: 0 }).shape, [2, 16]);
  }),
);

// C messages start with their entry point; the TS op replaces it instead of stacking both.
test(
  "gemm: errors from C read 'gemm: ldc = 8 is below n = 16', without the C entry point's name",
  withDev((dev) => {
    const w = dev.upload(randomWeight(64, 16, "fp4", 32, 1));
    const a = dev.tensor(randF16(2 * 64, 2), [2, 64]);
    const out = dev.empty([2, 16], "f16");
    assert.throws(
      () => dev.gemm(a, w, { out, ldc: 8 }),
      (e: unknown) => e instanceof ShapeError && e.message === "gemm: ldc = 8 is below n = 16",
    );
    assert.throws(
      () => dev.gemm(dev.tensor(randF16(64, 2), [1, 64]), w, { out: dev.empty([15], "f16"), ldc: 16 }),
      (e: unknown) => e instanceof BoundsError && /^gemm: c needs 32 bytes/.test(e.message),
    );
    const a3 = dev.tensor(randF16(2 * 2 * 64, 4), [2, 2, 64]);
    assert.throws(
      () => dev.batchedGemm(a3, w, { lda: 32 }),
      (e: unknown) => e instanceof ShapeError && e.message === "batchedGemm: lda = 32 is below k = 64",
    );
    assert.throws(
      () => gemmRoute(dev, { m: 1, n: 8, k: 64, format: 0, groupSize: 44 }),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        e.message === "gemmRoute: group_size = 44 must be a positive multiple of 8",
    );
  }),
);
