// MSL validity, syntax-only pass (lib/build/msl_syntax.ts): every shaders/**/*.metal (or the files and
// folders given) compiled by clang with device/constant/threadgroup as real address spaces. Prints
// `file:line:col: error: message` per error and exits 1 if any; 2 when clang is missing. Usage:
//   bun scripts/check-msl.ts [-v] [file-or-dir ...]      deno run -A scripts/check-msl.ts [...]
// -v also prints the compiler's notes and the statements the pass cannot check (stores into vectors
// or structs that live in device/threadgroup memory; allowed in MSL).
import { readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import process from "node:process";
import { checkMsl, findMslCompiler } from "../lib/build/msl_syntax.ts";
import { ROOT } from "../lib/build/stamp.ts";

function metalFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).sort().flatMap((e) => {
    const p = join(path, e);
    return statSync(p).isDirectory() ? metalFiles(p) : e.endsWith(".metal") ? [p] : [];
  });
}

const args = process.argv.slice(2);
const verbose = args.includes("-v");
const roots = args.filter((a) => a !== "-v");
const files = (roots.length > 0 ? roots.map((r) => resolve(r)) : [join(ROOT, "shaders")])
  .flatMap(metalFiles).map((f) => relative(ROOT, f));

const found = findMslCompiler();
if (!found.cxx) {
  console.error(`check-msl: ${found.reason}`);
  process.exit(2);
}
const results = await checkMsl(files, { cxx: found.cxx });
let errors = 0;
let unchecked = 0;
for (const r of results) {
  for (const d of r.errors) {
    console.log(`${d.file}:${d.line}:${d.column}: error: ${d.message}`);
    if (verbose) { for (const n of d.notes) console.log(`  ${n}`); }
  }
  if (verbose) {
    for (const d of r.unchecked) console.log(`${d.file}:${d.line}:${d.column}: unchecked: ${d.message}`);
  }
  errors += r.errors.length;
  unchecked += r.unchecked.length;
}
console.error(
  `check-msl: ${files.length} file(s) with ${found.cxx} -fsyntax-only -DMM_ADDRESS_SPACES: ${errors} error(s)` +
    (unchecked > 0 ? `, ${unchecked} statement(s) not checkable (-v lists them)` : ""),
);
process.exit(errors > 0 ? 1 : 0);
