// Tests of the MSL -> C++ rewriter (lib/cpu/rewrite.ts): kernel reflection, every rewrite rule, line
// mapping, untouched comments/strings, errors with positions, and (when the shim exists) a g++ compile.
// static_tg_bytes has its own file (rewrite_tg_bytes.test.ts); shared helpers are in util/rewrite.ts.

import assert from "node:assert";
import { test } from "./harness.ts";
import { builtinModuleSymbol, RewriteError, rewriteMetal } from "../lib/cpu/rewrite.ts";
import { tokenize } from "../lib/cpu/rewrite_tokens.ts";
import { compile, haveShim, mapped, read, rewriteFixture } from "./util/rewrite.ts";

// Asserts that `fn` throws a RewriteError at file:line (and returns it for message checks).
function throwsAt(fn: () => unknown, file: string, line: number): RewriteError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof RewriteError, `expected RewriteError, got ${e}`);
    assert.strictEqual(e.line, line, e.message);
    assert.strictEqual(e.file, file);
    assert.ok(e.message.startsWith(`${file}:${line}:${e.column}: `), e.message);
    return e;
  }
  assert.fail("expected a RewriteError");
}

test("rewrite: reflection of a plain kernel (buffers sorted, kinds, access, byRef, attributes)", () => {
  const r = rewriteFixture("basic.metal");
  assert.strictEqual(r.kernels.length, 1);
  const k = r.kernels[0];
  assert.strictEqual(k.hostName, "scale_add");
  assert.strictEqual(k.functionName, "scale_add");
  assert.strictEqual(k.line, 16);
  assert.strictEqual(k.maxThreadsPerThreadgroup, 256);
  assert.deepStrictEqual(k.buffers, [
    { index: 0, kind: "device", access: "read", typeName: "float", argName: "a", line: 16, byRef: false },
    { index: 1, kind: "constant", access: "read", typeName: "Params", argName: "p", line: 18, byRef: true },
    {
      index: 2,
      kind: "device",
      access: "read_write",
      typeName: "float4",
      argName: "out",
      line: 17,
      byRef: false,
    },
    { index: 3, kind: "constant", access: "read", typeName: "half", argName: "lut", line: 19, byRef: false },
    {
      index: 4,
      kind: "device",
      access: "read_write",
      typeName: "atomic_uint",
      argName: "counter",
      line: 20,
      byRef: false,
    },
  ]);
  assert.deepStrictEqual(k.threadgroupArgs, [{ index: 1, typeName: "float", argName: "scratch" }]);
  assert.deepStrictEqual(k.attributes, [
    { attr: "thread_position_in_grid", typeName: "uint3", argName: "gid" },
    { attr: "threadgroup_position_in_grid", typeName: "ushort2", argName: "tg" },
    { attr: "thread_index_in_threadgroup", typeName: "uint", argName: "lid" },
    { attr: "thread_index_in_simdgroup", typeName: "ushort", argName: "lane" },
    { attr: "threads_per_threadgroup", typeName: "uint3", argName: "tpt" }, // dispatch_ alias
  ]);
});

test("rewrite: template instantiations in any attribute order, kernel in a namespace, header kernels", () => {
  const r = rewriteFixture("templates.metal");
  assert.deepStrictEqual(r.kernels.map((k) => [k.hostName, k.functionName, k.line]), [
    ["in_namespace", "detail::in_namespace", 6],
    ["gemm_f16_64x32", "gemm<half, 64, 32>", 13],
    ["gemm_f32_32x32", "gemm<float, 32, 32>", 16],
    ["gemm_f32_16x8", "gemm<float, 16, (8 > 4 ? 8 : 4)>", 19],
  ]);
  const g = r.kernels[1];
  assert.deepStrictEqual(g.buffers.map((b) => [b.index, b.typeName, b.access, b.line]), [
    [0, "half", "read", 14],
    [1, "half", "read_write", 14],
  ]);
  assert.deepStrictEqual(g.attributes.map((a) => a.attr), [
    "threadgroup_position_in_grid",
    "thread_index_in_threadgroup",
  ]);
  // The header is rewritten with its own mapping; its template kernel has no entry of its own.
  const h = r.headers.get("gemm_impl.h");
  assert.ok(h !== undefined);
  assert.ok(h.startsWith('#line 1 "gemm_impl.h"\n'));
  assert.ok(h.includes("auto& tile = ::mm_shim::tg_array<T[TM][TN + 1]>(0u);"), h);
  assert.ok(!/\[\[|\bkernel\b|\bthreadgroup T\b/.test(h.replace(/^\/\/.*$/gm, "")), h);
  // Slots continue across the header (0) into the main file (1).
  assert.ok(r.cpp.includes("auto& local_sum = ::mm_shim::tg_array<uint>(1u);"));
  assert.ok(r.cpp.includes("  detail::in_namespace(\n"));
  assert.ok(r.cpp.includes("  gemm<half, 64, 32>(\n    (device const half*)mm_lane->buffers[0],"));
});

test("rewrite: kernel keyword and MSL attributes removed, standard attributes and kernel_width kept", () => {
  const r = rewriteFixture("basic.metal");
  // Code only: comment lines and literals (the char '"' first, so it cannot pair with a string quote) removed.
  const code = r.cpp.split("\n").filter((l) => !/^\s*(\/\/|\/\*|threadgroup half tt)/.test(l)).join("\n")
    .replace(/'"'/g, "").replace(/"[^"\n]*"/g, '""');
  assert.ok(!/\bkernel void\b/.test(code));
  assert.ok(code.includes("[[maybe_unused]] int unused = 0;"));
  assert.ok(code.includes("float kernel_width = 1.0f;"));
  assert.ok(code.includes(" void scale_add(device const float* a ,"));
  const attrs = code.match(/\[\[[^\]]*\]\]/g) ?? [];
  assert.deepStrictEqual(attrs, ["[[maybe_unused]]"]);
  assert.ok(r.cpp.includes('#include "mm_shim.h"') && !r.cpp.includes("<metal_stdlib>"));
  // A mixed list keeps only its standard part.
  const mixed = rewriteMetal('[[maybe_unused, host_name("x")]] static int v = 0;\n', { fileName: "m.metal" });
  assert.ok(mixed.cpp.includes("[[maybe_unused]] static int v = 0;"), mixed.cpp);
});

test("rewrite: half literals become ((half)xf); hex, identifiers, strings and comments untouched", () => {
  const src =
    'half a = 1.5h + 2h + .5H + 1e-3h + 1.h; // 3h\nuint b = 0xAh1 + x1h + h2; const char* s = "4h";\n';
  const out = rewriteMetal(src, { fileName: "h.metal" }).cpp.split("\n");
  assert.strictEqual(
    out[1],
    "half a = ((half)1.5f) + ((half)2.0f) + ((half).5f) + ((half)1e-3f) + ((half)1.f); // 3h",
  );
  assert.strictEqual(out[2], 'uint b = 0xAh1 + x1h + h2; const char* s = "4h";');
  const def = rewriteMetal("#define EPS 1e-5h\n", { fileName: "d.metal" }).cpp;
  assert.ok(def.includes("#define EPS ((half)1e-5f)"), def);
});

test("rewrite: threadgroup locals become tg_array slots; pointers left alone; slotBase honoured", () => {
  const lines = rewriteFixture("basic.metal", 10).cpp.split("\n");
  const expect = [
    "  auto& tile = ::mm_shim::tg_array<float[64][33]>(10u);",
    "  auto& first = ::mm_shim::tg_array<half[4]>(11u); auto& second = ::mm_shim::tg_array<half[2][8]>(12u);",
    "  auto& flag = ::mm_shim::tg_array<uint>(13u);",
    "  threadgroup float* view = &tile[0][0];",
    "  auto& sized = ::mm_shim::tg_array<float[4 * 8]>(14u);",
  ];
  const at = lines.indexOf(expect[0]);
  assert.ok(at > 0, lines.join("\n"));
  assert.deepStrictEqual(lines.slice(at, at + expect.length), expect);
  // Declared in a helper's body too, but never outside a function (file scope stays for the compiler).
  const helper =
    rewriteMetal("void f() {\n  if (true) {\n    threadgroup int q[2];\n  }\n}\n", { fileName: "f.metal" })
      .cpp;
  assert.ok(helper.includes("    auto& q = ::mm_shim::tg_array<int[2]>(0u);"), helper);
});

test("rewrite: function constants become #defines on their own line with #line resync", () => {
  const r = rewriteFixture("function_constants.metal");
  const m = mapped(r.cpp);
  const def = (name: string) => m.find((l) => l.text.startsWith(`#define ${name} `));
  assert.deepStrictEqual(def("has_bias"), {
    file: "function_constants.metal",
    line: 4,
    text: "#define has_bias (::mm_shim::function_constant<bool>(3))",
  });
  assert.strictEqual(def("group_size")?.text, "#define group_size (::mm_shim::function_constant<uint>(0))");
  assert.strictEqual(def("group_size")?.line, 5);
  assert.strictEqual(
    def("has_bias_defined")?.text,
    "#define has_bias_defined ((bool)(is_function_constant_defined(has_bias)))",
  );
  // A plain constant is not a function constant and stays a declaration.
  assert.ok(m.some((l) => l.line === 8 && l.text === "constant float plain_scale = ((half)0.5f);"));
  assert.ok(m.some((l) => l.line === 4 && l.text.includes("// a trailing comment")));
  assert.ok(m.some((l) => l.line === 13 && l.text.includes("if (has_bias && has_bias_defined)")));
});

test("rewrite: every identifier of a source line lands on an output line mapped to that line", () => {
  for (const name of ["basic.metal", "templates.metal", "function_constants.metal", "gemm_impl.h"]) {
    const r = rewriteFixture(name === "gemm_impl.h" ? "templates.metal" : name);
    const cpp = name === "gemm_impl.h" ? r.headers.get(name)! : r.cpp;
    const m = mapped(cpp).filter((l) => l.file === name);
    const src = read(name);
    let checked = 0;
    let inAttr = 0;
    const toks = tokenize(src, name);
    toks.forEach((t, i) => {
      if (t.text === "[" && toks[i + 1]?.text === "[") inAttr = 2;
      if (inAttr > 0 && t.text === "]") inAttr--;
      if (t.kind !== "ident" || inAttr > 0 || /^(kernel|threadgroup|constant)$/.test(t.text)) return;
      const hit = m.some((l) => l.line === t.line && new RegExp(`\\b${t.text}\\b`).test(l.text));
      assert.ok(hit, `${name}:${t.line}: '${t.text}' is not on an output line mapped to ${t.line}`);
      checked++;
    });
    assert.ok(checked > 20, `${name}: only ${checked} identifiers checked`);
  }
});

test("rewrite: comments and string literals are copied verbatim", () => {
  const cpp = rewriteFixture("basic.metal").cpp;
  assert.ok(
    cpp.includes("// kernel void not_a_kernel(device float* x [[buffer(9)]]); 1.5h threadgroup float t[4];"),
  );
  assert.ok(cpp.includes("/* block comment: [[kernel]] void fake() {} 2h\n   threadgroup half tt[8]; */"));
  assert.ok(cpp.includes('const char* msg = "kernel [[buffer(0)]] 1.5h";'));
  assert.ok(cpp.includes("const char quote = '\"';"));
});

test("rewrite: generated tail has entries, sorted reflection, module and the chosen symbol", () => {
  const r = rewriteMetal(read("basic.metal"), {
    fileName: "shaders/basic-1.metal",
    moduleSymbol: builtinModuleSymbol("shaders/basic-1.metal"),
  });
  const cpp = r.cpp;
  assert.strictEqual(builtinModuleSymbol("shaders/basic-1.metal"), "mm_rt_builtin_basic_1");
  assert.ok(
    cpp.includes(
      '#line 16 "shaders/basic-1.metal"\nstatic void mm_entry_scale_add(mm_rt_lane* mm_lane) {\n  ::mm_shim::enter(mm_lane);',
    ),
  );
  for (
    const arg of [
      "(device const float*)mm_lane->buffers[0],",
      "(device float4*)mm_lane->buffers[2],",
      "*(constant Params*)mm_lane->buffers[1],",
      "(threadgroup float*)mm_lane->threadgroup_args[1],",
      "::mm_shim::attr<uint3>(mm_lane->thread_position_in_grid),",
      "::mm_shim::attr<ushort>(mm_lane->thread_index_in_simdgroup),",
      "::mm_shim::attr<uint3>(mm_lane->threads_per_threadgroup)\n",
    ]
  ) assert.ok(cpp.includes(`    ${arg}`), arg);
  const idx = [...cpp.matchAll(/^ {2}\{(\d+)u, MM_ARG_/gm)].map((x) => Number(x[1]));
  assert.deepStrictEqual(idx, [0, 1, 2, 3, 4]);
  assert.ok(
    cpp.includes(
      '{1u, MM_ARG_CONSTANT, MM_ACCESS_READ, ::mm_shim::dtype_of<Params>(), (uint32_t)sizeof(Params), 18u, "Params", "p"},',
    ),
  );
  assert.ok(
    cpp.includes("{2u, MM_ARG_DEVICE, MM_ACCESS_READ | MM_ACCESS_WRITE, ::mm_shim::dtype_of<float4>()"),
  );
  assert.ok(
    cpp.includes(
      '{"scale_add", "shaders/basic-1.metal", 16u, 5u, mm_args_scale_add, 2u, ::mm_tg_bytes_scale_add, 256u, mm_entry_scale_add},',
    ),
  );
  assert.ok(
    cpp.includes(
      'static const mm_rt_module mm_module = {MM_RT_ABI_VERSION, "shaders/basic-1.metal", 1u, mm_kernels, ::mm_shim::init};',
    ),
  );
  assert.ok(cpp.includes("const mm_rt_module* mm_rt_builtin_basic_1(void) { return &mm_module; }"));
  assert.ok(rewriteFixture("templates.metal").cpp.includes("mm_rt_module_get(void)"));
});

test("rewrite: a function constant index past the 16 slots is an error at its line", () => {
  const src = "#include <metal_stdlib>\nusing namespace metal;\nconstant bool f [[function_constant(16)]];\n";
  const e = throwsAt(() => rewriteMetal(src, { fileName: "fc.metal" }), "fc.metal", 3);
  assert.match(e.message, /indices go from 0 to 15/);
});

test("rewrite: errors name file, line and column", () => {
  const k = (params: string, body = "") =>
    `#include <metal_stdlib>\nusing namespace metal;\n\nkernel void k(\n  ${params}) {\n${body}}\n`;
  let e = throwsAt(
    () => rewriteMetal(k("device float* a [[buffer(0)]],\n  uint i [[stage_in]]"), { fileName: "e.metal" }),
    "e.metal",
    6,
  );
  assert.match(e.message, /unknown kernel parameter attribute \[\[stage_in\]\] on 'i'/);
  e = throwsAt(
    () => rewriteMetal(k("device float* a [[buffer(0)]],\n\n  uint i"), { fileName: "e.metal" }),
    "e.metal",
    7,
  );
  assert.match(e.message, /'i' has no attribute/);
  e = throwsAt(
    () =>
      rewriteMetal(k("device float* a [[buffer(0)]]", "  threadgroup float t[4] = {0};\n"), {
        fileName: "e.metal",
      }),
    "e.metal",
    6,
  );
  assert.match(e.message, /initializer/);
  throwsAt(
    () =>
      rewriteMetal(k("device float* a [[buffer(0)]], device float* b [[buffer(0)]]"), {
        fileName: "e.metal",
      }),
    "e.metal",
    5,
  );
  throwsAt(() => rewriteMetal(k("float* a [[buffer(0)]]"), { fileName: "e.metal" }), "e.metal", 5);
  const dup = "kernel void a(device float* x [[buffer(0)]]) {}\n" +
    'template [[host_name("a")]] [[kernel]] void g<float>(device float* x [[buffer(0)]]);\n';
  e = throwsAt(() => rewriteMetal(dup, { fileName: "d.metal" }), "d.metal", 2);
  assert.match(e.message, /kernel name 'a' is already used at d\.metal:1/);
  throwsAt(
    () =>
      rewriteMetal("template [[kernel]] void g<float>(device float* x [[buffer(0)]]);\n", {
        fileName: "n.metal",
      }),
    "n.metal",
    1,
  );
  throwsAt(() => rewriteMetal("int a;\n/* never closed\n", { fileName: "c.metal" }), "c.metal", 2);
  // Errors inside a header name the header.
  throwsAt(
    () =>
      rewriteMetal('#include "h.h"\n', {
        fileName: "m.metal",
        resolveInclude: () => "\nkernel void k(uint i) {}\n",
      }),
    "h.h",
    2,
  );
});

test("rewrite: rewritten fixtures compile with g++ against the shim", () => {
  if (!haveShim) {
    console.log("SKIPPED: csrc/cpu/shim/mm_shim.h does not exist yet; compile check not run");
    return;
  }
  for (const name of ["basic.metal", "templates.metal", "function_constants.metal"]) {
    const res = compile(rewriteFixture(name), name);
    assert.strictEqual(res.status, 0, `${name} does not compile:\n${res.stderr}`);
  }
});

test("rewrite: a compile error in a rewritten shader points at the .metal line", () => {
  if (!haveShim) {
    console.log("SKIPPED: csrc/cpu/shim/mm_shim.h does not exist yet; planted compile error not checked");
    return;
  }
  const src = read("function_constants.metal").replace("out[i] = v;", "out[i] = v + planted_undeclared;");
  const line = src.split("\n").findIndex((l) => l.includes("planted_undeclared")) + 1;
  const res = compile(rewriteMetal(src, { fileName: "planted.metal" }), "planted");
  assert.notStrictEqual(res.status, 0);
  assert.match(
    res.stderr,
    new RegExp(`planted\\.metal:${line}:\\d+: error: .*planted_undeclared`),
    res.stderr,
  );
});

test("rewrite: prototypes and template definitions are not entries; host_name renames a plain kernel", () => {
  const src = "kernel void proto(device float* x [[buffer(0)]]);\n" +
    "template <typename T> kernel void tmpl(device T* x [[buffer(0)]]) {}\n" +
    '[[host_name("renamed")]] kernel void plain(device float* x [[buffer(0)]]) {}\n';
  const r = rewriteMetal(src, { fileName: "p.metal" });
  assert.deepStrictEqual(r.kernels.map((k) => [k.hostName, k.functionName, k.line]), [[
    "renamed",
    "plain",
    3,
  ]]);
  assert.ok(r.cpp.includes("static void mm_entry_renamed(mm_rt_lane* mm_lane)"));
  assert.ok(r.cpp.includes(" void proto(device float* x );\n"));
  // No kernels: the module still exports its getter, with an empty table.
  const none = rewriteMetal("inline int f() { return 1; }\n", { fileName: "none.metal" }).cpp;
  assert.ok(none.includes('{MM_RT_ABI_VERSION, "none.metal", 0u, nullptr, ::mm_shim::init};'), none);
});

test("rewrite: statements removed across several lines keep the following lines aligned", () => {
  const src = "constant bool\n  flag [[function_constant(1)]];\nint after_fc;\n" +
    "kernel void k(device float* x [[\n  buffer(0)\n]], uint i [[thread_position_in_grid]]) {\n" +
    "  threadgroup float\n    tile[4];\n  x[i] = tile[0]; // after_tg\n}\n";
  const m = mapped(rewriteMetal(src, { fileName: "ml.metal" }).cpp).filter((l) => l.file === "ml.metal");
  const lineOf = (needle: string) => m.find((l) => l.text.includes(needle))?.line;
  assert.strictEqual(lineOf("int after_fc;"), 3);
  assert.strictEqual(lineOf("uint i"), 6);
  assert.strictEqual(lineOf("auto& tile"), 7);
  assert.strictEqual(lineOf("// after_tg"), 9);
  assert.strictEqual(lineOf("#define flag"), 1);
});
