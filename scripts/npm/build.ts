// `npm run build:npm`: stages the npm package in dist/metal-marlin — ESM .js + .d.ts compiled by tsc
// (tsconfig.npm.json) from the TypeScript sources, which stay the source of truth for JSR and tests, plus
// csrc/ and shaders/ for build-on-first-use, bin.js and a package.json with `exports`/`types`.
// Runs in CI and before publishing, never at import. `--pack` also writes the .tgz next to it.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { ROOT } from "../../lib/build/stamp.ts";
import { PLATFORMS } from "./platforms.ts";

const out = join(ROOT, "dist", "metal-marlin");
rmSync(out, { recursive: true, force: true });
const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
execFileSync(process.execPath, [tsc, "-p", join(ROOT, "tsconfig.npm.json")], { stdio: "inherit", cwd: ROOT });

// tsc rewrites "./x.ts" to "./x.js" in .js output but keeps it in declarations; consumers resolve .js.
function fixDeclarations(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) n += fixDeclarations(p);
    else if (name.endsWith(".d.ts")) {
      const text = readFileSync(p, "utf8");
      const fixed = text.replace(/((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g, "$1$2.js$3");
      if (fixed !== text) writeFileSync(p, fixed);
      n++;
    }
  }
  return n;
}
const declarations = fixDeclarations(out);

for (const p of ["csrc", "shaders", "README.md"]) cpSync(join(ROOT, p), join(out, p), { recursive: true });
cpSync(join(ROOT, "scripts", "npm", "bin.js"), join(out, "bin.js"));

const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  version: string;
  description: string;
  license: string;
};
const pkg = {
  name: "metal-marlin",
  version: root.version,
  description: root.description,
  license: root.license,
  type: "module",
  exports: {
    ".": { types: "./mod.d.ts", default: "./mod.js" },
    "./package.json": "./package.json",
  },
  types: "./mod.d.ts",
  bin: { "metal-marlin": "./bin.js" },
  engines: { bun: ">=1.2", deno: ">=2.0" },
  // Prebuilt libraries; npm/bun install only the one matching os + cpu (see scripts/npm/platform.ts).
  optionalDependencies: Object.fromEntries(PLATFORMS.map((p) => [`@metal-marlin/${p.id}`, root.version])),
};
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
console.error(`npm build: ${relative(ROOT, out)} (${declarations} declaration files)`);

if (process.argv.includes("--pack")) {
  execFileSync("npm", ["pack", "--pack-destination", join(ROOT, "dist")], { cwd: out, stdio: "inherit" });
}
