// Throwaway copies of the package for build failure-mode tests: each test damages its own copy and runs
// the loader in a child process (a SIGBUS or a hang must fail the test, not kill the runner).
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ROOT } from "../../lib/build/stamp.ts";

const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;

/** Options of packageCopy(). */
export interface CopyOptions {
  /** Copy csrc/ (default true): false gives the layout of a jsr: import without sources. */
  sources?: boolean;
  /** Mark the copy as a checkout (builds into <copy>/build) and seed it with the checkout's build/fast. */
  inTree?: boolean;
}

/** A fresh copy of the package (lib, csrc, shaders, build script, package.json) in a temp folder. */
export function packageCopy(opts: CopyOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "mm-pkg-"));
  chmodSync(dir, 0o755);
  for (const p of ["lib", "shaders", "scripts/build.ts", "package.json", "mod.ts"]) {
    cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  }
  if (opts.sources !== false) cpSync(join(ROOT, "csrc"), join(dir, "csrc"), { recursive: true });
  if (opts.inTree !== false) {
    writeFileSync(join(dir, ".git"), "gitdir: none\n"); // a checkout: build/ in the tree
    const fast = join(ROOT, "build", "fast");
    if (existsSync(fast)) {
      mkdirSync(join(dir, "build"), { recursive: true });
      cpSync(fast, join(dir, "build", "fast"), { recursive: true, filter: (p) => !p.includes("modules") });
    }
  }
  writeFileSync(
    join(dir, "probe.ts"),
    `import { loadNative } from "./lib/ffi/native.ts";\n` +
      `const n = loadNative();\nconsole.log("abi " + n.fns.mm_abi_version() + " " + n.path);\n`,
  );
  return dir;
}

/** Result of a child run. */
export interface ChildResult {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Command line that runs `script` under this test's runtime. */
export function runtimeArgs(script: string, exe: string = process.execPath): [string, string[]] {
  return isBun ? [exe, [script]] : [exe, ["run", "-A", script]];
}

/**
 * Runs `script` (in `cwd`) under this runtime with extra env; `prefix` wraps the command (setpriv, script);
 * `exe` is the runtime's executable (default: this one).
 */
export function runChild(
  cwd: string,
  script: string,
  env: Record<string, string | undefined> = {},
  prefix: string[] = [],
  exe: string = process.execPath,
): ChildResult {
  const [cmd, args] = runtimeArgs(script, exe);
  const full: Record<string, string | undefined> = {
    ...process.env,
    MM_BUILD: "",
    MM_LIBRARY_PATH: "",
    MM_CXX: "",
    ...env,
  };
  delete full.LD_PRELOAD;
  const all = [...prefix, cmd, ...args];
  const r = spawnSync(all[0]!, all.slice(1), { cwd, env: full, encoding: "utf8", timeout: 240_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Writes an executable shell script and returns its path. */
export function shellScript(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}
