// MSL lint: every planted violation under tests/fixtures/lint/ is caught with its rule and line, and
// the clean fixture (which mentions every construct in comments and strings) produces nothing.
import assert from "node:assert";
import { readFileSync } from "node:fs";
import { test } from "./harness.ts";
import { lintMsl } from "../lib/audit/msl_lint.ts";

const dir = new URL("./fixtures/lint/", import.meta.url);
const lintFixture = (file: string) => lintMsl(readFileSync(new URL(file, dir), "utf8"), file);
const found = (file: string) => lintFixture(file).map((f) => `${f.line}:${f.rule}`);

const planted: [string, string[]][] = [
  ["std_namespace.metal", ["5:std-namespace"]],
  ["recursion.metal", ["5:recursion"]],
  ["recursion_cycle.metal", ["7:recursion", "11:recursion"]],
  ["dynamic_alloc.metal", ["7:dynamic-allocation"]],
  ["function_pointer.metal", ["7:function-pointer"]],
  ["goto.metal", ["6:goto"]],
  ["pointer_param.metal", ["4:pointer-address-space"]],
  ["pointer_local.metal", ["6:pointer-address-space"]],
  ["vec3_buffer.metal", ["4:vec3-in-buffer"]],
  ["include.metal", ["2:include"]],
];

for (const [file, expected] of planted) {
  test(`lint: ${file} reports exactly ${expected.join(", ")}`, () => {
    assert.deepStrictEqual(found(file), expected);
  });
}

test("lint: clean fixture (constructs only in comments and strings) has no findings", () => {
  assert.deepStrictEqual(lintFixture("clean.metal"), []);
});

test("lint: findings carry the file name and a message", () => {
  const [f] = lintFixture("goto.metal");
  assert.strictEqual(f.file, "goto.metal");
  assert.match(f.message, /goto/);
});

test("lint: a 16-byte note on the same line silences vec3-in-buffer; packed_float3 needs none", () => {
  const src = "kernel void k(device float3* a [[buffer(0)]], // note: 16-byte elements\n" +
    "  device packed_float3* b [[buffer(1)]],\n  constant half3* c [[buffer(2)]]) {}\n";
  assert.deepStrictEqual(lintMsl(src, "x.metal").map((f) => `${f.line}:${f.rule}`), ["3:vec3-in-buffer"]);
});

test("lint: kernel reference parameter without address space is rejected", () => {
  const src = "struct P { uint n; };\nkernel void k(P& p [[buffer(0)]]) {}\n";
  assert.deepStrictEqual(lintMsl(src, "x.metal").map((f) => `${f.line}:${f.rule}`), [
    "2:pointer-address-space",
  ]);
});

test("lint: products inside calls are not pointer declarations", () => {
  const src = "kernel void k(device float* o [[buffer(0)]], uint i [[thread_position_in_grid]]) {\n" +
    "  float a = 2.0f; float b = 3.0f;\n  o[i] = max(a * b, 1.0f) + fma(a * b, a, b);\n}\n";
  assert.deepStrictEqual(lintMsl(src, "x.metal"), []);
});

test("lint: host-only code under #ifndef __METAL_VERSION__ is not MSL and is skipped", () => {
  const src =
    "#ifndef __METAL_VERSION__\n#include <stdint.h>\nstd::size_t n;\n#else\n#include <vector>\n#endif\n" +
    "#ifdef __METAL_VERSION__\n#include <metal_stdlib>\n#else\n#include <cstdio>\n#endif\n";
  assert.deepStrictEqual(lintMsl(src, "x.h").map((f) => `${f.line}:${f.rule}`), ["5:include"]);
});
