// Where build outputs go. A source checkout builds into <root>/build (tests and scripts read it there);
// an installed package builds into a per-user cache, so a read-only or shared node_modules (or Deno's npm
// cache) is never written to.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Per-user cache root: $MM_CACHE_DIR, else $XDG_CACHE_HOME/metal-marlin, else ~/.cache/metal-marlin. */
export function userCacheDir(): string {
  const explicit = process.env.MM_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg ? xdg : join(homedir(), ".cache"), "metal-marlin");
}

function packageVersion(root: string): string {
  try {
    const v = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version?: unknown }).version;
    return typeof v === "string" ? v.replace(/[^\w.-]/g, "_") : "0";
  } catch {
    return "0";
  }
}

/**
 * Folder that holds build/<mode>/ trees for the package at `root`. A checkout (root/.git exists) or
 * MM_BUILD_IN_TREE=1 keeps <root>/build. Otherwise the user cache, keyed by version and install path so
 * two installed copies never overwrite each other's library while the other has it open.
 */
export function buildRootFor(root: string): string {
  if (process.env.MM_CACHE_DIR === undefined || process.env.MM_CACHE_DIR === "") {
    if (existsSync(join(root, ".git")) || process.env.MM_BUILD_IN_TREE === "1") return join(root, "build");
  }
  const key = createHash("sha256").update(root).digest("hex").slice(0, 10);
  return join(userCacheDir(), `${packageVersion(root)}-${key}`);
}
