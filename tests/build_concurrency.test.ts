// Build-on-first-use under concurrency and with a read-only package (issue #10 part 4): processes that
// start together build once; an installed package builds into the user cache, not into its own folder.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { packageCopy, runChild, runtimeArgs, shellScript } from "./util/pkg_copy.ts";
import { ROOT } from "../lib/build/stamp.ts";
import { buildRootFor } from "../lib/build/cache_dir.ts";
import { libraryProblem } from "../lib/build/validate.ts";

function runAsync(cwd: string, script: string, env: Record<string, string>): Promise<string> {
  const [cmd, args] = runtimeArgs(script);
  const full: Record<string, string | undefined> = {
    ...process.env,
    MM_BUILD: "",
    MM_LIBRARY_PATH: "",
    ...env,
  };
  delete full.LD_PRELOAD;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: full, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
    child.on(
      "close",
      (code: number | null) => code === 0 ? resolve(out + err) : reject(new Error(`exit ${code}: ${err}`)),
    );
  });
}

test("build: three processes starting together build the library once", async () => {
  const dir = packageCopy();
  rmSync(join(dir, "build", "fast", "libmetal_marlin.so"));
  const outs = await Promise.all([0, 1, 2].map(() => runAsync(dir, "probe.ts", {})));
  for (const o of outs) assert.match(o, /abi 1 /);
  const builds = outs.join("\n").split("\n").filter((l) => l.startsWith("metal-marlin: building"));
  assert.equal(builds.length, 1, outs.join("\n---\n"));
});

test("build: Workers compiling the same kernel compile it once (lock, unique temp names)", () => {
  const dir = packageCopy();
  const log = join(dir, "cxx.log");
  const cxx = shellScript(dir, "log-cxx", `echo "$@" >> ${log}\nexec g++ "$@"`);
  writeFileSync(
    join(dir, "worker.ts"),
    `import { compileModule } from "./lib/build/build.ts";\n` +
      `const src = "#include <metal_stdlib>\\nusing namespace metal;\\nkernel void k(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) { x[i] += 1.0f; }";\n` +
      `self.postMessage(compileModule(src, { name: "k.metal", mode: "fast" }));\n`,
  );
  writeFileSync(
    join(dir, "workers.ts"),
    `const paths = await Promise.all([0, 1, 2].map(() => new Promise((ok, bad) => {\n` +
      `  const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });\n` +
      `  w.onmessage = (e) => { ok(e.data); w.terminate(); }; w.onerror = (e) => bad(e);\n` +
      `})));\nconsole.log(JSON.stringify(paths));\n`,
  );
  const r = runChild(dir, "workers.ts", { MM_CXX: cxx });
  assert.equal(r.status, 0, r.stderr);
  const paths = JSON.parse(r.stdout.trim()) as string[];
  assert.equal(new Set(paths).size, 1);
  const compiles = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("-shared"));
  assert.equal(compiles.length, 1, compiles.join("\n"));
  // A damaged cached module is found before dlopen and compiled again, once.
  writeFileSync(paths[0]!, "truncated");
  assert.match(libraryProblem(paths[0]!) ?? "", /not a ELF shared library/);
  const again = runChild(dir, "workers.ts", { MM_CXX: cxx });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(libraryProblem(paths[0]!), undefined); // a sound library again
  assert.equal(readFileSync(log, "utf8").split("\n").filter((l) => l.includes("-shared")).length, 2);
});

const asNobody = process.getuid?.() === 0
  ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
  : [];
const noSetpriv = asNobody.length > 0 && spawnSync("setpriv", ["--version"]).status !== 0;

/**
 * The runtime's executable as `nobody` can run it. A checkout under a directory only root may enter
 * (`mktemp -d` makes 0700 directories, /root is 0700) hides node_modules/.bin from `nobody`: then the
 * executable is copied into a 0755 temporary directory.
 */
function runtimeForNobody(): string {
  // Asked of a shell run as nobody: setpriv's own exec of the runtime can succeed where the runtime's
  // later spawn of itself (the build) fails, so only an access check after the switch tells.
  const probe = spawnSync(asNobody[0]!, [
    ...asNobody.slice(1),
    "/bin/sh",
    "-c",
    '[ -x "$0" ]',
    process.execPath,
  ]);
  if (probe.status === 0) return process.execPath;
  const d = mkdtempSync(join(tmpdir(), "mm-runtime-"));
  chmodSync(d, 0o755);
  const exe = join(d, basename(process.execPath));
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  return exe;
}

test("build: an installed package in a read-only folder builds into $XDG_CACHE_HOME/metal-marlin", () => {
  const dir = packageCopy({ inTree: false }); // no .git: an installed package
  const xdg = join(dir, "xdg");
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = xdg;
  const cacheRoot = buildRootFor(dir);
  if (saved === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = saved;
  assert.ok(cacheRoot.startsWith(join(xdg, "metal-marlin")), cacheRoot);
  // Seed the cache's object files, so the build is one link step instead of a full compile.
  cpSync(join(ROOT, "build", "fast", "obj"), join(cacheRoot, "fast", "obj"), { recursive: true });
  if (asNobody.length > 0) spawnSync("chown", ["-R", "65534:65534", xdg]);
  spawnSync("chmod", ["-R", "a-w", ...readdirSync(dir).filter((p) => p !== "xdg").map((p) => join(dir, p))]);
  chmodSync(dir, 0o555);
  const exe = asNobody.length > 0 ? runtimeForNobody() : process.execPath;
  try {
    const r = runChild(dir, "probe.ts", { XDG_CACHE_HOME: xdg, HOME: xdg }, asNobody, exe);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(join(cacheRoot, "fast", "libmetal_marlin.so")), r.stdout);
    assert.ok(!existsSync(join(dir, "build")));
  } finally {
    chmodSync(dir, 0o755);
    if (exe !== process.execPath) rmSync(join(exe, ".."), { recursive: true, force: true });
  }
}, { skip: noSetpriv ? "needs setpriv to drop root" : undefined });
