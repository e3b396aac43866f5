// Ctrl-C during a long CPU dispatch: the runtime stops between threadgroups and hands SIGINT to the
// host runtime's handler, so the process ends promptly instead of ignoring the signal until the
// dispatch finished (a child process: the signal ends it).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { test } from "./harness.ts";

const child = fileURLToPath(new URL("./fixtures/interrupt/long_gemm.ts", import.meta.url));
const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;

test("interrupt: SIGINT during a long GEMM ends the process within 10 s, before the GEMM finished", async () => {
  const args = isDeno ? ["run", "-A", child] : [child];
  const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  p.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    p.on("exit", (code: number | null, signal: string | null) => resolve({ code, signal }))
  );
  await new Promise<void>((resolve, reject) => {
    p.stdout!.on("data", (d: Uint8Array) => {
      out += new TextDecoder().decode(d);
      if (out.includes("ready")) resolve();
    });
    p.on("exit", () => reject(new Error(`child exited before ready:\n${out}\n${err}`)));
  });
  await new Promise((r) => setTimeout(r, 1500)); // inside the dispatch (4096 threadgroups, ~10 ms each)
  const sent = Date.now();
  p.kill("SIGINT");
  const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
  const how = await exited;
  clearTimeout(timer);
  const seconds = (Date.now() - sent) / 1000;
  assert.ok(!out.includes("done"), `the GEMM ran to completion despite SIGINT:\n${out}`);
  assert.ok(
    seconds < 10,
    `exited ${seconds.toFixed(1)} s after SIGINT (${JSON.stringify(how)})\n${out}\n${err}`,
  );
  assert.ok(how.signal === "SIGINT" || how.code !== 0, `exit status ${JSON.stringify(how)}`);
});
