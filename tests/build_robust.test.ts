// Failure modes of build-on-first-use (issue #10 part 4). Each test runs the loader in a child process
// on its own copy of the package (tests/util/pkg_copy.ts), damaged one way, and checks what the user sees:
// a rebuild that loads, or an error naming the file, never a crash by signal. The copies are seeded with
// the checkout's object files, so a rebuild is one link step.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "./harness.ts";
import { packageCopy, runChild, runtimeArgs, shellScript } from "./util/pkg_copy.ts";

const LIB = join("build", "fast", "libmetal_marlin.so");
const okLoad = (r: { status: number | null; signal: string | null; stdout: string; stderr: string }) => {
  assert.equal(r.signal, null, `child died by ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^abi 1 /);
};
const buildLines = (stderr: string) =>
  stderr.split("\n").filter((l) => l.startsWith("metal-marlin: building"));

test("build: a current library loads with no compiler on PATH", () => {
  const dir = packageCopy();
  const r = runChild(dir, "probe.ts", { PATH: join(dir, "no-such-bin") });
  okLoad(r);
  assert.deepEqual(buildLines(r.stderr), []);
});

test("build: a truncated library is rebuilt once before dlopen (no SIGBUS), naming why", () => {
  const dir = packageCopy();
  const lib = join(dir, LIB);
  truncateSync(lib, Math.floor(readFileSync(lib).length / 2));
  const r = runChild(dir, "probe.ts");
  okLoad(r);
  const lines = buildLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /damaged: size \d+ bytes differs/);
});

test("build: a foreign file in place of the library is rebuilt", () => {
  const dir = packageCopy();
  const lib = join(dir, LIB);
  const size = readFileSync(lib).length;
  writeFileSync(lib, new Uint8Array(size).fill(0x41)); // same size as the stamp says, not an ELF file
  const r = runChild(dir, "probe.ts");
  okLoad(r);
  assert.match(buildLines(r.stderr)[0] ?? "", /not a ELF shared library|not a Mach-O/);
});

test("build: MM_LIBRARY_PATH at a truncated library is reported with its path, not loaded", () => {
  const dir = packageCopy();
  const lib = join(dir, LIB);
  truncateSync(lib, 4096);
  const r = runChild(dir, "probe.ts", { MM_LIBRARY_PATH: lib });
  assert.equal(r.signal, null);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(lib), r.stderr);
  assert.match(r.stderr, /MM_LIBRARY_PATH\) is not a usable library: truncated/);
});

test("build: a corrupt stamp file is named and the library rebuilt", () => {
  const dir = packageCopy();
  const stamp = join(dir, "build", "fast", "stamp.json");
  writeFileSync(stamp, '{"hash": "abc", "sour');
  const r = runChild(dir, "probe.ts");
  okLoad(r);
  assert.ok(buildLines(r.stderr)[0]?.includes(`corrupt build stamp ${stamp}`), r.stderr);
  assert.equal(typeof JSON.parse(readFileSync(stamp, "utf8")).size, "number");
});

test("build: no library and no compiler says what to install", () => {
  const dir = packageCopy();
  rmSync(join(dir, LIB));
  const r = runChild(dir, "probe.ts", { PATH: join(dir, "no-such-bin") });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not built yet; cannot build: toolchain: no usable C\+\+ compiler/);
  assert.match(r.stderr, /apt-get install g\+\+/);
});

test("build: a hanging compiler probe times out (MM_PROBE_TIMEOUT_MS) and is named", () => {
  const dir = packageCopy();
  rmSync(join(dir, LIB));
  const cxx = shellScript(dir, "hang-cxx", "sleep 30");
  const r = runChild(dir, "probe.ts", { MM_CXX: cxx, MM_PROBE_TIMEOUT_MS: "300" });
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`${cxx} (timed out after 300 ms)`), r.stderr);
});

test("build: a failing compile reports the compiler command to re-run", () => {
  const dir = packageCopy();
  rmSync(join(dir, LIB));
  const cxx = shellScript(
    dir,
    "bad-cxx",
    'if [ "$1" = --version ]; then exec g++ --version; fi\necho "x.cpp:1:1: error: injected failure" >&2; exit 1',
  );
  const r = runChild(dir, "probe.ts", { MM_CXX: cxx });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error: injected failure/);
  assert.ok(r.stderr.includes(`command (in ${dir}): ${cxx} `), r.stderr);
});

test("build: without sources on disk the error says exactly what to do", () => {
  const dir = packageCopy({ sources: false, inTree: false });
  const r = runChild(dir, "probe.ts");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /set MM_LIBRARY_PATH=/);
  assert.match(r.stderr, /npm:metal-marlin/);
  assert.match(r.stderr, /deno run -A npm:metal-marlin build/);
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

test("build: on a terminal the build shows its steps as they run", () => {
  const dir = packageCopy();
  rmSync(join(dir, LIB));
  const [cmd, args] = runtimeArgs("probe.ts");
  const line = [cmd, ...args].map((a) => `'${a}'`).join(" ");
  const env: Record<string, string | undefined> = {
    ...process.env,
    MM_BUILD: "",
    MM_LIBRARY_PATH: "",
    MM_CXX: "",
  };
  delete env.LD_PRELOAD;
  // script(1) gives the child a pseudo-terminal; its output comes back on script's stdout.
  const r = spawnSync("script", ["-qec", line, "/dev/null"], {
    cwd: dir,
    env,
    encoding: "utf8",
    timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /metal-marlin: building .*not built yet/);
  assert.match(r.stdout, /metal-marlin: link /); // the build's own progress lines, shown only on a TTY
  assert.match(r.stdout, /abi 1 /);
}, { skip: hasScript ? undefined : "needs script(1) from util-linux" });
