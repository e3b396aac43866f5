// Maps the file names that rewritten shaders carry in `#line` (and so in compiler diagnostics and
// coverage reports) back to files of the checkout: "shaders/gemm.metal" stays as it is, a bare
// include name such as "gemm_tiled.h" resolves next to its including shader or under shaders/.
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative } from "node:path";
import { ROOT } from "./stamp.ts";

const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();

/**
 * The checkout-relative path of a `#line` file name, or undefined when it names no shader source
 * (the generated tail "x.metal:generated", shim headers, system headers). `fromFiles` are the shader
 * files whose includes may have produced `name` (tried first, in order). A bare name that matches
 * nothing else resolves to the one shaders/** file with that base name (tests compile shaders/proof/x.metal
 * as "x.metal"), never when two share it.
 */
export function resolveShaderPath(name: string, fromFiles: readonly string[] = []): string | undefined {
  if (name.endsWith(":generated")) return undefined;
  const abs = isAbsolute(name) ? name : join(ROOT, name);
  const candidates = [
    abs,
    ...fromFiles.map((f) => join(ROOT, dirname(f), name)),
    join(ROOT, "shaders", name),
  ];
  if (!name.includes("/")) {
    const same = shaderFiles().filter((f) => basename(f) === name);
    if (same.length === 1) candidates.push(join(ROOT, same[0]));
  }
  for (const c of candidates) {
    if (!isFile(c)) continue;
    const rel = relative(ROOT, c);
    if (rel.startsWith("..") || rel.startsWith("csrc") || rel.startsWith("build")) return undefined;
    if (!/\.(metal|h)$/.test(rel)) return undefined;
    return rel;
  }
  return undefined;
}

let shaderList: string[] | undefined;
/** Every file under shaders/, checkout-relative (listed once per process). */
function shaderFiles(): string[] {
  if (shaderList) return shaderList;
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else out.push(join(dir, e.name));
    }
  };
  if (existsSync(join(ROOT, "shaders"))) walk("shaders");
  shaderList = out;
  return out;
}
