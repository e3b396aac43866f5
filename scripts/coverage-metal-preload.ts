// Preloaded into `bun test` by scripts/coverage-metal.sh: after the last test file, writes the line
// counters of the metal-sim-coverage library (Bun skips the atexit hook that would).
import process from "node:process";
import { libraryPath } from "../lib/build/stamp.ts";

const ffiName = "bun:ffi"; // through variables: only Bun runs this file
const testName = "bun:test";
const { dlopen } = await import(ffiName) as {
  dlopen: (
    p: string,
    s: Record<string, { args: []; returns: "i32" }>,
  ) => { symbols: { mm_coverage_flush(): number } };
};
const { afterAll } = await import(testName) as { afterAll: (fn: () => void) => void };
afterAll(() => {
  const rc = dlopen(libraryPath("metal-sim-coverage"), { mm_coverage_flush: { args: [], returns: "i32" } })
    .symbols
    .mm_coverage_flush();
  if (rc !== 0) process.stderr.write(`coverage-metal: writing the profile failed (${rc})\n`);
});
