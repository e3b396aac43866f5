// A small decoder layer for tests and the example: random weights quantized in several formats, uploaded,
// and the same matrices kept for the float64 reference (lib/reference/layer.ts).
import { quantize } from "../lib/quant/quantize.ts";
import type { QuantFormat } from "../lib/quant/formats.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";
import type { LayerRefWeights } from "../lib/reference/layer.ts";
import type { DecoderWeights, Device } from "../mod.ts";
import { rng } from "./gemm_helpers.ts";
import { roundBf16 } from "../lib/reference/round.ts";
import { f32ToBf16 } from "../lib/quant/convert.ts";

/** Sizes of the test layer: hidden 64, 4 query heads and 2 KV heads of 16, MLP 96; MoE 8 experts of 32. */
export const CFG = {
  hidden: 64,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  ffn: 96,
  experts: 8,
  expertFfn: 32,
  topK: 2,
};

function weight(
  k: number,
  n: number,
  format: QuantFormat,
  gs: number,
  seed: number,
  batch?: number,
): QuantizedMatrix {
  const r = rng(seed);
  const w = Float32Array.from({ length: (batch ?? 1) * k * n }, () => r() / Math.sqrt(k) * 1.7);
  return quantize(w, { k, n, format, groupSize: gs, layout: "nk", batch });
}

/**
 * Host weights (every format appears): dense MLP or MoE with a shared expert. Norms and the router hold
 * values of `dtype` (bf16: as an MLX bf16 model ships them), for uploadLayer with the same dtype.
 */
export function layerWeights(moe: boolean, seed = 1, dtype: "f16" | "bf16" = "f16"): LayerRefWeights {
  const { hidden: h, heads, kvHeads, headDim: D, ffn, experts: E, expertFfn: F } = CFG;
  const r = rng(seed);
  const values = (len: number, f: () => number): ArrayLike<number> =>
    dtype === "bf16" ? roundBf16(Array.from({ length: len }, f)) : Float16Array.from({ length: len }, f);
  const norm = () => values(h, () => 1 + 0.3 * r());
  const base = {
    attnNorm: norm(),
    qkv: weight(h, (heads + 2 * kvHeads) * D, "fp4", 32, seed + 1),
    o: weight(heads * D, h, "int4", 32, seed + 2),
    mlpNorm: norm(),
  };
  if (!moe) {
    return {
      ...base,
      mlp: {
        gate: weight(h, ffn, "int4-sym", 64, seed + 3),
        up: weight(h, ffn, "int4-sym", 64, seed + 4),
        down: weight(ffn, h, "fp4", 32, seed + 5),
      },
    };
  }
  return {
    ...base,
    mlp: {
      router: values(E * h, () => r() * 0.5),
      gate: weight(h, F, "int4", 32, seed + 6, E),
      up: weight(h, F, "int4", 32, seed + 7, E),
      down: weight(F, h, "fp4", 32, seed + 8, E),
      topK: CFG.topK,
      shared: {
        gate: weight(h, F, "fp4", 64, seed + 9),
        up: weight(h, F, "fp4", 64, seed + 10),
        down: weight(F, h, "int4-sym", 32, seed + 11),
      },
    },
  };
}

/** Uploads host weights to `dev` (owned by the device); norms and router as `dtype` tensors. */
export function uploadLayer(dev: Device, w: LayerRefWeights, dtype: "f16" | "bf16" = "f16"): DecoderWeights {
  const up = (q: QuantizedMatrix) => dev.upload(q);
  const dense = (v: ArrayLike<number>, shape?: number[]) =>
    dtype === "bf16"
      ? dev.tensor(f32ToBf16(Float32Array.from(v)), shape, "bf16")
      : dev.tensor(Float16Array.from(v), shape);
  const m = w.mlp;
  return {
    attnNorm: dense(w.attnNorm),
    qkv: up(w.qkv),
    o: up(w.o),
    mlpNorm: dense(w.mlpNorm),
    mlp: "router" in m
      ? {
        router: dense(m.router, [CFG.experts, CFG.hidden]),
        gate: up(m.gate),
        up: up(m.up),
        down: up(m.down),
        topK: m.topK,
        shared: m.shared
          ? { gate: up(m.shared.gate), up: up(m.shared.up), down: up(m.shared.down) }
          : undefined,
      }
      : { gate: up(m.gate), up: up(m.up), down: up(m.down) },
  };
}
