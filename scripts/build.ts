// Builds the native library: `bun scripts/build.ts [--mode fast|asan] [--force]`
// (or `deno run -A scripts/build.ts ...`). The loader also runs this when the library is stale.
import process from "node:process";
import { parseArgs } from "node:util";
import { buildLibrary } from "../lib/build/build.ts";
import { BUILD_MODES, type BuildMode } from "../lib/build/toolchain.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    mode: { type: "string", default: "fast" },
    force: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(`usage: scripts/build.ts [--mode ${BUILD_MODES.join("|")}] [--force] [--quiet]`);
  process.exit(0);
}
if (!(BUILD_MODES as readonly string[]).includes(values.mode!)) {
  console.error(`build: --mode must be one of ${BUILD_MODES.join(", ")}, got "${values.mode}"`);
  process.exit(2);
}

try {
  const path = await buildLibrary({
    mode: values.mode as BuildMode,
    force: values.force,
    log: values.quiet ? undefined : (line) => console.error(`metal-marlin: ${line}`),
  });
  if (!values.quiet) console.error(`metal-marlin: ${path} is up to date`);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
}
