// Maps the file names that rewritten shaders carry in `#line` (and so in compiler diagnostics and
// coverage reports) back to files of the checkout: "shaders/gemm.metal" stays as it is, a bare
// include name such as "gemm_tiled.h" resolves next to its including shader or under shaders/.
import { existsSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import { ROOT } from "./stamp.ts";

const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile();

/**
 * The checkout-relative path of a `#line` file name, or undefined when it names no shader source
 * (the generated tail "x.metal:generated", shim headers, system headers). `fromFiles` are the shader
 * files whose includes may have produced `name` (tried first, in order).
 */
export function resolveShaderPath(name: string, fromFiles: readonly string[] = []): string | undefined {
  if (name.endsWith(":generated")) return undefined;
  const abs = isAbsolute(name) ? name : join(ROOT, name);
  const candidates = [abs, ...fromFiles.map((f) => join(ROOT, dirname(f), name)), join(ROOT, "shaders", name)];
  for (const c of candidates) {
    if (!isFile(c)) continue;
    const rel = relative(ROOT, c);
    if (rel.startsWith("..") || rel.startsWith("csrc") || rel.startsWith("build")) return undefined;
    if (!/\.(metal|h)$/.test(rel)) return undefined;
    return rel;
  }
  return undefined;
}
