// mod.ts's public surface stays what it was: every exported name (values and types), what kind of value
// each is, and the public members of every exported class, compared with tests/fixtures/public_exports.json.
// That file was generated on main before the lib/ layout move (issue #8), so this test proves the move
// changed no public name. Regenerate only for a deliberate API change: MM_UPDATE_EXPORTS=1 bun test
// tests/exports.test.ts, and review the diff.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { test } from "./harness.ts";
import * as mod from "../mod.ts";

interface Snapshot {
  /** Exported value names → "class" | "function" | typeof value. */
  values: Record<string, string>;
  /** Type-only exported names (interfaces, type aliases). */
  types: string[];
  /** Per exported class: its own static names and its prototype's names (methods, getters). */
  classes: Record<string, { static: string[]; prototype: string[] }>;
}

const fixture = new URL("./fixtures/public_exports.json", import.meta.url);
const modSource = readFileSync(new URL("../mod.ts", import.meta.url), "utf8");

/** Exported names of mod.ts's `export { ... } from` / `export type { ... } from` lists, split by kind. */
function declaredExports(src: string): { values: string[]; types: string[] } {
  const values: string[] = [];
  const types: string[] = [];
  for (const m of src.matchAll(/export\s+(type\s+)?\{([^}]*)\}\s*from/g)) {
    const allTypes = m[1] !== undefined;
    for (const raw of m[2].split(",").map((s) => s.trim()).filter((s) => s !== "")) {
      const isType = allTypes || raw.startsWith("type ");
      const spec = raw.replace(/^type\s+/, "");
      const name = spec.split(/\s+as\s+/).pop()!.trim();
      (isType ? types : values).push(name);
    }
  }
  return { values: values.sort(), types: types.sort() };
}

function isClass(v: unknown): v is new (...args: never[]) => unknown {
  return typeof v === "function" && /^class\b/.test(Function.prototype.toString.call(v));
}

function snapshot(): Snapshot {
  const m = mod as Record<string, unknown>;
  const values: Record<string, string> = {};
  const classes: Snapshot["classes"] = {};
  for (const name of Object.keys(m).sort()) {
    const v = m[name];
    values[name] = isClass(v) ? "class" : typeof v;
    if (isClass(v)) {
      const skip = new Set(["length", "name", "prototype", "constructor"]);
      classes[name] = {
        static: Object.getOwnPropertyNames(v).filter((k) => !skip.has(k)).sort(),
        prototype: [
          ...Object.getOwnPropertyNames(v.prototype).filter((k) => !skip.has(k)),
          ...Object.getOwnPropertySymbols(v.prototype).map((s) => s.toString()),
        ].sort(),
      };
    }
  }
  return { values, types: declaredExports(modSource).types, classes };
}

if (process.env.MM_UPDATE_EXPORTS === "1") {
  writeFileSync(fixture, JSON.stringify(snapshot(), null, 2) + "\n");
}

const want = JSON.parse(readFileSync(fixture, "utf8")) as Snapshot;

test("exports: mod.ts exports the same value names, each the same kind of value", () => {
  assert.deepEqual(snapshot().values, want.values);
});

test("exports: mod.ts's export lists name exactly the recorded values and types", () => {
  const declared = declaredExports(modSource);
  assert.deepEqual(declared.values, Object.keys(want.values).sort());
  assert.deepEqual(declared.types, want.types);
});

test("exports: every exported class keeps its static and prototype members (dev.gemm, Device.open, ...)", () => {
  assert.deepEqual(snapshot().classes, want.classes);
  assert.ok(want.classes.Device.prototype.includes("gemm"), "the fixture records Device's op methods");
});
