// Tensor: round trip for every dtype, zero-copy views (pointer identity with the device buffer),
// detach on dispose, idempotent dispose, `using`, shape validation.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice } from "./util/backend.ts";
import type { DType, TensorArray } from "../lib/runtime/dtype.ts";
import { DisposedError, ShapeError } from "../lib/runtime/errors.ts";
import { loadNative } from "../lib/ffi/native.ts";
import { nativeOf, tensorBinding } from "../lib/runtime/internal.ts";

loadNative(); // builds the library if stale, outside any per-test timeout

const cases: [DType, () => TensorArray][] = [
  ["f16", () => new Float16Array([0.5, -1.25, 65504, 3.140625, 0, -0])],
  ["f32", () => new Float32Array([1.5, -2.25, 3e38, 1e-30, Math.PI, -0])],
  ["i32", () => new Int32Array([1, -2, 2147483647, -2147483648, 0, 7])],
  ["u32", () => new Uint32Array([1, 2, 4294967295, 0, 65536, 7])],
  ["u16", () => new Uint16Array([1, 2, 65535, 0, 256, 7])],
  ["u8", () => new Uint8Array([1, 2, 255, 0, 128, 7])],
];

for (const [dtype, make] of cases) {
  test(`tensor: round trip dtype=${dtype} shape=[2,3]`, () => {
    using dev = openTestDevice();
    const src = make();
    const t = dev.tensor(src, [2, 3]);
    assert.strictEqual(t.dtype, dtype);
    assert.deepStrictEqual(t.shape, [2, 3]);
    assert.strictEqual(t.length, 6);
    assert.strictEqual(t.byteLength, src.byteLength);
    const out = t.toArray();
    assert.strictEqual(out.constructor, src.constructor);
    assert.deepStrictEqual(Array.from(out), Array.from(src));
    out[0] = out[1]; // a copy: changing it leaves the tensor alone
    assert.deepStrictEqual(Array.from(t.toArray()), Array.from(src));
    src[0] = src[2]; // and the tensor holds a copy of the input
    assert.notStrictEqual(t.data[0], src[0]);
  });

  test(`tensor: empty is zero-filled dtype=${dtype} shape=[3,5]`, () => {
    using dev = openTestDevice();
    const t = dev.empty([3, 5], dtype);
    assert.strictEqual(t.length, 15);
    assert.ok(t.toArray().every((x) => x === 0));
  });
}

test("tensor: .data is a zero-copy view of the device buffer (pointer identity)", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Float32Array([1, 2, 3, 4]), [4]);
  const { native } = nativeOf(dev);
  const { buffer } = tensorBinding(t);
  assert.strictEqual(native.addressOf(t.data), native.pointerValue(native.fns.mm_buffer_contents(buffer)));
  t.data[2] = 42;
  assert.deepStrictEqual(Array.from(t.toArray()), [1, 2, 42, 4]);
  assert.strictEqual(t.data, t.data, "the same view every time");
});

test("tensor: dispose detaches views, frees memory and is idempotent", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Uint32Array(1000));
  assert.strictEqual(dev.info.live_buffers, 1);
  const view = t.data;
  t.dispose();
  assert.strictEqual(view.length, 0);
  assert.strictEqual(view.byteLength, 0);
  assert.strictEqual(dev.info.live_buffers, 0);
  assert.strictEqual(dev.info.allocated_bytes, 0);
  assert.throws(() => t.toArray(), DisposedError);
  assert.throws(() => t.data, DisposedError);
  t.dispose();
  assert.strictEqual(t.disposed, true);
});

test("tensor: `using` frees the tensor at the end of the block", () => {
  using dev = openTestDevice();
  let view: TensorArray;
  {
    using t = dev.empty([64], "f32");
    view = t.data;
    assert.strictEqual(dev.info.live_buffers, 1);
  }
  assert.strictEqual(view.length, 0);
  assert.strictEqual(dev.info.live_buffers, 0);
});

test("tensor: shape product must equal the data length (ShapeError with both numbers)", () => {
  using dev = openTestDevice();
  assert.throws(() => dev.tensor(new Float32Array(5), [2, 3]), (e: unknown) => {
    assert.ok(e instanceof ShapeError);
    assert.match(e.message, /6/);
    assert.match(e.message, /5/);
    return true;
  });
  assert.throws(() => dev.empty([2, -1], "f32"), ShapeError);
  assert.throws(() => dev.empty([2.5], "f32"), ShapeError);
});

test("tensor: default shape is [length]; empty tensors work", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Int32Array([5, 6, 7]));
  assert.deepStrictEqual(t.shape, [3]);
  const z = dev.empty([0, 4], "f16");
  assert.strictEqual(z.length, 0);
  assert.strictEqual(z.toArray().length, 0);
  z.dispose();
});
