#!/usr/bin/env bun
// metal-marlin command line: a subcommand dispatcher. `bunx metal-marlin align ...` or
// `deno run -A cli.ts align ...`. Each subcommand lives in lib/cli/<name>.ts; add one there and give it an
// entry in COMMANDS.
import process from "node:process";
import { alignCommand } from "./lib/cli/align.ts";
import { asanCommand } from "./lib/cli/asan.ts";
import { auditCommand } from "./lib/cli/audit.ts";
import { buildCommand } from "./lib/cli/build.ts";
import { convertCommand } from "./lib/cli/convert.ts";
import { inspectCommand } from "./lib/cli/inspect.ts";
import { profileCommand } from "./lib/cli/profile.ts";
import { selftestCommand } from "./lib/cli/selftest.ts";

interface Command {
  summary: string;
  /** Returns the process exit code. */
  run(args: string[]): number | Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  align: { summary: "alignment and padding audit of a model's GEMM shapes", run: alignCommand },
  build: {
    summary: "build (or find) the native library; prints the MM_LIBRARY_PATH line",
    run: buildCommand,
  },
  asan: { summary: "run a script on the AddressSanitizer build (preload set up for you)", run: asanCommand },
  audit: { summary: "static memory-access audit of Metal kernels (coalescing, strides)", run: auditCommand },
  inspect: {
    summary:
      "tensors of a checkpoint (.safetensors, .gguf, model dir): formats, shapes, bits/weight, exact imports",
    run: inspectCommand,
  },
  convert: { summary: "convert a checkpoint to our format (<in> <out.safetensors>)", run: convertCommand },
  profile: {
    summary: "traced per-line memory traffic of a GEMM or kernel (CPU runtime, trace mode)",
    run: profileCommand,
  },
  selftest: {
    summary: "every built-in kernel family on metal (or metal-sim) against cpu, within the tolerance policy",
    run: selftestCommand,
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return ["usage: metal-marlin <command> [options]", "commands:", ...lines].join("\n");
}

/** Runs the CLI on `argv` (without the program name) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    console.error(`metal-marlin: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
