// `metal-marlin inspect <file|dir>`: every tensor of a checkpoint with its source format, shape, bits per
// weight, bytes and projection, and whether it imports exactly (and if not, why); totals at the end.
import { parseArgs } from "node:util";
import { openCheckpoint, type TensorInfo } from "../io/checkpoint.ts";

const HELP = `usage: metal-marlin inspect <file.safetensors|file.gguf|model-dir> [--json] [--verify]
  lists tensors, formats, shapes, bits/weight, bytes and which import exactly
  --verify  also runs every import (checks data, e.g. GPTQ g_idx and zero points; reads all weights)`;

/** Summary of a checkpoint: per-tensor infos and totals. */
export interface InspectReport {
  path: string;
  tensors: TensorInfo[];
  totalBytes: number;
  quantizedTensors: number;
  exactTensors: number;
  sources: Record<string, number>;
}

/** Builds the inspect report (with `verify`, every quantized tensor is imported and refusals recorded). */
export async function inspectCheckpoint(path: string, verify = false): Promise<InspectReport> {
  const ck = await openCheckpoint(path);
  try {
    const tensors = ck.names().map((n) => {
      const info = ck.info(n);
      if (!verify || !info.quantized || !info.exact) return info;
      try {
        ck.quantized(n);
        return info;
      } catch (e) {
        return { ...info, exact: false, reason: (e as Error).message };
      }
    });
    const sources: Record<string, number> = {};
    for (const t of tensors) sources[t.source] = (sources[t.source] ?? 0) + 1;
    return {
      path,
      tensors,
      totalBytes: tensors.reduce((a, t) => a + t.bytes, 0),
      quantizedTensors: tensors.filter((t) => t.quantized).length,
      exactTensors: tensors.filter((t) => t.quantized && t.exact).length,
      sources,
    };
  } finally {
    ck.close();
  }
}

function human(b: number): string {
  if (b >= 1e9) return `${(b / 1e9).toFixed(2)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(2)} MB`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(1)} kB`;
  return `${b} B`;
}

/** Text table of an inspect report. */
export function formatInspect(r: InspectReport): string {
  const rows = r.tensors.map((t) => [
    t.name,
    t.source,
    `[${t.shape.join(", ")}]`,
    t.bitsPerWeight.toFixed(2),
    human(t.bytes),
    t.projection ?? "",
    t.quantized ? (t.exact ? "yes" : `no: ${t.reason}`) : "-",
  ]);
  const head = ["tensor", "source", "shape", "bits/w", "bytes", "proj", "imports exactly"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (i === 6 ? 0 : row[i].length))));
  const line = (c: string[]) => c.map((x, i) => (i === 6 ? x : x.padEnd(w[i]))).join("  ");
  const src = Object.entries(r.sources).map(([s, n]) => `${s} ×${n}`).join(", ");
  return [
    line(head),
    ...rows.map(line),
    "",
    `${r.tensors.length} tensors, ${
      human(r.totalBytes)
    }; ${r.quantizedTensors} quantized, ${r.exactTensors} import exactly`,
    `sources: ${src}`,
  ].join("\n");
}

/** Runs `inspect`; returns the exit code. */
export async function inspectCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      verify: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    (values.help ? console.log : console.error)(HELP);
    return values.help ? 0 : 2;
  }
  const r = await inspectCheckpoint(positionals[0], values.verify);
  console.log(values.json ? JSON.stringify(r, null, 2) : formatInspect(r));
  return 0;
}
