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
import type { QuantFormat } from "../lib/quant/formats.ts";
import {
  type DispatchSummary,
  summarizeDispatch,
  TRACE_BENCH_SHAPES,
  traceGemm,
} from "../lib/cli/profile.ts";
import { compareWithAudit } from "../lib/runtime/trace.ts";
import { stamp } from "./report.ts";

// The three original formats at the group sizes traced before issue 11 (before/after comparison), then
// the new formats and group sizes: odd sizes, per channel (gs = K), mxfp4 / nvfp4 at their fixed size,
// and bf16 activations (which pick gemm_tiled_bf16 for prefill).
interface Variant {
  format: QuantFormat;
  groupSize: number | "channel";
  act?: "f16" | "bf16";
}
const VARIANTS: Variant[] = [
  ...(["fp4", "int4", "int4-sym"] as const).flatMap((format) =>
    [32, 64, 128, 256].map((groupSize) => ({ format, groupSize }))
  ),
  ...[8, 16, 40, 64, 128, "channel" as const].map((groupSize) => ({
    format: "int4-affine" as const,
    groupSize,
  })),
  { format: "int4-affine", groupSize: 64, act: "bf16" },
  { format: "int4", groupSize: "channel" },
  { format: "mxfp4", groupSize: 32 },
  { format: "nvfp4", groupSize: 16 },
];

interface Row extends DispatchSummary {
  family: string;
  /** Static audit verdicts (lib/audit/memory.ts) that agree with the trace, over those it could match. */
  auditAgreement: { agree: number; matched: number };
  shape: { m: number; n: number; k: number; format: string; groupSize: number; splitK?: number; act: string };
}

const resultsUrl = new URL("./results/trace.json", import.meta.url);
const layersOnly = process.argv.includes("--layers");
let rows: Row[] = [];
const audit = auditShaders();
using dev = Device.open({ backend: "cpu", instrument: "trace" });
if (layersOnly && existsSync(resultsUrl)) rows = JSON.parse(readFileSync(resultsUrl, "utf8")).rows as Row[];
for (const s of layersOnly ? [] : TRACE_BENCH_SHAPES) {
  for (const v of VARIANTS) {
    {
      const groupSize = v.groupSize === "channel" ? s.k : v.groupSize;
      const { format } = v;
      const shape = { m: s.m, n: s.n, k: s.k, format, groupSize, splitK: s.splitK, act: v.act ?? "f16" };
      const report = traceGemm(shape, dev);
      for (const d of report.dispatches) {
        const accesses = audit.kernels.find((k) => k.name === d.kernel)?.accesses ?? [];
        const c = compareWithAudit(d, accesses);
        const auditAgreement = { agree: c.pairs.filter((p) => p.agrees).length, matched: c.pairs.length };
        const row = { family: s.family, shape, auditAgreement, ...summarizeDispatch(d) };
        rows.push(row);
        console.log(
          `${d.kernel.padEnd(18)} ${format.padEnd(11)} gs${String(groupSize).padEnd(5)} ${shape.act} ${
            `${s.m}x${s.n}x${s.k}`.padEnd(12)
          } moved/minimal ${row.movedOverMinimal.toFixed(3)}  ` +
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
