// Printing a tensor: toString() and the inspect hooks of Bun/Node and Deno show dtype, shape and a few
// values (waiting for the device first), and say when the tensor was disposed.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice } from "./util/backend.ts";

test("tensor: toString and the Bun/Node and Deno inspect hooks show dtype, shape and a few values", () => {
  using dev = openTestDevice();
  const t = dev.tensor(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), [2, 4]);
  assert.strictEqual(String(t), "Tensor(f32 [2, 4]) [1, 2, 3, ..., 7, 8]");
  const h = t as unknown as Record<symbol, () => string>;
  assert.strictEqual(h[Symbol.for("nodejs.util.inspect.custom")](), String(t));
  assert.strictEqual(h[Symbol.for("Deno.customInspect")](), String(t));
  assert.strictEqual(`${dev.tensor(new Float16Array([0.5, -1]))}`, "Tensor(f16 [2]) [0.5, -1]");
  t.dispose();
  assert.strictEqual(String(t), "Tensor(f32 [2, 4], disposed)");
});
