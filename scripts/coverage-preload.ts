// Preloaded into `bun test` by scripts/coverage.sh (shader coverage) and scripts/coverage-metal.sh
// (csrc/metal coverage). Bun leaves without running the atexit hooks that write each shared object's
// coverage profile (nor process "exit" handlers under `bun test`), so a global afterAll calls
// mm_coverage_flush() (exported by coverage builds, csrc/cpu/shim/mm_coverage.h) in the library and,
// unless MM_COVERAGE_MODULES=0, every shader module. dlopen of a loaded object returns that object (live
// counters); one unloaded since wrote its profile at dlclose, and reopening it flushes zero counts, which
// the %m merge pool adds harmlessly. MM_COVERAGE_BUILD names the build (default "coverage").
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { buildDir, libraryPath } from "../lib/build/stamp.ts";
import { type BuildMode, moduleExt } from "../lib/build/toolchain.ts";

const ffiName = "bun:ffi"; // through variables: only Bun runs this file
const testName = "bun:test";
const { dlopen } = await import(ffiName) as {
  dlopen: (
    p: string,
    s: Record<string, { args: []; returns: "i32" }>,
  ) => { symbols: { mm_coverage_flush(): number } };
};
const { afterAll } = await import(testName) as { afterAll: (fn: () => void) => void };
const mode = (process.env.MM_COVERAGE_BUILD ?? "coverage") as BuildMode; // set by our own scripts only

// Once, after the last test file: a second flush of a loaded object would count its lines twice.
afterAll(() => {
  const mods = join(buildDir(mode), "modules");
  const objects = [libraryPath(mode)];
  if (process.env.MM_COVERAGE_MODULES !== "0" && existsSync(mods)) {
    for (const f of readdirSync(mods)) if (f.endsWith(moduleExt())) objects.push(join(mods, f));
  }
  for (const o of objects) {
    if (!existsSync(o)) continue;
    try {
      const rc = dlopen(o, { mm_coverage_flush: { args: [], returns: "i32" } }).symbols.mm_coverage_flush();
      if (rc !== 0) process.stderr.write(`coverage: writing the profile of ${o} failed (${rc})\n`);
    } catch (e) {
      process.stderr.write(`coverage: cannot flush ${o}: ${e instanceof Error ? e.message : e}\n`);
    }
  }
});
