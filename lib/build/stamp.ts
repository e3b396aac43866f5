// Where build outputs live and whether they are current. The loader calls isLibraryCurrent() on first
// use; the hash covers every input (sources, shim, shaders, rewriter, flags, compiler version).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../runtime/errors.ts";
import { buildRootFor } from "./cache_dir.ts";
import { tempName } from "./lock.ts";
import { type BuildMode, isMetalSim, libraryFileName, type Toolchain } from "./toolchain.ts";

/**
 * Package root (the folder holding csrc/, shaders/, lib/), or "" when the package was imported from a
 * URL (e.g. jsr:), where no sources are on disk to build from: importing must still work there.
 */
export const ROOT: string = import.meta.url.startsWith("file:")
  ? resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
  : "";

/** build/<mode>/ under the package root in a checkout, else under the user cache (cache_dir.ts). */
export function buildDir(mode: BuildMode): string {
  return join(buildRootFor(ROOT), mode);
}

/** build/<mode>/libmetal_marlin.so (.dylib on macOS). */
export function libraryPath(mode: BuildMode): string {
  return join(buildDir(mode), libraryFileName());
}

/** True when the C sources are present, i.e. a local build is possible (a source checkout or package). */
export function hasSources(): boolean {
  return ROOT !== "" && existsSync(join(ROOT, "csrc", "include", "metal_marlin.h"));
}

/** MM_BUILD values envMode() accepts; "instrument" is chosen per device (Device.open({ instrument })). */
export const ENV_BUILD_MODES: readonly BuildMode[] = ["fast", "asan", "coverage"];

/**
 * Build mode the loader uses: MM_BUILD=asan selects the sanitizer build, MM_BUILD=coverage the coverage
 * one, unset or empty the fast one; MM_BUILD=tsan the metal-sim build under ThreadSanitizer, which
 * serves CPU devices too (it holds the whole CPU library). Any other value throws InvalidArgumentError
 * instead of silently testing the wrong library.
 */
export function envMode(): BuildMode {
  const m = process.env.MM_BUILD;
  if (m === undefined || m === "") return "fast";
  if (m === "tsan") return "metal-sim-tsan";
  if ((ENV_BUILD_MODES as readonly string[]).includes(m)) return m as BuildMode;
  const hint = m === "instrument" ? ' ("instrument" is chosen per device: Device.open({ instrument }))' : "";
  throw new InvalidArgumentError(
    `MM_BUILD: unknown build mode "${m}"; accepted: ${
      ENV_BUILD_MODES.join(", ")
    }, tsan (unset = fast)${hint}`,
    "MM_BUILD",
  );
}

function walk(dir: string, exts: string[], out: string[]): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, exts, out);
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
}

/**
 * Every file whose contents go into the library: C++ sources and headers, shaders, and the TypeScript
 * that turns shaders into C++ (the MSL front end, the rewriter, the builder).
 */
export function libraryInputs(metal = false): string[] {
  const files: string[] = [];
  walk(join(ROOT, "csrc", "include"), [".h"], files);
  walk(join(ROOT, "csrc", "core"), [".cpp", ".h"], files);
  walk(join(ROOT, "csrc", "cpu"), [".cpp", ".h", ".inc", ".S", ".s"], files);
  if (metal) walk(join(ROOT, "csrc", "metal"), [".mm", ".cpp", ".h", ".S"], files); // metal-sim builds only
  walk(join(ROOT, "shaders"), [".metal", ".h", ".json"], files);
  walk(join(ROOT, "lib", "msl"), [".ts", ".js"], files); // .js: the npm package ships compiled code
  walk(join(ROOT, "lib", "cpu"), [".ts", ".js"], files); // .js: the npm package ships compiled code
  walk(join(ROOT, "lib", "build"), [".ts", ".js"], files); // .js: the npm package ships compiled code
  return files;
}

/** Hash of the library's source inputs alone (what a load without a compiler can still check). */
export function sourceHash(metal = false): string {
  const h = createHash("sha256");
  for (const f of libraryInputs(metal)) {
    h.update(relative(ROOT, f) + "\n");
    h.update(readFileSync(f));
  }
  return h.digest("hex");
}

/** Hash of the library's inputs for one toolchain; equal hashes mean the built file is current. */
export function libraryHash(tc: Toolchain, sources: string = sourceHash(tc.objcFlags !== undefined)): string {
  const h = createHash("sha256");
  h.update(`${tc.version}\n${tc.compileFlags.join(" ")}\n${tc.linkFlags.join(" ")}\n${sources}`);
  return h.digest("hex");
}

/** Contents of build/<mode>/stamp.json. */
export interface Stamp {
  /** libraryHash(): sources + compiler + flags. */
  hash: string;
  /** sourceHash(): checked when no compiler is on PATH. */
  sources: string;
  /** Byte size of the library written with this stamp (checked before dlopen). */
  size: number;
  compiler: string;
  flags: string[];
}

/** Path of build/<mode>/stamp.json. */
export function stampPath(mode: BuildMode): string {
  return join(buildDir(mode), "stamp.json");
}

/** A stamp, or why the stamp file cannot be used ("corrupt: ..."), or undefined when it does not exist. */
export function readStampChecked(mode: BuildMode): Stamp | { corrupt: string } | undefined {
  const p = stampPath(mode);
  if (!existsSync(p)) return undefined;
  try {
    const s = JSON.parse(readFileSync(p, "utf8")) as Partial<Stamp> | null;
    if (
      s === null || typeof s !== "object" || typeof s.hash !== "string" || typeof s.sources !== "string" ||
      typeof s.size !== "number"
    ) {
      return { corrupt: `corrupt build stamp ${p}: missing hash, sources or size` };
    }
    return s as Stamp;
  } catch (e) {
    return { corrupt: `corrupt build stamp ${p}: ${(e as Error).message}` };
  }
}

/** Reads build/<mode>/stamp.json, undefined when absent or unreadable. */
export function readStamp(mode: BuildMode): Stamp | undefined {
  const s = readStampChecked(mode);
  return s === undefined || "corrupt" in s ? undefined : s;
}

/**
 * Why the library must be (re)built, or undefined when it is current. Without a toolchain (none on PATH)
 * only the sources are compared: a library built by an earlier compiler still loads.
 */
export function staleReason(mode: BuildMode, tc: Toolchain | undefined): string | undefined {
  if (!existsSync(libraryPath(mode))) return "not built yet";
  const stamp = readStampChecked(mode);
  if (stamp === undefined) return "no build stamp";
  if ("corrupt" in stamp) return stamp.corrupt;
  // The Metal backend's sources are inputs of the builds that hold it (metal-sim modes, macOS).
  const sources = sourceHash(
    tc ? tc.objcFlags !== undefined : isMetalSim(mode) || process.platform === "darwin",
  );
  if (tc === undefined) return stamp.sources === sources ? undefined : "sources changed";
  return stamp.hash === libraryHash(tc, sources) ? undefined : "sources or compiler changed";
}

/** Writes `data` to `path` through a temporary file + rename, so readers never see half a file. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tempName(path);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
