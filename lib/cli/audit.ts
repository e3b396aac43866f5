// `metal-marlin audit`: the static memory-access audit from the command line.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { auditShaders, summarize } from "../audit/memory.ts";

const AUDIT_HELP = `usage: metal-marlin audit [<dir> | <file.metal|.h> ...] [--json] [--max 10]
  static memory-access audit (coalesced / strided / sequential-per-thread / scattered / broadcast)
  of every kernel; default input: the package's shaders/ directory`;

const isShaderFile = (p: string): boolean => /\.(metal|h)$/.test(p);

/** Runs the audit subcommand; returns the exit code (findings are informational: 0). */
export function auditCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      max: { type: "string", default: "10" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(AUDIT_HELP);
    return 0;
  }
  const files = positionals.filter(isShaderFile);
  const dirs = positionals.filter((p) => !isShaderFile(p));
  if (dirs.length > 1 || (dirs.length > 0 && files.length > 0)) {
    console.error(AUDIT_HELP);
    return 2;
  }
  const report = files.length > 0
    ? auditShaders({ sources: files.map((f) => ({ name: f, source: readFileSync(f, "utf8") })) })
    : auditShaders(dirs.length > 0 ? { dir: dirs[0] } : {});
  console.log(values.json ? JSON.stringify(report, null, 2) : summarize(report, Number(values.max)));
  return 0;
}
