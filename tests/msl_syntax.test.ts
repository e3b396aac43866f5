// MSL syntax-only pass (lib/build/msl_syntax.ts, scripts/check-msl.ts): planted address-space mixes in
// tests/fixtures/msl/ are reported at their .metal lines, the clean fixture and every shipped shader
// compile. Needs clang >= 15 (skipped without it unless MM_REQUIRE_ASAN=1, as CI sets).
import assert from "node:assert";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { checkMsl, findMslCompiler, parseClangDiagnostics } from "../lib/build/msl_syntax.ts";
import { ROOT } from "../lib/build/stamp.ts";

const { cxx, reason } = findMslCompiler();
const skip = cxx || process.env.MM_REQUIRE_ASAN === "1"
  ? undefined
  : `no clang++ for the syntax pass: ${reason}`;
const fx = (name: string) => `tests/fixtures/msl/${name}`;
const lines = async (name: string) =>
  (await checkMsl([fx(name)]))[0].errors.map((d) => `${d.file}:${d.line}`);

test("msl: device pointer passed to a threadgroup parameter is an error at its line", async () => {
  const [r] = await checkMsl([fx("device_to_threadgroup_param.metal")]);
  assert.deepStrictEqual(r.errors.map((d) => d.line), [13]);
  assert.match(r.errors[0].notes.join("\n"), /address space '1' as a pointer to address space '3'/);
}, { skip });

test("msl: threadgroup memory stored into device pointer variables is an error at both lines", async () => {
  const f = fx("threadgroup_into_device_var.metal");
  assert.deepStrictEqual(await lines("threadgroup_into_device_var.metal"), [`${f}:10`, `${f}:12`]);
}, { skip });

test("msl: device pointer into a thread pointer and constant into device parameter are errors", async () => {
  const f = fx("device_into_thread_ptr.metal");
  assert.deepStrictEqual(await lines("device_into_thread_ptr.metal"), [`${f}:12`, `${f}:14`]);
}, { skip });

test("msl: clean fixture (every address space used legally) has no errors", async () => {
  const [r] = await checkMsl([fx("clean.metal")]);
  assert.deepStrictEqual(r.errors, []);
  // The one vector store into device memory is a C++ limit of the pass, reported as unchecked.
  assert.deepStrictEqual(r.unchecked.map((d) => d.line), [57]);
}, { skip });

test("msl: every shipped shader passes the syntax-only pass", async () => {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${dir}/${e.name}`);
      else if (e.name.endsWith(".metal")) files.push(`${dir}/${e.name}`);
    }
  };
  walk("shaders");
  assert.ok(files.includes("shaders/gemm.metal"));
  const results = await checkMsl(files);
  assert.deepStrictEqual(
    results.flatMap((r) => r.errors.map((d) => `${d.file}:${d.line}: ${d.message}`)),
    [],
  );
}, { skip });

test("msl: check-msl CLI exits 1 and prints file:line for a planted fixture, 0 for the clean one", () => {
  const bad = spawnSync(process.execPath, cliArgs(fx("device_to_threadgroup_param.metal")), {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.strictEqual(bad.status, 1, bad.stderr);
  assert.match(bad.stdout, /^tests\/fixtures\/msl\/device_to_threadgroup_param\.metal:13:\d+: error: /m);
  const good = spawnSync(process.execPath, cliArgs(fx("clean.metal")), { cwd: ROOT, encoding: "utf8" });
  assert.strictEqual(good.status, 0, good.stdout + good.stderr);
}, { skip });

test("msl: errors inside the shim are attributed to the shader line that instantiated them", () => {
  const stderr = [
    "csrc/cpu/shim/mm_simd.h:126:1: error: no matching function for call to 'collective'",
    "tests/fixtures/msl/clean.metal:42:8: note: in instantiation of function template specialization requested here",
    "csrc/cpu/shim/mm_simd.h:103:3: note: candidate function template not viable: cannot bind reference",
  ].join("\n");
  const r = parseClangDiagnostics(stderr, "tests/fixtures/msl/clean.metal");
  assert.deepStrictEqual(r.errors.map((d) => [d.file, d.line, d.column]), [[
    "tests/fixtures/msl/clean.metal",
    42,
    8,
  ]]);
});

// Bun runs .ts directly; Deno needs `run -A`.
function cliArgs(file: string): string[] {
  const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  return isDeno ? ["run", "-A", "scripts/check-msl.ts", file] : ["scripts/check-msl.ts", file];
}
