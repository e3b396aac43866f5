// lib/ keeps its rooms and its direction: every lib/ file sits in a known room, imports only its own room
// or rooms below it in ROOMS, and no chain of imports comes back to where it started. Every import counts,
// `import type` and `export ... from` included: a type-only edge upward is still an upward dependency
// (and lib/api/device.ts exists so that none is needed). The rules live here, in one place; README's
// Layout section describes them.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "./harness.ts";

/**
 * The stage order, lowest first: a file may import files of its own room and of rooms listed before it.
 * msl: the MSL front end. cpu: MSL -> C++ for the CPU runtime. build: toolchain and builds. ffi: the
 * native library. quant: host-side formats, quantization, padding. runtime: device core, tensors,
 * kernels, dispatch, trace. reference: float64 references. ops: one file per op family. io: checkpoint
 * readers. audit: alignment and memory audits, MSL lint. api: the public classes assembled from runtime
 * and ops (Device). cli: the command-line subcommands.
 */
export const ROOMS = [
  "msl",
  "cpu",
  "build",
  "ffi",
  "quant",
  "runtime",
  "reference",
  "ops",
  "io",
  "audit",
  "api",
  "cli",
] as const;

/** Files every room may import: they import nothing from lib/ themselves (checked below). */
export const BASE = ["lib/runtime/errors.ts"];

const root = fileURLToPath(new URL("..", import.meta.url));

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".ts")) out.push(relative(root, p).split("\\").join("/"));
  }
  return out;
}

/** Relative specifiers of every static import/export-from and dynamic import() in `src`. */
export function importSpecifiers(src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const specs: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']/gm, // import x from "y", export {x} from "y"
    /^\s*import\s*["']([^"']+)["']/gm, // import "y" (side effect)
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // import("y")
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1]);
  return specs.filter((s) => s.startsWith("."));
}

export type Graph = Map<string, string[]>;

function libGraph(): Graph {
  const g: Graph = new Map();
  for (const f of walk(join(root, "lib"), [])) {
    const src = readFileSync(join(root, f), "utf8");
    g.set(f, importSpecifiers(src).map((s) => normalize(join(dirname(f), s)).split("\\").join("/")));
  }
  return g;
}

export function roomOf(file: string): string | undefined {
  const m = /^lib\/([^/]+)\/.+/.exec(file);
  return m && (ROOMS as readonly string[]).includes(m[1]) ? m[1] : undefined;
}

/** "from -> to: why" for every import that breaks the stage order or leaves lib/. */
export function orderViolations(g: Graph): string[] {
  const bad: string[] = [];
  for (const [from, tos] of g) {
    const rf = roomOf(from);
    for (const to of tos) {
      if (!to.startsWith("lib/")) {
        bad.push(`${from} -> ${to}: lib/ may not import outside lib/`);
        continue;
      }
      if (BASE.includes(to)) continue;
      const rt = roomOf(to);
      if (rf === undefined || rt === undefined) continue; // reported by the room test
      if (ROOMS.indexOf(rt as never) > ROOMS.indexOf(rf as never)) {
        bad.push(`${from} -> ${to}: ${rf} may not import ${rt} (later in the stage order)`);
      }
    }
  }
  return bad;
}

/** One import cycle as a path a -> b -> ... -> a, or undefined when the graph has none. */
export function findCycle(g: Graph): string[] | undefined {
  const state = new Map<string, 1 | 2>(); // 1 on the DFS stack, 2 done
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const m of g.get(n) ?? []) {
      if (state.get(m) === 1) return [...stack.slice(stack.indexOf(m)), m];
      if (state.get(m) === undefined) {
        const c = visit(m);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of [...g.keys()].sort()) {
    if (state.get(n) === undefined) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return undefined;
}

const graph = libGraph();

test("layout: the checkers catch what they look for (an upward edge, a cycle, an import out of lib/)", () => {
  assert.deepEqual(importSpecifiers(`import type { A } from "../ops/a.ts";\nexport { b } from "./b.ts";`), [
    "../ops/a.ts",
    "./b.ts",
  ]);
  assert.deepEqual(importSpecifiers(`// import { x } from "./no.ts";\nconst m = await import("./c.ts");`), [
    "./c.ts",
  ]);
  const g: Graph = new Map([
    ["lib/runtime/device.ts", ["lib/ops/gemm.ts", "lib/runtime/errors.ts"]],
    ["lib/ops/gemm.ts", ["lib/ops/gemm_route.ts"]],
    ["lib/ops/gemm_route.ts", ["lib/runtime/device.ts", "mod.ts"]],
  ]);
  assert.deepEqual(orderViolations(g), [
    "lib/runtime/device.ts -> lib/ops/gemm.ts: runtime may not import ops (later in the stage order)",
    "lib/ops/gemm_route.ts -> mod.ts: lib/ may not import outside lib/",
  ]);
  assert.deepEqual(findCycle(g), [
    "lib/ops/gemm.ts",
    "lib/ops/gemm_route.ts",
    "lib/runtime/device.ts",
    "lib/ops/gemm.ts",
  ]);
});

test("layout: the scan sees the real import graph", () => {
  assert.ok(graph.size >= 50, `found ${graph.size} lib/ files`);
  assert.ok(graph.get("lib/api/device.ts")?.includes("lib/ops/gemm.ts"), "api/device.ts imports ops/gemm.ts");
  assert.ok(graph.get("lib/ops/gemm.ts")?.includes("lib/runtime/device.ts"), "type imports are edges too");
});

test("layout: every lib/ file is in a room of the stage order", () => {
  const homeless = [...graph.keys()].filter((f) => roomOf(f) === undefined);
  assert.deepEqual(homeless, [], `put these in one of lib/{${ROOMS.join(",")}}/ (or add the room to ROOMS)`);
});

test("layout: no lib/ import points up the stage order or out of lib/", () => {
  assert.deepEqual(orderViolations(graph), []);
  for (const f of BASE) assert.deepEqual(graph.get(f), [], `${f} is importable from every room`);
});

test("layout: one MSL lexer: only lib/msl/lexer.ts scans source text for comments", () => {
  // Every tokenizer must skip /* comments */; finding the terminator anywhere else means a second lexer.
  const scanners = [...graph.keys()].filter((f) =>
    readFileSync(join(root, f), "utf8").includes(`indexOf("*/"`)
  );
  assert.deepEqual(scanners, ["lib/msl/lexer.ts"]);
});

test("layout: no lib/ file is over 400 lines", () => {
  const long = [...graph.keys()]
    .map((f) => [f, readFileSync(join(root, f), "utf8").split("\n").length - 1] as const)
    .filter(([, n]) => n > 400);
  assert.deepEqual(long, []);
});

test("layout: no import cycle among lib/ files", () => {
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" -> ")}`);
});
