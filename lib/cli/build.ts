// `metal-marlin build`: builds (or finds) the native library of the installed package and prints the
// MM_LIBRARY_PATH line that lets a jsr: import, which has no sources to build from, load it.
import { parseArgs } from "node:util";
import { loadNative } from "../ffi/native.ts";
import { ENV_BUILD_MODES } from "../build/stamp.ts";
import type { BuildMode } from "../build/toolchain.ts";

/** Runs `build`; returns the exit code (2 for a usage error). */
export function buildCommand(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: "string", default: "fast" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: metal-marlin build [--mode fast|asan|coverage]\n  prints: export MM_LIBRARY_PATH=<library>",
    );
    return 0;
  }
  if (!(ENV_BUILD_MODES as readonly string[]).includes(values.mode)) {
    console.error(`build: --mode must be one of ${ENV_BUILD_MODES.join(", ")}, got "${values.mode}"`);
    return 2;
  }
  const mode = values.mode as BuildMode;
  const native = loadNative({ mode }); // builds when needed; throws LibraryLoadError listing every path
  console.log(`export MM_LIBRARY_PATH=${native.path}`);
  return 0;
}
