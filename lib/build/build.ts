// Builds the native library (csrc/ + built-in shaders) and run-time shader modules with the system C++
// compiler. Runs under Bun and Deno through node: built-ins only.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import process from "node:process";
import { RewriteError, rewriteMetal } from "../cpu/rewrite.ts";
import { CompileError } from "../runtime/errors.ts";
import { tempName, withLock } from "./lock.ts";
import {
  buildDir,
  libraryHash,
  libraryInputs,
  libraryPath,
  readStamp,
  ROOT,
  sourceHash,
  stampPath as stampFile,
  writeAtomic,
} from "./stamp.ts";
import { libraryProblem } from "./validate.ts";
import { type BuildMode, findToolchain, isMetalSim, moduleExt, type Toolchain } from "./toolchain.ts";
import { generateBuiltinSources, metalSimSources, metalSources } from "./metal_sources.ts";

/** Options of buildLibrary(). */
export interface BuildOptions {
  mode: BuildMode;
  /** Rebuild even when the stamp says the library is current. */
  force?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

function listFiles(dir: string, exts: string[]): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => exts.some((e) => n.endsWith(e))).sort().map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile());
}

/** Identifier-safe stem of a shader file: "gemm-fp4.metal" -> "gemm_fp4". */
export function shaderStem(file: string): string {
  return basename(file).replace(/\.metal$/, "").replace(/[^A-Za-z0-9_]/g, "_");
}

/** Built-in shaders from shaders/manifest.json ({ "builtin": [...] }); a missing manifest means none. */
export function builtinShaders(): string[] {
  const p = join(ROOT, "shaders", "manifest.json");
  if (!existsSync(p)) return [];
  const m = JSON.parse(readFileSync(p, "utf8")) as { builtin?: string[] };
  return m.builtin ?? [];
}

/** Quoted includes of shaders resolve against shaders/ (and the including file's folder). */
export function resolveInclude(name: string, fromFile: string): string | undefined {
  for (const dir of [join(ROOT, dirname(fromFile)), join(ROOT, "shaders")]) {
    const p = join(dir, name);
    if (existsSync(p) && statSync(p).isFile()) return readFileSync(p, "utf8");
  }
  return undefined;
}

/**
 * Turns a compiler's stderr into a CompileError carrying the first error lines and its .metal line;
 * `command` (when given) is appended so the failing compile can be re-run by hand.
 */
export function compileErrorFrom(stderr: string, what: string, command?: string[]): CompileError {
  const lines = stderr.split("\n");
  const re = /^(.+?):(\d+):(?:(\d+):)?\s*(?:fatal )?error:/;
  let first = lines.findIndex((l) => re.test(l));
  if (first < 0) first = 0;
  const excerpt = lines.slice(first, first + 6).join("\n").trim();
  const cmd = command ? `\ncommand (in ${ROOT}): ${command.join(" ")}` : "";
  const err = new CompileError(`compile: ${what} failed\n${excerpt}${cmd}`, "compile");
  const m = re.exec(lines[first] ?? "");
  if (m) {
    err.file = m[1];
    err.line = Number(m[2]);
  }
  return err;
}

/** Rewrites one .metal source and writes the C++ (+ rewritten headers) into `dir`. Returns the .cpp path. */
function rewriteInto(
  source: string,
  fileName: string,
  moduleSymbol: string,
  dir: string,
  stem: string,
): string {
  let out: { cpp: string; headers: Map<string, string> };
  try {
    out = rewriteMetal(source, { fileName, moduleSymbol, resolveInclude });
  } catch (e) {
    if (e instanceof RewriteError) {
      const err = new CompileError(`compile: ${e.message}`, "compile");
      err.file = e.file;
      err.line = e.line;
      throw err;
    }
    throw e;
  }
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of out.headers) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeAtomic(join(dir, name), text);
  }
  const cpp = join(dir, `${stem}.cpp`);
  writeAtomic(cpp, out.cpp);
  return cpp;
}

/** Runs a compiler in the package root; resolves with its exit code and stderr (stdout is dropped). */
export function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Uint8Array) => (stderr += new TextDecoder().decode(d)));
    child.on("error", reject);
    child.on("close", (code: number | null) => resolvePromise({ code: code ?? 1, stderr }));
  });
}

/** Compiles `tasks` two at a time (the build machines have 2 cores). */
async function runPool(tasks: (() => Promise<void>)[], width = 2): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
}

function generateBuiltinTable(stems: string[]): string {
  const decls = stems.map((s) => `extern "C" const mm_rt_module* mm_rt_builtin_${s}(void);`).join("\n");
  const body = stems.length === 0
    ? "  *count = 0;\n  return nullptr;"
    : `  static const mm_rt_module* const mods[] = {${
      stems.map((s) => ` mm_rt_builtin_${s}()`).join(",")
    } };\n` +
      `  *count = ${stems.length};\n  return mods;`;
  return `// Generated by lib/build/build.ts: the shader modules linked into the library.\n` +
    `#include <cstdint>\n#include "rt_abi.h"\n${decls}\n` +
    `extern "C" const mm_rt_module* const* mm_rt_builtin_modules(uint32_t* count) {\n${body}\n}\n`;
}

/**
 * Builds build/<mode>/libmetal_marlin.so unless its stamp matches the inputs. Objects are cached by
 * the hash of their source, all headers and the flags, so editing one .cpp recompiles one file.
 * Returns the library path. Compiler failures throw CompileError.
 */
export async function buildLibrary(opts: BuildOptions): Promise<string> {
  const { mode } = opts;
  const log = opts.log ?? (() => {});
  const tc = findToolchain(mode);
  const out = libraryPath(mode);
  const sources = sourceHash(tc.objcFlags !== undefined);
  const hash = libraryHash(tc, sources);
  const stampPath = stampFile(mode);
  if (!opts.force && existsSync(out)) {
    const stamp = readStamp(mode); // a corrupt stamp reads as absent: rebuild
    if (stamp?.hash === hash && libraryProblem(out, stamp.size) === undefined) return out;
  }
  const gen = join(buildDir(mode), "gen");
  const objDir = join(buildDir(mode), "obj");
  mkdirSync(gen, { recursive: true });
  mkdirSync(objDir, { recursive: true });

  const tus = [
    ...listFiles(join(ROOT, "csrc", "core"), [".cpp"]),
    ...listFiles(join(ROOT, "csrc", "cpu"), [".cpp", ".S"]),
  ];
  const stems: string[] = [];
  for (const file of builtinShaders()) {
    const stem = shaderStem(file);
    const src = readFileSync(join(ROOT, "shaders", file), "utf8");
    tus.push(rewriteInto(src, `shaders/${file}`, `mm_rt_builtin_${stem}`, join(gen, stem), stem));
    stems.push(stem);
  }
  const table = join(gen, "builtin_modules.cpp");
  writeAtomic(table, generateBuiltinTable(stems));
  tus.push(table);
  if (isMetalSim(mode) || tc.objcFlags !== undefined) {
    const sources = join(gen, "builtin_sources.cpp");
    writeAtomic(sources, generateBuiltinSources(builtinShaders()));
    // metal-sim: the backend with the simulated driver; macOS: the backend alone, on the real Metal.
    tus.push(sources, ...(isMetalSim(mode) ? metalSimSources() : metalSources()));
  }

  // Any header may affect any TU, so all header contents go into every object key.
  const headerHash = createHash("sha256");
  for (const f of libraryInputs(tc.objcFlags !== undefined)) {
    if (!/\.(cpp|mm|S|s)$/.test(f)) headerHash.update(readFileSync(f));
  }
  // gen dirs hold rewritten headers; relative to gen, so a copy of the package or a cache dir reuses objects
  for (const f of tus) if (f.startsWith(gen)) headerHash.update(relative(gen, f));
  const common = headerHash.digest("hex");

  const objects: string[] = [];
  const tasks = tus.map((tu) => {
    // Shader TUs (rewritten into gen/; not the module table) may get extra flags (instrument, coverage);
    // linked into the library, they read the current lane with initial-exec TLS (shim/mm_runtime.h).
    const tuFlags = tu.startsWith(gen) && tu !== table
      ? [...tc.compileFlags, ...(tc.shaderFlags ?? []), "-DMM_TLS_INITIAL_EXEC=1"]
      : tu.endsWith(".mm")
      ? [...tc.compileFlags, ...(tc.objcFlags ?? [])]
      : tc.compileFlags;
    const key = createHash("sha256").update(common).update(tc.version).update(tuFlags.join(" "))
      .update(tu.startsWith(gen) ? relative(gen, tu) : relative(ROOT, tu)).update(readFileSync(tu))
      .digest("hex").slice(0, 24);
    const obj = join(objDir, `${basename(tu).replace(/\.\w+$/, "")}-${key}.o`);
    objects.push(obj);
    return async (): Promise<void> => {
      if (existsSync(obj)) return;
      log(`compile ${relative(ROOT, tu)}`);
      const tmp = `${tempName(obj)}.o`;
      const flags = tu.endsWith(".S") || tu.endsWith(".s") ? ["-fPIC"] : tuFlags;
      const args = [...tc.prefix, ...flags, "-c", relative(ROOT, tu), "-o", tmp];
      const r = await run(tc.cxx, args);
      if (r.code !== 0) {
        rmSync(tmp, { force: true });
        throw compileErrorFrom(r.stderr, relative(ROOT, tu), [tc.cxx, ...args]);
      }
      renameSync(tmp, obj);
    };
  });
  await runPool(tasks);

  log(`link ${relative(ROOT, out)}`);
  const tmpLib = tempName(out);
  const linkArgs = [...tc.prefix, "-shared", "-o", tmpLib, ...objects, ...tc.linkFlags, "-ldl", "-lpthread"];
  const r = await run(tc.cxx, linkArgs);
  if (r.code !== 0) {
    rmSync(tmpLib, { force: true });
    throw compileErrorFrom(r.stderr, `linking ${relative(ROOT, out)}`, [tc.cxx, ...linkArgs]);
  }
  const size = statSync(tmpLib).size;
  rmSync(stampPath, { force: true }); // never a new library beside the old stamp
  renameSync(tmpLib, out);
  const stamp = { hash, sources, size, compiler: tc.version, flags: tc.compileFlags };
  writeAtomic(stampPath, JSON.stringify(stamp, null, 2) + "\n");
  return out;
}

const envHashes = new Map<BuildMode, string>();

/** Hash of everything besides the source that shapes a compiled module: shim, headers, rewriter, flags. */
function moduleEnvHash(tc: Toolchain, mode: BuildMode): string {
  const hit = envHashes.get(mode);
  if (hit) return hit;
  const h = createHash("sha256").update(tc.version).update(tc.compileFlags.join(" "))
    .update((tc.shaderFlags ?? []).join(" "));
  for (const f of libraryInputs()) {
    if (/\.(h|inc)$/.test(f) || f.includes(join("lib", "cpu"))) {
      h.update(relative(ROOT, f)).update(readFileSync(f));
    }
  }
  const v = h.digest("hex");
  envHashes.set(mode, v);
  return v;
}

/** Options of compileModule(). */
export interface CompileModuleOptions {
  /** File name used in #line and error messages (default "kernel.metal"). */
  name?: string;
  mode: BuildMode;
}

/**
 * Rewrites and compiles a user .metal source into a loadable module, cached under
 * build/<mode>/modules/<sha256>.so. Returns the module path. Errors throw CompileError with the .metal line.
 */
export function compileModule(source: string, opts: CompileModuleOptions): string {
  const name = opts.name ?? "kernel.metal";
  const tc = findToolchain(opts.mode);
  const hash = createHash("sha256").update(moduleEnvHash(tc, opts.mode)).update(name).update("\0").update(
    source,
  )
    .digest("hex");
  const modDir = join(buildDir(opts.mode), "modules");
  const so = join(modDir, `${hash}${moduleExt()}`);
  if (moduleReady(so)) return so;
  mkdirSync(modDir, { recursive: true });
  // One compile per module across processes and Workers; the loser of the race finds it built.
  return withLock(`${so}.lock`, () => {
    if (moduleReady(so)) return so;
    const stem = shaderStem(name) || "kernel";
    const cpp = rewriteInto(source, name, "mm_rt_module_get", join(modDir, hash), stem);
    const tmp = tempName(so);
    const args = [
      ...tc.prefix,
      ...tc.compileFlags,
      ...(tc.shaderFlags ?? []),
      "-shared",
      relative(ROOT, cpp),
      "-o",
      tmp,
      ...tc.linkFlags,
    ];
    try {
      execFileSync(tc.cxx, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    } catch (e) {
      rmSync(tmp, { force: true });
      const stderr = (e as { stderr?: string }).stderr ?? String(e);
      throw compileErrorFrom(stderr, name, [tc.cxx, ...args]);
    }
    renameSync(tmp, so);
    return so;
  });
}

/** True when a cached module exists and is a sound library; a damaged one is deleted so it is rebuilt. */
function moduleReady(so: string): boolean {
  if (!existsSync(so)) return false;
  const problem = libraryProblem(so);
  if (problem === undefined) return true;
  process.stderr.write(`metal-marlin: rebuilding shader module ${so} (${problem})\n`);
  rmSync(so, { force: true });
  return false;
}
