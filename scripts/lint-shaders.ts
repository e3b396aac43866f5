// Lints every shaders/**/*.metal and shaders/**/*.h with the MSL validity lint (lib/audit/msl_lint.ts).
// Prints `file:line: rule: message` per finding and exits 1 if there is any. Usage:
//   bun scripts/lint-shaders.ts [dir ...]      deno run -A scripts/lint-shaders.ts [dir ...]
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { lintMsl } from "../lib/audit/msl_lint.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

function shaderFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...shaderFiles(p));
    else if (/\.(metal|h)$/.test(e)) out.push(p);
  }
  return out;
}

const dirs = process.argv.slice(2);
const files = (dirs.length > 0 ? dirs : [join(root, "shaders")]).flatMap(shaderFiles);
let count = 0;
for (const file of files) {
  const name = relative(process.cwd(), file) || file;
  for (const f of lintMsl(readFileSync(file, "utf8"), name)) {
    console.log(`${f.file}:${f.line}: ${f.rule}: ${f.message}`);
    count++;
  }
}
console.error(`lint-shaders: ${files.length} file(s), ${count} finding(s)`);
process.exit(count > 0 ? 1 : 0);
