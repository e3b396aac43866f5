// A small decoder layer for tests and the example: random weights quantized in several formats, uploaded,
// and the same matrices kept for the float64 reference (lib/reference/layer.ts).
import { quantize } from "../lib/quant/quantize.ts";
import type { QuantFormat } from "../lib/quant/formats.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";
import type { LayerRefWeights } from "../lib/reference/layer.ts";
import type { DecoderWeights, Device } from "../mod.ts";
import { rng } from "./gemm_helpers.ts";

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

/** Host weights (every format appears): dense MLP or MoE with a shared expert. */
export function layerWeights(moe: boolean, seed = 1): LayerRefWeights {
  const { hidden: h, heads, kvHeads, headDim: D, ffn, experts: E, expertFfn: F } = CFG;
  const r = rng(seed);
  const norm = () => Float16Array.from({ length: h }, () => 1 + 0.3 * r());
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
      router: Float16Array.from({ length: E * h }, () => r() * 0.5),
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

/** Uploads host weights to `dev` (owned by the device). */
export function uploadLayer(dev: Device, w: LayerRefWeights): DecoderWeights {
  const up = (q: QuantizedMatrix) => dev.upload(q);
  const m = w.mlp;
  return {
    attnNorm: dev.tensor(Float16Array.from(w.attnNorm as ArrayLike<number>)),
    qkv: up(w.qkv),
    o: up(w.o),
    mlpNorm: dev.tensor(Float16Array.from(w.mlpNorm as ArrayLike<number>)),
    mlp: "router" in m
      ? {
        router: dev.tensor(Float16Array.from(m.router as ArrayLike<number>), [CFG.experts, CFG.hidden]),
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
