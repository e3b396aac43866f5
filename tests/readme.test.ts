// The README's TypeScript examples run as written (with "metal-marlin" resolved to this checkout),
// so the documentation cannot drift from the API.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "./harness.ts";
import { writeReadmeFixtures } from "./util/readme_fixtures.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
const modPath = fileURLToPath(new URL("../mod.ts", import.meta.url));
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

test("README has TypeScript examples to check", () => {
  assert.ok(examples.length >= 2, `found ${examples.length} examples`);
});

examples.forEach((code, i) => {
  test(`README example ${i + 1} runs (${code.split("\n")[0].slice(0, 60)})`, () => {
    const dir = mkdtempSync(join(tmpdir(), "mm-readme-"));
    try {
      writeReadmeFixtures(dir); // "Loading real models" opens these stand-ins by their real names
      const file = join(dir, `example${i + 1}.ts`);
      writeFileSync(file, code.replaceAll(`from "metal-marlin"`, `from ${JSON.stringify(modPath)}`));
      const r = spawnSync(process.execPath, isDeno ? ["run", "-A", file] : [file], {
        cwd: dir,
        encoding: "utf8",
        timeout: 300_000,
      });
      assert.equal(r.status, 0, `example ${i + 1} failed:\n${r.stdout}\n${r.stderr}`);
      // A `console.log(...); // value` line promises that output: hold the README to it.
      const printed = r.stdout.trim().split("\n");
      const promised = [...code.matchAll(/console\.log\(.*\); \/\/ (.+)$/gm)].map((m) => m[1].trim());
      for (const p of promised) {
        assert.ok(printed.includes(p), `example ${i + 1} should print ${p}; got ${r.stdout}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
