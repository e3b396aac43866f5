// `metal-marlin profile` draws a progress line for long dispatches: the CPU runtime's workers draw it
// from native code while the JS thread waits in the FFI call (issue #13). Run as a child process so its
// stderr can be read; --progress forces the line off a terminal, --progress-after 0 makes every dispatch
// "long".
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { test } from "./harness.ts";

const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

function profile(...extra: string[]) {
  const args = ["profile", "gemm", "--m", "4", "--n", "256", "--k", "512", "--json", ...extra];
  const r = spawnSync(process.execPath, isDeno ? ["run", "-A", cli, ...args] : [cli, ...args], {
    encoding: "utf8",
    timeout: 600_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return { report: JSON.parse(r.stdout), stderr: r.stderr };
}

test("profile --progress: the runtime draws threadgroups done of the dispatch's grid, ending at 100%", () => {
  const { report, stderr } = profile("--progress", "--progress-after", "0");
  const d = report.dispatches[0];
  const total = d.grid[0] * d.grid[1] * d.grid[2];
  assert.ok(total > 1, `grid ${d.grid}`);
  const line = new RegExp(
    `^profile ${d.kernel} \\[[#.]{30}\\] +(\\d+)%  (\\d+) / ${total} threadgroups  \\d+ s$`,
  );
  const draws = stderr.split(/[\r\n]/).filter((l) => l.startsWith("profile "));
  assert.ok(draws.length >= 2, stderr);
  let prev = 0;
  for (const l of draws) {
    const m = line.exec(l);
    assert.ok(m, `unexpected progress line: ${JSON.stringify(l)}`);
    const done = Number(m[2]);
    assert.ok(done >= prev && done <= total, l);
    assert.equal(Number(m[1]), Math.floor((done * 100) / total), l);
    prev = done;
  }
  assert.equal(prev, total, "the last draw shows every threadgroup");
  assert.match(stderr, new RegExp(`${total} / ${total} threadgroups  \\d+ s\\n`), "the line is ended");
});

test("profile off a terminal draws nothing; a bad --progress-after is refused with the value", () => {
  const { stderr } = profile("--progress-after", "0");
  assert.doesNotMatch(stderr, /threadgroups/);
  const args = ["profile", "gemm", "--progress-after=-5"];
  const r = spawnSync(process.execPath, isDeno ? ["run", "-A", cli, ...args] : [cli, ...args], {
    encoding: "utf8",
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--progress-after must be a whole number of milliseconds, got "-5"/);
});
