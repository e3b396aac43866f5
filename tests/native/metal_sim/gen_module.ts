// Rewrites one .metal file into a CPU shader module (C++ plus rewritten headers) for the metal-sim
// native tests, through the same rewriter the library build uses.
// Usage: bun gen_module.ts <file.metal> <name in #line/reflection> <module symbol> <out dir>
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { resolveInclude } from "../../../lib/build/build.ts";
import { rewriteMetal } from "../../../lib/cpu/rewrite.ts";

// Unchanged outputs keep their timestamps, so run-metal-sim.sh reuses its objects.
function writeIfChanged(path: string, text: string): void {
  if (!existsSync(path) || readFileSync(path, "utf8") !== text) writeFileSync(path, text);
}

const [file, fileName, moduleSymbol, outDir] = process.argv.slice(2);
const out = rewriteMetal(readFileSync(file, "utf8"), { fileName, moduleSymbol, resolveInclude });
mkdirSync(outDir, { recursive: true });
for (const [name, text] of out.headers) {
  mkdirSync(dirname(join(outDir, name)), { recursive: true });
  writeIfChanged(join(outDir, name), text);
}
writeIfChanged(join(outDir, "module.cpp"), out.cpp);
