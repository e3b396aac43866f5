// Device: open/info/close, option validation, parent-closes-children, `using`. The first four tests are
// about the CPU backend and "auto" and open them by name; the rest run on the suite's backend.
import assert from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { ROOT } from "../lib/build/stamp.ts";
import { Device } from "../lib/api/device.ts";
import { DisposedError, InvalidArgumentError } from "../lib/runtime/errors.ts";
import { loadNative } from "../lib/ffi/native.ts";
import { openTestDevice } from "./util/backend.ts";

loadNative(); // builds the library if stale, outside any per-test timeout

test("device: open the CPU backend and read its info", () => {
  const dev = Device.open({ backend: "cpu" });
  try {
    assert.strictEqual(dev.backend, "cpu");
    const info = dev.info;
    assert.strictEqual(info.backend, "cpu");
    assert.match(info.name, /CPU/);
    assert.strictEqual(info.max_threads_per_threadgroup, 1024);
    assert.strictEqual(info.max_threadgroup_memory, 32768);
    assert.strictEqual(info.simd_width, 32);
    assert.ok(info.threads >= 1, `threads ${info.threads}`);
    assert.ok(info.max_buffer_length > 0);
    assert.strictEqual(info.allocated_bytes, 0);
    assert.strictEqual(info.live_buffers, 0);
  } finally {
    dev.dispose();
  }
});

test("device: threads option reaches the CPU runtime", () => {
  const dev = Device.open({ backend: "cpu", threads: 1 });
  assert.strictEqual(dev.info.threads, 1);
  dev.dispose();
});

test("device: auto picks the CPU runtime where Metal is absent", () => {
  const dev = Device.open();
  assert.strictEqual(dev.backend, "cpu");
  dev.dispose();
});

test("device: invalid backend or thread count throws InvalidArgumentError", () => {
  assert.throws(() => Device.open({ backend: "cuda" as "cpu" }), InvalidArgumentError);
  assert.throws(() => Device.open({ threads: -1 }), InvalidArgumentError);
  assert.throws(() => Device.open({ threads: 1.5 }), InvalidArgumentError);
});

test("device: dispose is idempotent and later use throws DisposedError", () => {
  const dev = openTestDevice();
  dev.dispose();
  dev.dispose();
  assert.strictEqual(dev.disposed, true);
  assert.throws(() => dev.info, DisposedError);
  assert.throws(() => dev.tensor(new Float32Array(1)), DisposedError);
  assert.throws(() => dev.empty([1], "f32"), DisposedError);
  assert.throws(() => dev.synchronize(), DisposedError);
});

test("device: dispose closes its tensors first (views detached, use throws)", () => {
  const dev = openTestDevice();
  const a = dev.tensor(new Float32Array([1, 2, 3]));
  const b = dev.empty([4, 4], "f16");
  const view = a.data;
  assert.strictEqual(view.length, 3);
  dev.dispose();
  assert.strictEqual(view.length, 0);
  assert.strictEqual(a.disposed, true);
  assert.strictEqual(b.disposed, true);
  assert.throws(() => a.toArray(), DisposedError);
  assert.throws(() => b.data, DisposedError);
  a.dispose(); // still a no-op
});

test("device: `using` disposes at the end of the block", () => {
  let outer: Device;
  {
    using dev = openTestDevice();
    outer = dev;
    assert.strictEqual(dev.disposed, false);
  }
  assert.strictEqual(outer.disposed, true);
});

test("device: synchronize with no work succeeds", () => {
  const dev = openTestDevice();
  dev.synchronize();
  dev.dispose();
});

test("device: builtin() lists the kernels of shaders/manifest.json modules and is cached", () => {
  using dev = openTestDevice();
  const lib = dev.builtin();
  assert.strictEqual(dev.builtin(), lib);
  const manifest = JSON.parse(readFileSync(join(ROOT, "shaders", "manifest.json"), "utf8")) as {
    builtin?: string[];
  };
  if ((manifest.builtin ?? []).length === 0) {
    assert.strictEqual(lib.kernels.length, 0);
    return;
  }
  assert.ok(lib.kernels.length > 0, "manifest lists shaders but the library has no kernels");
  const k = lib.kernel(lib.kernels[0]);
  assert.match(k.info.file, /\.(metal|h)$/); // a kernel may be defined in a shader header
  assert.ok(k.info.buffers.length > 0);
  lib.dispose(); // the built-in library belongs to the device: disposing the wrapper frees nothing
  assert.ok(dev.builtin().kernels.length === lib.kernels.length);
});
