// Views moved out of a tensor (ArrayBuffer.prototype.transfer, structuredClone with transfer) keep
// pointing at the device memory in Bun and Deno (both move external memory instead of copying it).
// dispose() must then not free that memory: the moved view keeps reading the tensor's values, even
// after new tensors are allocated (before, they read freed or reused memory).
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice } from "./util/backend.ts";

test("tensor: transfer the view, dispose, allocate again: the moved memory still holds its values", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Float32Array([1, 2, 3, 4]));
  const moved = new Float32Array((t.data.buffer as ArrayBuffer).transfer());
  moved[0] = 42;
  t.dispose();
  assert.strictEqual(t.disposed, true);
  const others = Array.from({ length: 8 }, (_, i) => dev.tensor(new Float32Array(4).fill(-1 - i)));
  assert.deepStrictEqual([...moved], [42, 2, 3, 4]);
  for (const o of others) o.dispose();
});

test("tensor: structuredClone with transfer then dispose keeps the clone's memory", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Float32Array([5, 6, 7, 8]));
  const ab = t.data.buffer as ArrayBuffer;
  const clone = new Float32Array(structuredClone(ab, { transfer: [ab] }));
  t.dispose();
  const other = dev.tensor(new Float32Array(4).fill(9));
  assert.deepStrictEqual([...clone], [5, 6, 7, 8]);
  other.dispose();
});

test("tensor: dispose without a transfer still frees the buffer (live count drops)", () => {
  using dev = openTestDevice();
  const base = dev.info.live_buffers;
  const t = dev.tensor(new Float32Array([1, 2]));
  assert.strictEqual(dev.info.live_buffers, base + 1);
  t.dispose();
  assert.strictEqual(dev.info.live_buffers, base);
});

test("tensor: a moved view survives the device's dispose too (the native device stays open)", () => {
  const dev = openTestDevice();
  const t = dev.tensor(new Float32Array([3, 1, 4, 1]));
  const moved = new Float32Array((t.data.buffer as ArrayBuffer).transfer());
  dev.dispose();
  assert.strictEqual(t.disposed, true);
  using dev2 = openTestDevice();
  const others = Array.from({ length: 8 }, () => dev2.tensor(new Float32Array(4).fill(-7)));
  assert.deepStrictEqual([...moved], [3, 1, 4, 1]);
  for (const o of others) o.dispose();
});
