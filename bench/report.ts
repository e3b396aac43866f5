// Shared bench plumbing: run the registered mitata benches, print mitata's table, and write a JSON
// report stamped with machine, runtime, backend and git SHA to bench/results/<name>.<runtime>.json
// (or print the JSON to stdout with --json).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, totalmem } from "node:os";
import { run } from "mitata";

export interface Stamp {
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; arch: string };
  runtime: { name: "bun" | "deno"; version: string };
  backend: string;
  gitSha: string;
  date: string;
}

interface Env {
  Bun?: { version: string };
  Deno?: { version: { deno: string } };
}

export function stamp(backend: string): Stamp {
  const env = globalThis as unknown as Env;
  const runtime = env.Bun !== undefined
    ? { name: "bun" as const, version: env.Bun.version }
    : { name: "deno" as const, version: env.Deno?.version.deno ?? "unknown" };
  let gitSha = "unknown";
  try {
    gitSha = execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" }).trim();
  } catch { /* not a git checkout (installed package): keep "unknown" */ }
  return {
    machine: {
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: platform(),
      arch: arch(),
    },
    runtime,
    backend,
    gitSha,
    date: new Date().toISOString(),
  };
}

export interface BenchRow {
  name: string;
  args: Record<string, unknown>;
  avgNs: number;
  p50Ns: number;
  p99Ns: number;
  minNs: number;
  maxNs: number;
  samples: number;
  /** JS heap bytes allocated per iteration (mitata measures it where the runtime exposes it: Bun). */
  heapBytesAvg: number | null;
}

/**
 * Runs every bench registered with mitata so far and writes the stamped report. `derive` may add
 * figures computed from the rows (e.g. ns per fiber switch from a call doing 10,000 switches).
 */
export async function report(
  name: string,
  backend: string,
  derive: (rows: BenchRow[]) => Record<string, unknown> = () => ({}),
): Promise<void> {
  const json = process.argv.includes("--json");
  const result = await run(json ? { format: "quiet" } : {});
  const rows: BenchRow[] = [];
  for (const trial of result.benchmarks) {
    for (const r of trial.runs) {
      if (r.stats === undefined) throw new Error(`bench ${r.name} failed: ${String(r.error)}`);
      rows.push({
        name: r.name,
        args: r.args,
        avgNs: r.stats.avg,
        p50Ns: r.stats.p50,
        p99Ns: r.stats.p99,
        minNs: r.stats.min,
        maxNs: r.stats.max,
        samples: r.stats.samples.length,
        heapBytesAvg: r.stats.heap?.avg ?? null,
      });
    }
  }
  const derived = derive(rows);
  const doc = { bench: name, ...stamp(backend), derived, results: rows };
  const text = JSON.stringify(doc, null, 2);
  if (json) {
    console.log(text);
    return;
  }
  for (const [k, v] of Object.entries(derived)) console.log(`${k}: ${JSON.stringify(v)}`);
  const dir = new URL("./results/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.${doc.runtime.name}.json`, dir);
  writeFileSync(file, text + "\n");
  console.log(`\nwrote ${file.pathname}`);
}
