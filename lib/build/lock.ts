// A cross-process, cross-Worker build lock: mkdir is atomic, so exactly one caller creates the lock
// folder; the others wait and then find the output already built. A lock whose owner died (or that is
// older than the longest build) is taken over, so a killed build never blocks later ones.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { LibraryLoadError } from "../runtime/errors.ts";

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread for `ms` (the loader is synchronous; Atomics.wait works in Workers and main threads). */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

function ownerAlive(dir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, "owner"), "utf8").split(" ")[0]);
  } catch {
    return true; // owner file not written yet: the creator is between mkdir and writeFile
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM"; // exists, owned by another user
  }
}

/** Options of withLock(). */
export interface LockOptions {
  /** Give up waiting after this long (default 15 minutes, longer than any build). */
  timeoutMs?: number;
  /** Called once when the lock is busy, so the user sees why nothing happens. */
  onWait?: () => void;
}

/** Runs `fn` holding the lock folder `path` (created next to the output it guards). */
export function withLock<T>(path: string, fn: () => T, opts: LockOptions = {}): T {
  const timeout = opts.timeoutMs ?? 15 * 60_000;
  const start = Date.now();
  let waited = false;
  for (;;) {
    try {
      mkdirSync(path);
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
    }
    let age = 0;
    try {
      age = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // released between our mkdir and stat: try again at once
    }
    if ((age > 2000 && !ownerAlive(path)) || age > timeout) {
      rmSync(path, { recursive: true, force: true }); // stale: its owner died mid-build
      continue;
    }
    if (Date.now() - start > timeout) {
      throw new LibraryLoadError(
        `build: lock ${path} still held after ${timeout} ms; remove it if no build runs`,
        "build",
      );
    }
    if (!waited) opts.onWait?.();
    waited = true;
    sleepSync(50);
  }
  try {
    writeFileSync(join(path, "owner"), `${process.pid} ${new Date().toISOString()}\n`);
    return fn();
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
}

/** Unique temporary name next to `path` (pid alone is shared by Workers of one process). */
export function tempName(path: string): string {
  return `${path}.tmp-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
}
