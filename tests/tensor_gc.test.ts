// Native bytes and the garbage collector. Each tensor's memory is exposed as an external ArrayBuffer
// (tensor.data), whose size both JSC (Bun) and V8 (Deno) count in their GC heuristics: undisposed
// tensors dropped across awaits are collected under that pressure and their FinalizationRegistry
// backstop frees the device buffers. Within one synchronous job nothing can be reclaimed (finalizers
// run as later tasks; README "Tensors" says to dispose or use dev.scope there).
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { openTestDevice } from "./gemm_helpers.ts";

test("gc: 200 dropped 4 MiB tensors allocated across awaits never hold more than 60 % of their 800 MiB", async () => {
  using dev = openTestDevice();
  const base = dev.info.allocated_bytes;
  const count = 200, bytes = 4 << 20;
  let peak = 0;
  for (let i = 0; i < count; i++) {
    (() => {
      const t = dev.empty([bytes / 4], "f32"); // never disposed
      t.data[0] = i;
    })();
    // A task boundary lets the finalizers of collected tensors run.
    if (i % 5 === 4) await new Promise((r) => setTimeout(r, 0));
    peak = Math.max(peak, dev.info.allocated_bytes - base);
  }
  assert.ok(peak >= 4 * bytes, `peak ${peak / 2 ** 20} MiB: the loop did allocate`);
  assert.ok(
    peak <= 0.6 * count * bytes,
    `peak ${peak / 2 ** 20} MiB of ${(count * bytes) / 2 ** 20} MiB: the GC did not see the native bytes`,
  );
});
