// What the MSL tools make of every shipped and proof kernel (shaders/**) and every test fixture
// (tests/fixtures/**) stays what it was: the CPU rewriter's output (sha256 of the .cpp, the rewritten
// headers and the kernel reflection, or the RewriteError message), the static access audit's report
// (sha256 of its JSON and summary, plus counts to read) and the lint's findings (as JSON). The golden,
// tests/fixtures/msl_golden.json, was captured from the code before the MSL front end was unified
// (issue #8), so this proves the new lexer changed no output. Regenerate only for a deliberate change of
// behaviour: MM_UPDATE_GOLDEN=1 bun test tests/msl_golden.test.ts, and review the diff.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { auditShaders } from "../lib/audit/memory.ts";
import { lintMsl } from "../lib/audit/msl_lint.ts";
import { resolveInclude } from "../lib/build/build.ts";
import { RewriteError, rewriteMetal } from "../lib/cpu/rewrite.ts";
import { test } from "./harness.ts";

interface Golden {
  /** Checkout-relative .metal file -> sha256 of the rewrite, or "error: <message>". */
  rewrite: Record<string, string>;
  /** Audit unit ("shaders/" as a whole, else one fixture file) -> digest and counts of the report. */
  audit: Record<string, { sha256: string; kernels: number; accesses: number; priority: string[] }>;
  /** .metal/.h file -> lint findings. */
  lint: Record<string, { line: number; rule: string; message: string }[]>;
}

const root = fileURLToPath(new URL("..", import.meta.url));
const goldenPath = new URL("./fixtures/msl_golden.json", import.meta.url);

function files(dir: string, re: RegExp, out: string[] = []): string[] {
  for (const name of readdirSync(join(root, dir)).sort()) {
    const rel = `${dir}/${name}`;
    if (statSync(join(root, rel)).isDirectory()) files(rel, re, out);
    else if (re.test(name)) out.push(rel);
  }
  return out;
}

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");
const read = (rel: string): string => SNIPPETS[rel] ?? readFileSync(join(root, rel), "utf8");
const metal = [...files("shaders", /\.metal$/), ...files("tests/fixtures", /\.metal$/)];

// Lexer edge cases the kernels above do not contain: broken literals, operators glued together, a comment
// before `#`, a block comment inside a directive, line splices. Each goes through all three tools too.
const KERNEL = "kernel void k(device float* a [[buffer(0)]], uint i [[thread_position_in_grid]])";
const SNIPPETS: Record<string, string> = {
  "snippet/operators.metal":
    `${KERNEL} {\n  int x = 1; x <<= 2; x >>= 1; x++; --x;\n  if (x --> 0 && x != 3 || x <= 4)` +
    ` a[i] += a[i * 2] - -x;\n  a[i ^ 1] = x == 2 ? 1.5h : .5h;\n}\n`,
  "snippet/literals.metal":
    `constant char c1 = '\\'';\nconstant char c2 = '"';\n${KERNEL} { a[i] = 0x1fu + 1e-3f + 2H; }\n`,
  "snippet/directives.metal":
    `/* c */ #define LATE 2\n#define TWO (2) /* two\n lines */\n#define SPLICE(x) \\\n  ((x) * 2)\n` +
    `${KERNEL} {\n  a[i * TWO] = SPLICE(1) + \\\n 1;\n}\n`,
  "snippet/unterminated_string.metal": `${KERNEL} {\n  const char* s = "abc;\n  a[i] = 1;\n}\n`,
  "snippet/unterminated_char.metal": `${KERNEL} { a[i] = 'x; }\n`,
  "snippet/unterminated_comment.metal": `${KERNEL} { a[i] = 1; } /* open\n`,
  "snippet/host_only.metal":
    `#ifndef __METAL_VERSION__\nint* host(int* p) { return p; }\n#else\n${KERNEL} { a[i] = 2; }\n#endif\n`,
};
const sources = [...files("shaders", /\.(metal|h)$/), ...files("tests/fixtures", /\.(metal|h)$/)];

function rewriteDigest(rel: string): string {
  try {
    const r = rewriteMetal(read(rel), { fileName: rel, resolveInclude });
    const headers = [...r.headers].sort(([a], [b]) => a.localeCompare(b));
    return sha(JSON.stringify([r.cpp, headers, r.kernels]));
  } catch (e) {
    if (e instanceof RewriteError) return `error: ${e.message}`;
    throw e;
  }
}

function auditDigest(opts: Parameters<typeof auditShaders>[0]): Golden["audit"][string] {
  const r = auditShaders(opts);
  return {
    sha256: sha(JSON.stringify({ files: r.files, kernels: r.kernels, priority: r.priority }) + r.summary()),
    kernels: r.kernels.length,
    accesses: r.kernels.reduce((n, k) => n + k.accesses.length, 0),
    priority: r.priority.map((p) => `${p.kernel}: ${p.worst} ${p.high} high ${p.medium} medium`),
  };
}

function capture(): Golden {
  const g: Golden = { rewrite: {}, audit: {}, lint: {} };
  for (const rel of [...metal, ...Object.keys(SNIPPETS)]) g.rewrite[rel] = rewriteDigest(rel);
  g.audit["shaders/"] = auditDigest({ dir: join(root, "shaders") });
  for (const rel of [...sources.filter((f) => f.startsWith("tests/")), ...Object.keys(SNIPPETS)]) {
    g.audit[rel] = auditDigest({ sources: [{ name: relative("tests/fixtures", rel), source: read(rel) }] });
  }
  for (const rel of [...sources, ...Object.keys(SNIPPETS)]) {
    g.lint[rel] = lintMsl(read(rel), rel).map((f) => ({ line: f.line, rule: f.rule, message: f.message }));
  }
  return g;
}

if (process.env.MM_UPDATE_GOLDEN === "1") {
  writeFileSync(goldenPath, JSON.stringify(capture(), null, 2) + "\n");
}
const golden = JSON.parse(readFileSync(goldenPath, "utf8")) as Golden;
const now = capture();

test("msl golden: covers every shipped, proof and fixture kernel", () => {
  assert.deepEqual(Object.keys(golden.rewrite), [...metal, ...Object.keys(SNIPPETS)]);
  assert.ok(metal.length >= 50 && metal.some((f) => f.startsWith("shaders/proof/")), `${metal.length} files`);
  // A floor, not a count: 87 since issue 11 merged the scale and zero-point loads into one helper.
  assert.ok(golden.audit["shaders/"].accesses > 50, "the shipped kernels' audit has accesses");
  assert.ok(Object.values(golden.lint).some((f) => f.length > 0), "the lint fixtures have findings");
});

test("msl golden: the CPU rewriter's output is byte-identical on every kernel", () => {
  for (const f of Object.keys(golden.rewrite)) assert.equal(now.rewrite[f], golden.rewrite[f], f);
});

test("msl golden: the static access audit reports the same findings", () => {
  assert.deepEqual(now.audit, golden.audit);
});

test("msl golden: the MSL lint reports the same findings", () => {
  assert.deepEqual(now.lint, golden.lint);
});
