// Trace-mode memory profile of every shipped GEMM kernel at a fixed set of shapes (issue 5,
// deliverable 6) and of every layer kernel (norm, rope, attention, MoE, dequant) at model-like sizes
// (lib/cli/trace_layers.ts): bytes moved in 32-byte sectors / minimal bytes, and the worst hot-loop
// load's sectors per request / ideal. `bun bench/trace.ts` writes bench/results/trace.json (stamped);
// `bun bench/trace.ts --layers` re-traces only the layer kernels and keeps the file's GEMM rows.
// Figures come from the CPU shader runtime's trace mode (exact access counts), not from a GPU.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import { LAYER_TRACE_BENCH, traceLayers } from "../lib/cli/trace_layers.ts";
import { auditShaders } from "../lib/audit/memory.ts";
import { Device } from "../lib/api/device.ts";
import { QUANT_FORMATS } from "../lib/quant/formats.ts";
import {
  type DispatchSummary,
  summarizeDispatch,
  TRACE_BENCH_SHAPES,
  traceGemm,
} from "../lib/cli/profile.ts";
import { compareWithAudit } from "../lib/runtime/trace.ts";
import { stamp } from "./report.ts";

const GROUP_SIZES = [32, 64, 128, 256];

interface Row extends DispatchSummary {
  family: string;
  /** Static audit verdicts (lib/audit/memory.ts) that agree with the trace, over those it could match. */
  auditAgreement: { agree: number; matched: number };
  shape: { m: number; n: number; k: number; format: string; groupSize: number; splitK?: number };
}

const resultsUrl = new URL("./results/trace.json", import.meta.url);
const layersOnly = process.argv.includes("--layers");
let rows: Row[] = [];
const audit = auditShaders();
using dev = Device.open({ backend: "cpu", instrument: "trace" });
if (layersOnly && existsSync(resultsUrl)) rows = JSON.parse(readFileSync(resultsUrl, "utf8")).rows as Row[];
for (const s of layersOnly ? [] : TRACE_BENCH_SHAPES) {
  for (const format of QUANT_FORMATS) {
    for (const groupSize of GROUP_SIZES) {
      const shape = { m: s.m, n: s.n, k: s.k, format, groupSize, splitK: s.splitK };
      const report = traceGemm(shape, dev);
      for (const d of report.dispatches) {
        const accesses = audit.kernels.find((k) => k.name === d.kernel)?.accesses ?? [];
        const c = compareWithAudit(d, accesses);
        const auditAgreement = { agree: c.pairs.filter((p) => p.agrees).length, matched: c.pairs.length };
        const row = { family: s.family, shape, auditAgreement, ...summarizeDispatch(d) };
        rows.push(row);
        console.log(
          `${d.kernel.padEnd(26)} ${`${s.m}x${s.n}x${s.k}`.padEnd(12)} moved/minimal ${
            row.movedOverMinimal.toFixed(3)
          }  ` +
            `worst hot load ${row.worstHotRatio.toFixed(2)}x ideal (${row.worstHotLine})  ` +
            `audit agrees ${auditAgreement.agree}/${auditAgreement.matched}`,
        );
      }
    }
  }
}
/** One traced layer-op dispatch (lib/cli/trace_layers.ts at LAYER_TRACE_BENCH sizes). */
interface LayerRow extends DispatchSummary {
  op: string;
}
const layerRows: LayerRow[] = [];
for (const t of traceLayers(dev, LAYER_TRACE_BENCH)) {
  for (const d of t.report.dispatches) {
    const row = { op: t.op, ...summarizeDispatch(d) };
    layerRows.push(row);
    console.log(
      `${d.kernel.padEnd(22)} ${t.op.padEnd(62)} moved/minimal ${row.movedOverMinimal.toFixed(3)}  ` +
        `worst hot load ${row.worstHotRatio.toFixed(2)}x ideal (${row.worstHotLine})`,
    );
  }
}
const out = {
  ...stamp("cpu-trace"),
  note: "CPU shader runtime, trace mode: exact access counts, not GPU timings",
  rows,
  layerShape: LAYER_TRACE_BENCH,
  layerRows,
};
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(resultsUrl, JSON.stringify(out, null, 2) + "\n");
const agree = rows.reduce((n, r) => n + r.auditAgreement.agree, 0);
const matched = rows.reduce((n, r) => n + r.auditAgreement.matched, 0);
console.log(`static audit agrees with the trace on ${agree} of ${matched} matched accesses`);
console.log(`wrote bench/results/trace.json (${rows.length} GEMM + ${layerRows.length} layer dispatches)`);
