// The rewriter's static_tg_bytes: per-kernel threadgroup byte counts the C++ compiler computes from the
// declarations (tests/fixtures/rewrite/tg_bytes.metal), in the rewritten text and read back from a
// compiled module through the public API.
import assert from "node:assert";
import { test } from "./harness.ts";
import { rewriteMetal } from "../lib/cpu/rewrite.ts";
import { compileModule } from "../lib/build/build.ts";
import { envMode } from "../lib/build/stamp.ts";
import { Device } from "../lib/api/device.ts";
import { loadNative } from "../lib/ffi/native.ts";
import { compile, haveShim, mapped, read, rewriteFixture } from "./util/rewrite.ts";

// The static_tg_bytes fixture compiled through the public API; its quoted include resolves next to it.
const TG_NAME = "tests/fixtures/rewrite/tg_bytes.metal";
// Warm the module cache (and the native build) outside the per-test timeout; a failure shows up in the test.
try {
  loadNative();
  compileModule(read("tg_bytes.metal"), { name: TG_NAME, mode: envMode() });
} catch {
  // reported by the test that compiles it
}

// Byte counts of tests/fixtures/rewrite/tg_bytes.metal (see its comments); 0 where the size is unknown.
const TG_BYTES: [string, number][] = [
  ["plain", 2 * 64 * 4 + 16 * 4],
  ["plain_u32", 3 * 5 * 2],
  ["none", 0],
  ["local_size", 0],
  ["staged_f32_4", 2 * 4 * 16 * 4 + 4 * 4 + 4],
  ["staged_h16_2", 2 * 2 * 16 * 2 + 4 * 4 + 4],
  ["fill_f32", 0],
];

test("rewrite: static_tg_bytes names a compiler-computed constant per kernel; unknown sizes say why", () => {
  const r = rewriteFixture("tg_bytes.metal");
  const row = (k: string) => r.cpp.split("\n").find((l) => l.startsWith(`  {"${k}", `)) ?? "";
  const field = (k: string) => /(?:mm_args_\w+|nullptr), \d+u, (.+), \d+u, mm_entry_/.exec(row(k))?.[1];
  assert.strictEqual(field("plain"), "::mm_tg_bytes_plain");
  assert.strictEqual(field("plain_u32"), "::mm_tg_bytes_plain_2"); // an overload gets its own name
  assert.strictEqual(field("none"), "0u");
  assert.strictEqual(field("staged_f32_4"), "::tgb::mm_tg_bytes_staged<float, 4u>::value");
  assert.strictEqual(field("staged_h16_2"), "::tgb::mm_tg_bytes_staged<half, 2u>::value");
  assert.match(row("local_size"), /, 0u \/\* static_tg_bytes unknown: .*local to local_size \(n\) \*\/, /);
  assert.match(row("fill_f32"), /, 0u \/\* static_tg_bytes unknown: template arguments of fill are deduced/);
  // The declarations sit on the line of the closing brace: line mapping is unchanged.
  const h = r.headers.get("tg_bytes_impl.h")!;
  const decl = mapped(h).find((l) => l.text.includes("struct mm_tg_bytes_staged"));
  assert.deepStrictEqual(decl, {
    file: "tg_bytes_impl.h",
    line: 21,
    text: "} template <typename T, uint N> struct mm_tg_bytes_staged { static constexpr ::uint32_t value = " +
      "::uint32_t(sizeof(T[2][N * TGB_COLS]) + sizeof(uint[TGB_ROWS]) + sizeof(uint)); };",
  });
  assert.ok(!r.cpp.includes("mm_tg_bytes_local_size"), "no declaration that would not compile");
  // With an explicit specialization the template's count may not apply: 0 with a comment, none emitted for it.
  const spec = rewriteMetal(
    "template <typename T> [[kernel]] void f(device T* x [[buffer(0)]]) { threadgroup T a[4]; }\n" +
      "template <> [[kernel]] void f<int>(device int* x [[buffer(0)]]) { threadgroup int b[8]; }\n" +
      'template [[host_name("f_float")]] [[kernel]] void f<float>(device float* x [[buffer(0)]]);\n',
    { fileName: "s.metal" },
  ).cpp;
  assert.match(spec, /"f_float", .*, 0u \/\* static_tg_bytes unknown: f has 2 template definitions or/);
  assert.ok(!spec.includes("template <> struct"), spec);
  if (haveShim) {
    const res = compile(r, "tg_bytes");
    assert.strictEqual(res.status, 0, `tg_bytes.metal does not compile:\n${res.stderr}`);
  }
});

test("rewrite: staticThreadgroupBytes read back from a compiled module (plain, overload, template kernels)", () => {
  using dev = Device.open({ backend: "cpu" });
  const lib = dev.compile(read("tg_bytes.metal"), { name: TG_NAME });
  const got = TG_BYTES.map(([k]): [string, number] => [k, lib.kernel(k).info.staticThreadgroupBytes]);
  assert.deepStrictEqual(got, TG_BYTES);
});
