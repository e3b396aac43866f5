// Finds, builds if needed, and opens the native library on first use (never at import). Search order:
// explicit option -> MM_LIBRARY_PATH -> local build (rebuilt when stale) -> @metal-marlin/<os>-<arch>.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { LibraryLoadError } from "../runtime/errors.ts";
import { withLock } from "../build/lock.ts";
import { buildDir, envMode, hasSources, libraryPath, readStamp, ROOT, staleReason } from "../build/stamp.ts";
import { type BuildMode, findToolchain, libraryFileName, type Toolchain } from "../build/toolchain.ts";
import { libraryProblem } from "../build/validate.ts";
import { openDeno } from "./deno.ts";
import { type Native, traceFns } from "./symbols.ts";

export type { Native, NativeFns, NativePointer } from "./symbols.ts";

/** ABI version this TypeScript code was written against (MM_ABI_VERSION in metal_marlin.h). */
export const EXPECTED_ABI_VERSION = 1;

/** Options of loadNative(). */
export interface LoadOptions {
  /** Explicit path of libmetal_marlin.so / .dylib; wins over every other source. */
  libraryPath?: string;
  /** Local build to load (default: MM_BUILD, else "fast"); "instrument" serves trace/race devices. */
  mode?: BuildMode;
}

const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
// bun.ts imports "bun:ffi", so only Bun may load it; Bun's require() loads it synchronously on first
// use, through a specifier Deno's module graph cannot see. deno.ts only touches Deno's globals when called.
// The npm package ships this file compiled to .js; the checkout and JSR run the .ts.
const bunAdapter = import.meta.url.endsWith(".js") ? "./bun.js" : "./bun.ts";
let openLibrary: ((path: string) => Native) | undefined;

/** The runtime's dlopen adapter, resolved on first use so importing this module loads nothing native. */
function opener(): (path: string) => Native {
  if (openLibrary === undefined) {
    openLibrary = isBun
      ? (createRequire(import.meta.url)(bunAdapter) as { openBun: (path: string) => Native }).openBun
      : openDeno;
  }
  return openLibrary;
}

const byPath = new Map<string, Native>();
const defaultNatives = new Map<BuildMode, Native>(); // one per build mode: several may be open at once

function openChecked(path: string): Native {
  const abs = resolve(path);
  const hit = byPath.get(abs);
  if (hit) return hit;
  let native = opener()(abs);
  const version = native.fns.mm_abi_version();
  if (version !== EXPECTED_ABI_VERSION) {
    native.close();
    throw new LibraryLoadError(
      `load: ${abs} has ABI version ${version} but this metal-marlin expects ${EXPECTED_ABI_VERSION}; rebuild it (bun scripts/build.ts --force)`,
      "load",
    );
  }
  if (process.env.MM_TRACE_FFI === "1") {
    native = { ...native, fns: traceFns(native.fns, (name) => console.error(`metal-marlin ffi: ${name}`)) };
  }
  byPath.set(abs, native);
  return native;
}

/** The build script beside this module: scripts/build.ts in a checkout, scripts/build.js in the npm package. */
function buildScript(): string {
  const ts = join(ROOT, "scripts", "build.ts");
  return existsSync(ts) ? ts : join(ROOT, "scripts", "build.js");
}

/**
 * Runs the build script in a child process of the same runtime, so the build can compile in parallel.
 * On a terminal the compile steps are shown as they happen; elsewhere one line says a build runs.
 */
function runBuild(mode: string, reason: string, out: string): void {
  const tty = process.stderr.isTTY === true && process.env.MM_QUIET_BUILD !== "1";
  process.stderr.write(`metal-marlin: building ${out} (${reason}) ...\n`);
  const script = buildScript();
  const flags = ["--mode", mode, ...(tty ? [] : ["--quiet"])];
  const args = isBun ? [script, ...flags] : ["run", "-A", script, ...flags];
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.LD_PRELOAD; // the compilers must not run under the ASan runtime the tests preload
  try {
    execFileSync(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ["ignore", "ignore", tty ? "inherit" : "pipe"],
      encoding: "utf8",
    });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? (tty ? "(compiler output above)" : String(e));
    throw new LibraryLoadError(`load: building ${out} failed:\n${stderr.trim()}`, "load");
  }
}

/** What `load` says when no C++ sources are on disk (a jsr: or URL import). */
export const NO_SOURCES_HINT = "no C++ sources next to this module (a jsr: or URL import cannot build); " +
  "set MM_LIBRARY_PATH=/path/to/libmetal_marlin.so, or import the npm package instead (npm:metal-marlin " +
  "carries the sources and prebuilt libraries), or build one with: deno run -A npm:metal-marlin build";

/** Why the local library cannot be loaded as it is (stale, corrupt stamp, damaged file), or undefined. */
function localProblem(mode: BuildMode, tc: Toolchain | undefined): string | undefined {
  const stale = staleReason(mode, tc);
  if (stale !== undefined) return stale;
  const out = libraryPath(mode);
  const problem = libraryProblem(out, readStamp(mode)?.size);
  return problem === undefined ? undefined : `${out} is damaged: ${problem}`;
}

type Attempt = { path: string; why: string };

function tryPath(path: string, source: string, tried: Attempt[]): Native | undefined {
  if (!existsSync(path)) {
    tried.push({ path, why: `${source}: not found` });
    return undefined;
  }
  const problem = byPath.has(resolve(path)) ? undefined : libraryProblem(path);
  if (problem !== undefined) {
    // Never dlopen a damaged file: a truncated one faults (SIGBUS) instead of failing.
    throw new LibraryLoadError(
      `load: ${resolve(path)} (${source}) is not a usable library: ${problem}`,
      "load",
    );
  }
  try {
    return openChecked(path);
  } catch (e) {
    if (e instanceof LibraryLoadError) throw e; // ABI mismatch: a real answer, not a miss
    tried.push({ path, why: `${source}: ${e instanceof Error ? e.message : String(e)}` });
    return undefined;
  }
}

function tryLocalBuild(tried: Attempt[], mode: BuildMode): Native | undefined {
  if (!hasSources()) {
    tried.push({ path: ROOT === "" ? "local build" : join(ROOT, "csrc"), why: NO_SOURCES_HINT });
    return undefined;
  }
  const out = libraryPath(mode);
  let tc: Toolchain | undefined;
  let noCompiler = "";
  try {
    tc = findToolchain(mode);
  } catch (e) {
    noCompiler = (e as Error).message; // a current library still loads without a compiler
  }
  if (localProblem(mode, tc) === undefined) return tryPath(out, `local build (${mode})`, tried);
  if (!inCheckout() && mode === "fast" && platformPackageDir() !== undefined) {
    // An installed package with its prebuilt library: load that rather than compile for minutes.
    tried.push({ path: out, why: "local build: not built; the platform package is installed" });
    return undefined;
  }
  if (tc === undefined) {
    tried.push({ path: out, why: `local build: ${localProblem(mode, tc)}; cannot build: ${noCompiler}` });
    return undefined;
  }
  const toolchain = tc;
  mkdirSync(buildDir(mode), { recursive: true });
  // One build across processes and Workers: the others wait, then find it current.
  withLock(`${buildDir(mode)}.lock`, () => {
    const reason = localProblem(mode, toolchain);
    if (reason === undefined) return;
    const before = readStamp(mode)?.hash;
    runBuild(mode, reason, out);
    const after = localProblem(mode, toolchain);
    if (after === undefined) return;
    // Build once, never loop. Still stale with a fresh, sound library = sources edited during the build.
    const stamp = readStamp(mode);
    if (stamp === undefined || stamp.hash === before || libraryProblem(out, stamp.size) !== undefined) {
      throw new LibraryLoadError(`load: ${out} is still unusable after building (${after})`, "load");
    }
    process.stderr.write("metal-marlin: sources changed during the build; using the library just built\n");
  }, { onWait: () => process.stderr.write(`metal-marlin: waiting for another process building ${out}\n`) });
  return tryPath(out, `local build (${mode})`, tried);
}

/** True in a source checkout, which builds into <root>/build (an installed package uses the user cache). */
function inCheckout(): boolean {
  return buildDir("fast") === join(ROOT, "build", "fast");
}

/** @metal-marlin/<os>-<arch> for this process. */
const platformPackage = `@metal-marlin/${process.platform}-${process.arch}`;

/** Folder of the installed platform package holding its library, or undefined. */
function platformPackageDir(): string | undefined {
  if (ROOT === "") return undefined;
  try {
    const dir = dirname(createRequire(join(ROOT, "package.json")).resolve(`${platformPackage}/package.json`));
    return existsSync(join(dir, libraryFileName())) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function tryPlatformPackage(tried: Attempt[]): Native | undefined {
  const dir = platformPackageDir();
  if (dir === undefined) {
    tried.push({ path: platformPackage, why: "platform package: not installed (or holds no library)" });
    return undefined;
  }
  return tryPath(join(dir, libraryFileName()), `platform package ${platformPackage}`, tried);
}

/**
 * Returns the native library, loading (and if needed building) it on first call.
 * Throws LibraryLoadError listing every path tried.
 */
export function loadNative(opts: LoadOptions = {}): Native {
  const mode = opts.mode ?? envMode();
  const cached = defaultNatives.get(mode);
  if (opts.libraryPath === undefined && cached) return cached;
  opener(); // a broken adapter throws here, not as one "path tried" among others
  const tried: Attempt[] = [];
  // An explicit path (option or MM_LIBRARY_PATH) is authoritative: if it fails we do not fall back.
  // MM_LIBRARY_PATH names one library; an explicitly requested other mode builds locally instead.
  const explicit = opts.libraryPath ?? (opts.mode === undefined ? process.env.MM_LIBRARY_PATH : undefined);
  const source = opts.libraryPath !== undefined ? "libraryPath option" : "MM_LIBRARY_PATH";
  const native = explicit !== undefined && explicit !== ""
    ? tryPath(explicit, source, tried)
    : tryLocalBuild(tried, mode) ?? (opts.mode === "instrument" ? undefined : tryPlatformPackage(tried));
  if (!native) {
    const list = tried.map((t) => `  ${t.path} (${t.why})`).join("\n");
    throw new LibraryLoadError(
      `load: could not load the metal-marlin native library; tried:\n${list}`,
      "load",
    );
  }
  if (opts.libraryPath === undefined) defaultNatives.set(mode, native);
  return native;
}
