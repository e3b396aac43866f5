#!/usr/bin/env bun
// metal-marlin command line: a subcommand dispatcher. `bunx metal-marlin align ...` or
// `deno run -A cli.ts align ...`. Add a subcommand by adding an entry to COMMANDS.
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { auditAlignment, formatAlignmentReport } from "./lib/audit/alignment.ts";
import { BUILTIN_MODELS, builtinModel, type ModelConfig, parseHfConfig } from "./lib/audit/models.ts";
import { auditCommand } from "./lib/cli/audit.ts";
import { profileCommand } from "./lib/cli/profile.ts";
import { isQuantFormat } from "./lib/quant/formats.ts";

interface Command {
  summary: string;
  /** Returns the process exit code. */
  run(args: string[]): number | Promise<number>;
}

const ALIGN_HELP =
  `usage: metal-marlin align <model> [--m 1,7,128,2048] [--group-size 128] [--format fp4] [--json]
  <model>  built-in name (${Object.keys(BUILTIN_MODELS).join(", ")}) or a Hugging Face config.json path`;

function loadModel(spec: string): ModelConfig {
  if (spec in BUILTIN_MODELS) return builtinModel(spec);
  if (spec.endsWith(".json")) return parseHfConfig(JSON.parse(readFileSync(spec, "utf8")), spec);
  return builtinModel(spec); // throws, listing the built-in names
}

function align(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      m: { type: "string", default: "1,7,16,128,2048" },
      "group-size": { type: "string", default: "128" },
      format: { type: "string", default: "fp4" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    (values.help ? console.log : console.error)(ALIGN_HELP);
    return values.help ? 0 : 2;
  }
  const format = values.format;
  if (!isQuantFormat(format)) {
    console.error(`align: unknown format "${format}"; expected fp4, int4 or int4-sym`);
    return 2;
  }
  const ms = values.m.split(",").map((s) => Number(s.trim()));
  const report = auditAlignment(loadModel(positionals[0]), ms, {
    groupSize: Number(values["group-size"]),
    format,
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatAlignmentReport(report));
  return 0;
}

const COMMANDS: Record<string, Command> = {
  align: { summary: "alignment and padding audit of a model's GEMM shapes", run: align },
  audit: { summary: "static memory-access audit of Metal kernels (coalescing, strides)", run: auditCommand },
  profile: {
    summary: "traced per-line memory traffic of a GEMM or kernel (CPU runtime, trace mode)",
    run: profileCommand,
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
