// Helpers of the rewriter tests (rewrite.test.ts, rewrite_tg_bytes.test.ts): the fixtures of
// tests/fixtures/rewrite, the #line mapping of rewritten output, and a g++ syntax check against the shim.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rewriteMetal, type RewriteResult } from "../../lib/cpu/rewrite.ts";

const root = new URL("../..", import.meta.url).pathname;
const fixtures = join(root, "tests/fixtures/rewrite");
/** Text of a tests/fixtures/rewrite file. */
export const read = (name: string): string => readFileSync(join(fixtures, name), "utf8");
/** Quoted includes resolve next to the fixtures. */
export const resolveInclude = (name: string): string | undefined =>
  existsSync(join(fixtures, name)) ? read(name) : undefined;
/** Rewrites a fixture by name. */
export const rewriteFixture = (name: string, slotBase?: number): RewriteResult =>
  rewriteMetal(read(name), { fileName: name, resolveInclude, slotBase });

// Output lines with the (file, line) each maps to under the #line directives.
export function mapped(cpp: string): { file: string; line: number; text: string }[] {
  const out: { file: string; line: number; text: string }[] = [];
  let file = "?", line = 1;
  for (const text of cpp.split("\n")) {
    const m = /^#line (\d+) "([^"]*)"/.exec(text);
    if (m) {
      line = Number(m[1]);
      file = m[2];
      continue;
    }
    out.push({ file, line, text });
    line++;
  }
  return out;
}

const shimDir = join(root, "csrc/cpu/shim");
/** The shim exists (it does in every checkout since issue #2; kept as a guard). */
export const haveShim = existsSync(join(shimDir, "mm_shim.h"));

// Writes the .cpp and its headers to a temp dir and runs g++ -fsyntax-only; returns status and stderr.
export function compile(r: RewriteResult, name: string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "mm-rewrite-"));
  try {
    writeFileSync(join(dir, `${name}.cpp`), r.cpp);
    for (const [h, text] of r.headers) writeFileSync(join(dir, h), text);
    const p = spawnSync("g++", [
      "-std=c++20",
      "-fsyntax-only",
      "-Wno-attributes",
      `-I${shimDir}`,
      `-I${join(root, "csrc/cpu")}`,
      `-I${join(root, "csrc/include")}`,
      join(dir, `${name}.cpp`),
    ], { encoding: "utf8" });
    return { status: p.status, stderr: p.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
