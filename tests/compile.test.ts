// dev.compile: user kernels from an inline MSL string run on the CPU shader runtime; zero-copy views
// see kernel writes; reflection; function constants; inline bytes; CompileError names the .metal line.
import assert from "node:assert";
import { test } from "./harness.ts";
import { compileModule } from "../lib/build/build.ts";
import { envMode } from "../lib/build/stamp.ts";
import { openTestDevice } from "./util/backend.ts";
import { CompileError, DisposedError } from "../lib/runtime/errors.ts";
import { loadNative } from "../lib/ffi/native.ts";
import { nativeOf, tensorBinding } from "../lib/runtime/internal.ts";

const SRC = `#include <metal_stdlib>
using namespace metal;

struct Params { uint n; float scale; };
constant bool negate [[function_constant(0)]];
constant float factor [[function_constant(1)]];

kernel void double_it(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  x[i] = x[i] * 2.0f;
}

kernel void scale_copy(device const float* src [[buffer(0)]], device float* dst [[buffer(1)]],
                       constant Params& p [[buffer(2)]], uint i [[thread_position_in_grid]]) {
  if (i < p.n) dst[i] = src[i] * p.scale;
}

kernel void fc_apply(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  float v = x[i] * float(factor);
  x[i] = negate ? -v : v;
}
`;

const CHANGED = "\n// changed\n";

// Warm the module cache outside the per-test timeout; a failure here shows up again in the tests.
loadNative();
try {
  compileModule(SRC, { name: "host_test.metal", mode: envMode() });
  compileModule(SRC + CHANGED, { name: "host_test.metal", mode: envMode() });
} catch {
  // reported by the first test that compiles SRC
}

function params(n: number, scale: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, n, true);
  v.setFloat32(4, scale, true);
  return b;
}

test("compile: a kernel doubles a buffer in place; the same zero-copy view sees the result", () => {
  using dev = openTestDevice();
  const lib = dev.compile(SRC, { name: "host_test.metal" });
  const t = dev.tensor(new Float32Array([1, 2, 3, 4]));
  const view = t.data;
  view[0] = 10; // written through the view, read by the kernel
  const { native } = nativeOf(dev);
  assert.strictEqual(
    native.addressOf(view),
    native.pointerValue(native.fns.mm_buffer_contents(tensorBinding(t).buffer)),
  );
  lib.kernel("double_it").dispatch({ grid: 1, threadgroupSize: 4, args: [t] });
  dev.synchronize();
  assert.deepStrictEqual(Array.from(view), [20, 4, 6, 8]);
  assert.strictEqual(t.data, view);
});

test("compile: library lists its kernels and caches by source", () => {
  using dev = openTestDevice();
  const lib = dev.compile(SRC, { name: "host_test.metal" });
  assert.deepStrictEqual([...lib.kernels].sort(), ["double_it", "fc_apply", "scale_copy"]);
  assert.strictEqual(dev.compile(SRC, { name: "host_test.metal" }), lib);
  assert.strictEqual(lib.kernel("double_it"), lib.kernel("double_it"));
});

test("compile: kernel reflection reports buffers, access, dtype, type and argument names", () => {
  using dev = openTestDevice();
  const k = dev.compile(SRC, { name: "host_test.metal" }).kernel("scale_copy");
  assert.strictEqual(k.info.name, "scale_copy");
  assert.match(k.info.file, /host_test\.metal/);
  assert.strictEqual(k.info.line, 12);
  const b = k.info.buffers.map((x) => [x.index, x.kind, x.access, x.dtype, x.typeName, x.argName]);
  assert.deepStrictEqual(b, [
    [0, "device", "read", "f32", "float", "src"],
    [1, "device", "read_write", "f32", "float", "dst"],
    [2, "constant", "read", "any", "Params", "p"],
  ]);
  assert.strictEqual(k.info.threadgroupArgs, 0);
  assert.strictEqual(k.info.maxThreadsPerThreadgroup, 1024);
});

test("compile: inline constant bytes and an element offset binding", () => {
  using dev = openTestDevice();
  const k = dev.compile(SRC, { name: "host_test.metal" }).kernel("scale_copy");
  const src = dev.tensor(new Float32Array([1, 2, 3, 4, 5, 6]));
  const dst = dev.empty([4], "f32");
  k.dispatch({ grid: 1, threadgroupSize: 4, args: [{ tensor: src, offset: 2 }, dst, params(4, 0.5)] });
  assert.deepStrictEqual(Array.from(dst.toArray()), [1.5, 2, 2.5, 3]);
});

test("compile: function constants reach the kernel (bool and float)", () => {
  using dev = openTestDevice();
  const k = dev.compile(SRC, { name: "host_test.metal" }).kernel("fc_apply");
  const t = dev.tensor(new Float32Array([1, 2]));
  k.dispatch({ grid: 1, threadgroupSize: 2, args: [t], constants: { 0: true, 1: 2.5 } });
  assert.deepStrictEqual(Array.from(t.toArray()), [-2.5, -5]);
  k.dispatch({ grid: 1, threadgroupSize: 2, args: [t], constants: { 0: false, 1: { f32: 2 } } });
  assert.deepStrictEqual(Array.from(t.toArray()), [-5, -10]);
});

test("compile: a planted syntax error gives CompileError naming the .metal line", () => {
  using dev = openTestDevice();
  const bad = `#include <metal_stdlib>
using namespace metal;
kernel void broken(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  x[i] = x[i] * ;
}
`;
  assert.throws(() => dev.compile(bad, { name: "broken.metal" }), (e: unknown) => {
    assert.ok(e instanceof CompileError, String(e));
    assert.strictEqual(e.line, 4, e.message);
    assert.match(e.message, /broken\.metal:4/);
    return true;
  });
});

test("compile: a rewriter error (parameter without attribute) is a CompileError with its line", () => {
  using dev = openTestDevice();
  const bad = `#include <metal_stdlib>
using namespace metal;

kernel void no_attr(device float* x, uint i [[thread_position_in_grid]]) {
  x[i] = 0;
}
`;
  assert.throws(() => dev.compile(bad, { name: "no_attr.metal" }), (e: unknown) => {
    assert.ok(e instanceof CompileError, String(e));
    assert.strictEqual(e.line, 4, e.message);
    return true;
  });
});

test("compile: a disposed library refuses kernels; the device recompiles on demand", () => {
  using dev = openTestDevice();
  const lib = dev.compile(SRC, { name: "host_test.metal" });
  lib.dispose();
  lib.dispose();
  assert.throws(() => lib.kernel("double_it"), DisposedError);
  const again = dev.compile(SRC, { name: "host_test.metal" });
  assert.notStrictEqual(again, lib);
  assert.ok(again.kernels.includes("double_it"));
});

test("compile: compileModule caches the shared object by source hash", () => {
  const a = compileModule(SRC, { name: "host_test.metal", mode: envMode() });
  const b = compileModule(SRC, { name: "host_test.metal", mode: envMode() });
  assert.strictEqual(a, b);
  assert.match(a, /modules[\\/][0-9a-f]{64}\.(so|dylib)$/);
  const c = compileModule(SRC + CHANGED, { name: "host_test.metal", mode: envMode() });
  assert.notStrictEqual(c, a);
});
