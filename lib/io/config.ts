// The JSON files beside a model's weights: config.json and the quantization settings in it (or in
// quantize_config.json / quant_config.json, as GPTQ and AWQ exports write them).
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { CheckpointError } from "./errors.ts";
import type { QuantConfig } from "./layers.ts";

const OP = "openCheckpoint";

/** Parses a JSON file; a parse error is a CheckpointError naming it. */
export function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new CheckpointError(OP, { file: path }, `is not valid JSON: ${(e as Error).message}`);
  }
}

/** The quantization settings a config.json / quantize_config.json gives. */
export function quantConfig(cfg: Record<string, unknown> | undefined, path: string): QuantConfig {
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const q = (cfg?.quantization_config ?? cfg?.quantization) as Record<string, unknown> | undefined;
  let extra: Record<string, unknown> | undefined;
  for (const f of ["quantize_config.json", "quant_config.json"]) {
    if (existsSync(join(dir, f))) extra = readJson(join(dir, f)) as Record<string, unknown>;
  }
  const src = { ...(extra ?? {}), ...(q ?? {}) };
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  return {
    method: str(src.quant_method),
    groupSize: num(src.group_size) ?? num(src.q_group_size),
    bits: num(src.bits) ?? num(src.w_bit),
    checkpointFormat: str(src.checkpoint_format),
  };
}
