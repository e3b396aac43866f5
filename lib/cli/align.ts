// `metal-marlin align`: the alignment and padding audit of a model's GEMM shapes (lib/audit/alignment.ts)
// for a built-in model or a Hugging Face config.json.
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { auditAlignment, formatAlignmentReport } from "../audit/alignment.ts";
import { BUILTIN_MODELS, builtinModel, type ModelConfig, parseHfConfig } from "../audit/models.ts";
import { isQuantFormat } from "../quant/formats.ts";
import { modelFromCheckpoint } from "../audit/checkpoint_model.ts";

const ALIGN_HELP =
  `usage: metal-marlin align <model> [--m 1,7,128,2048] [--group-size 128] [--format fp4] [--json]
  <model>  built-in name (${Object.keys(BUILTIN_MODELS).join(", ")}), a Hugging Face config.json path,
           or a checkpoint (.safetensors / .gguf / model directory: its config checked against tensor shapes)`;

async function loadModel(spec: string): Promise<ModelConfig> {
  if (spec in BUILTIN_MODELS) return builtinModel(spec);
  if (spec.endsWith(".json")) return parseHfConfig(JSON.parse(readFileSync(spec, "utf8")), spec);
  if (existsSync(spec)) return await modelFromCheckpoint(spec);
  return builtinModel(spec); // throws, listing the built-in names
}

/** Runs `align` on its arguments; returns the exit code (2 for a usage error). */
export async function alignCommand(args: string[]): Promise<number> {
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
  const report = auditAlignment(await loadModel(positionals[0]), ms, {
    groupSize: Number(values["group-size"]),
    format,
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatAlignmentReport(report));
  return 0;
}
