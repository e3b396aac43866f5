// Leaks: many alloc/free cycles leave the device's native byte and buffer counts at their baseline.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice } from "./util/backend.ts";
import type { DType } from "../lib/runtime/dtype.ts";
import { loadNative } from "../lib/ffi/native.ts";

loadNative();

test("leak: 200 tensor alloc/free cycles return to baseline", () => {
  using dev = openTestDevice();
  const keep = dev.tensor(new Float32Array(100)); // a live tensor that must stay counted
  const base = dev.info;
  const dtypes: DType[] = ["f16", "f32", "i32", "u32", "u16", "u8"];
  for (let i = 0; i < 200; i++) {
    const t = i % 2 === 0
      ? dev.empty([1 + (i * 37) % 4096], dtypes[i % dtypes.length])
      : dev.tensor(new Uint8Array(i + 1));
    t.data[0] = 1;
    t.dispose();
  }
  const after = dev.info;
  assert.strictEqual(after.allocated_bytes, base.allocated_bytes);
  assert.strictEqual(after.live_buffers, base.live_buffers);
  assert.strictEqual(after.live_buffers, 1);
  assert.ok(after.allocated_bytes >= 400, `the kept tensor's bytes are counted (${after.allocated_bytes})`);
  keep.dispose();
  assert.strictEqual(dev.info.live_buffers, 0);
  assert.strictEqual(dev.info.allocated_bytes, 0);
});

test("leak: counts grow while tensors are live and drop when they are freed", () => {
  using dev = openTestDevice();
  const ts = Array.from({ length: 10 }, () => dev.empty([256], "f32"));
  assert.strictEqual(dev.info.live_buffers, 10);
  assert.ok(dev.info.allocated_bytes >= 10 * 1024);
  for (const t of ts) t.dispose();
  assert.strictEqual(dev.info.live_buffers, 0);
  assert.strictEqual(dev.info.allocated_bytes, 0);
});

test("leak: 50 device open/close cycles with live tensors do not fail or leak handles", () => {
  for (let i = 0; i < 50; i++) {
    const dev = openTestDevice();
    dev.tensor(new Float32Array(1024));
    dev.empty([64], "u8");
    dev.dispose(); // closes both tensors
  }
  using dev = openTestDevice();
  assert.strictEqual(dev.info.live_buffers, 0);
});
