#!/usr/bin/env node
// The npm package's `bin`: metal-marlin runs on Bun and Deno only (bun:ffi / Deno.dlopen). Under either,
// run the CLI; under Node, hand over to bun or deno when one is on PATH, else say what to install
// instead of failing with a shell or module error.
import { spawnSync } from "node:child_process";
import process from "node:process";

const g = globalThis;
if (g.Bun !== undefined || g.Deno !== undefined) {
  const { main } = await import("./cli.js");
  process.exit(await main(process.argv.slice(2)));
} else {
  const cli = new URL("./cli.js", import.meta.url).pathname;
  const args = process.argv.slice(2);
  for (const [cmd, pre] of [["bun", []], ["deno", ["run", "-A"]]]) {
    const r = spawnSync(cmd, [...pre, cli, ...args], { stdio: "inherit" });
    if (r.error === undefined) process.exit(r.status ?? 1);
  }
  console.error(
    "metal-marlin runs on Bun or Deno, not Node.js (it needs bun:ffi or Deno.dlopen).\n" +
      "Install one, then run the same command through it:\n" +
      "  npm install -g bun    then  bunx metal-marlin " + args.join(" ") + "\n" +
      "  npm install -g deno   then  deno run -A npm:metal-marlin " + args.join(" "),
  );
  process.exit(1);
}
