// AddressSanitizer catches an out-of-bounds device read planted in a test-only kernel and names the
// .metal line. The kernel runs in a child process on the ASan build (ASan aborts the process).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { arch } from "node:os";
import { fileURLToPath } from "node:url";
import { test } from "./harness.ts";

const clang = process.env.MM_ASAN_CC ?? "clang-16";
const machine = arch() === "arm64" ? "aarch64" : "x86_64";

function asanRuntime(): string | undefined {
  const r = spawnSync(clang, [`-print-file-name=libclang_rt.asan-${machine}.so`], { encoding: "utf8" });
  const path = r.status === 0 ? r.stdout.trim() : "";
  return path !== "" && existsSync(path) ? path : undefined;
}

const runtime = asanRuntime();
// On a machine without clang the check is skipped (the README's commands need only g++); CI sets
// MM_REQUIRE_ASAN=1 so a missing toolchain fails there instead of skipping.
const skip = runtime === undefined && process.env.MM_REQUIRE_ASAN !== "1"
  ? `${clang} with its ASan runtime is not installed`
  : undefined;

test("ASan build reports an out-of-bounds device read at the planted .metal line", () => {
  assert.ok(runtime, `${clang} ASan runtime not found (apt-get install -y clang-16 libclang-rt-16-dev)`);
  const fixture = new URL("./fixtures/kernels/oob_read.metal", import.meta.url);
  const line = readFileSync(fixture, "utf8").split("\n").findIndex((l) => l.includes("OOB_READ")) + 1;
  const child = fileURLToPath(new URL("./asan/oob_child.ts", import.meta.url));
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  const args = isDeno ? ["run", "-A", child] : [child];
  const r = spawnSync(process.execPath, args, {
    encoding: "utf8",
    env: {
      ...process.env,
      MM_BUILD: "asan",
      LD_PRELOAD: runtime,
      ASAN_OPTIONS: "detect_leaks=0:detect_stack_use_after_return=0",
    },
    timeout: 600_000,
  });
  assert.notEqual(r.status, 0, `child exited 0; stdout: ${r.stdout}`);
  assert.match(r.stderr, /ERROR: AddressSanitizer: heap-buffer-overflow/, r.stderr.slice(0, 4000));
  assert.match(r.stderr, new RegExp(`oob_read\\.metal:${line}\\b`), r.stderr.slice(0, 4000));
}, { skip });

test("cli asan <script>: one command runs a user script on the ASan build with the preload set up", () => {
  const fixture = new URL("./fixtures/kernels/oob_read.metal", import.meta.url);
  const line = readFileSync(fixture, "utf8").split("\n").findIndex((l) => l.includes("OOB_READ")) + 1;
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const child = fileURLToPath(new URL("./asan/oob_child.ts", import.meta.url));
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  const args = isDeno ? ["run", "-A", cli, "asan", child] : [cli, "asan", child];
  const env = { ...process.env };
  delete env.LD_PRELOAD; // the command sets it up itself
  delete env.MM_BUILD;
  const r = spawnSync(process.execPath, args, { encoding: "utf8", env, timeout: 600_000 });
  assert.notEqual(r.status, 0, `exited 0; stdout: ${r.stdout}`);
  assert.match(r.stderr, /ERROR: AddressSanitizer: heap-buffer-overflow/, r.stderr.slice(0, 4000));
  assert.match(r.stderr, new RegExp(`oob_read\\.metal:${line}\\b`), r.stderr.slice(0, 4000));
}, { skip });
