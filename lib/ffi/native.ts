// Finds, builds if needed, and opens the native library on first use (never at import). Search order:
// explicit option -> MM_LIBRARY_PATH -> local build (rebuilt when stale) -> @metal-marlin/<os>-<arch>.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { LibraryLoadError } from "../runtime/errors.ts";
import { envMode, hasSources, libraryPath, readStamp, ROOT, staleReason } from "../build/stamp.ts";
import { type BuildMode, findToolchain, libraryFileName } from "../build/toolchain.ts";
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
const bunAdapter = "./bun.ts";
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

/** Runs scripts/build.ts in a child process of the same runtime, so the build can compile in parallel. */
function runBuild(mode: string, reason: string, out: string): void {
  process.stderr.write(`metal-marlin: building ${out.slice(ROOT.length + 1)} (${reason}) ...\n`);
  const script = join(ROOT, "scripts", "build.ts");
  const args = isBun ? [script, "--mode", mode, "--quiet"] : ["run", "-A", script, "--mode", mode, "--quiet"];
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.LD_PRELOAD; // the compilers must not run under the ASan runtime the tests preload
  try {
    execFileSync(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ["ignore", "ignore", "pipe"],
      encoding: "utf8",
    });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? String(e);
    throw new LibraryLoadError(`load: building ${out} failed:\n${stderr.trim()}`, "load");
  }
}

type Attempt = { path: string; why: string };

function tryPath(path: string, source: string, tried: Attempt[]): Native | undefined {
  if (!existsSync(path)) {
    tried.push({ path, why: `${source}: not found` });
    return undefined;
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
  const out = libraryPath(mode);
  if (!hasSources()) {
    tried.push({ path: out, why: "local build: csrc/ not present" });
    return undefined;
  }
  let tc;
  try {
    tc = findToolchain(mode);
  } catch (e) {
    tried.push({ path: out, why: `local build: ${(e as Error).message}` });
    return undefined;
  }
  const reason = staleReason(mode, tc);
  if (reason !== undefined) {
    const before = readStamp(mode)?.hash;
    runBuild(mode, reason, out);
    // Build once, never loop. Still stale with a fresh stamp = sources edited during the build: use it.
    if (staleReason(mode, tc) !== undefined) {
      const stamp = readStamp(mode);
      if (!existsSync(out) || stamp === undefined || stamp.hash === before) {
        throw new LibraryLoadError(
          `load: ${out} is still missing or stale after building (${reason})`,
          "load",
        );
      }
      process.stderr.write("metal-marlin: sources changed during the build; using the library just built\n");
    }
  }
  return tryPath(out, `local build (${mode})`, tried);
}

function tryPlatformPackage(tried: Attempt[]): Native | undefined {
  const pkg = `@metal-marlin/${process.platform}-${process.arch}`;
  let dir: string;
  try {
    dir = dirname(createRequire(join(ROOT, "package.json")).resolve(`${pkg}/package.json`));
  } catch {
    tried.push({ path: pkg, why: "platform package: not installed" });
    return undefined;
  }
  return tryPath(join(dir, libraryFileName()), `platform package ${pkg}`, tried);
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
