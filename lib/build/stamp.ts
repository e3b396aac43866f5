// Where build outputs live and whether they are current. The loader calls isLibraryCurrent() on first
// use; the hash covers every input (sources, shim, shaders, rewriter, flags, compiler version).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../runtime/errors.ts";
import { type BuildMode, libraryFileName, type Toolchain } from "./toolchain.ts";

/**
 * Package root (the folder holding csrc/, shaders/, lib/), or "" when the package was imported from a
 * URL (e.g. jsr:), where no sources are on disk to build from: importing must still work there.
 */
export const ROOT: string = import.meta.url.startsWith("file:")
  ? resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")
  : "";

/** build/<mode>/ under the package root. */
export function buildDir(mode: BuildMode): string {
  return join(ROOT, "build", mode);
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
 * one, unset or empty the fast one. Any other value throws InvalidArgumentError instead of silently
 * testing the wrong library.
 */
export function envMode(): BuildMode {
  const m = process.env.MM_BUILD;
  if (m === undefined || m === "") return "fast";
  if ((ENV_BUILD_MODES as readonly string[]).includes(m)) return m as BuildMode;
  const hint = m === "instrument" ? ' ("instrument" is chosen per device: Device.open({ instrument }))' : "";
  throw new InvalidArgumentError(
    `MM_BUILD: unknown build mode "${m}"; accepted: ${ENV_BUILD_MODES.join(", ")} (unset = fast)${hint}`,
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
  walk(join(ROOT, "lib", "msl"), [".ts"], files);
  walk(join(ROOT, "lib", "cpu"), [".ts"], files);
  walk(join(ROOT, "lib", "build"), [".ts"], files);
  return files;
}

/** Hash of the library's inputs for one toolchain; equal hashes mean the built file is current. */
export function libraryHash(tc: Toolchain): string {
  const h = createHash("sha256");
  h.update(`${tc.version}\n${tc.compileFlags.join(" ")}\n${tc.linkFlags.join(" ")}\n`);
  for (const f of libraryInputs(tc.objcFlags !== undefined)) {
    h.update(relative(ROOT, f) + "\n");
    h.update(readFileSync(f));
  }
  return h.digest("hex");
}

/** Contents of build/<mode>/stamp.json. */
export interface Stamp {
  hash: string;
  compiler: string;
  flags: string[];
}

/** Reads build/<mode>/stamp.json, undefined when absent or unreadable. */
export function readStamp(mode: BuildMode): Stamp | undefined {
  const p = join(buildDir(mode), "stamp.json");
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, "utf8")) as Stamp;
  } catch {
    return undefined; // a corrupt stamp only means "rebuild"
  }
}

/** Why the library must be (re)built, or undefined when it is current. */
export function staleReason(mode: BuildMode, tc: Toolchain): string | undefined {
  if (!existsSync(libraryPath(mode))) return "not built yet";
  const stamp = readStamp(mode);
  if (!stamp) return "no build stamp";
  return stamp.hash === libraryHash(tc) ? undefined : "sources changed";
}

/** Writes `data` to `path` through a temporary file + rename, so readers never see half a file. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
