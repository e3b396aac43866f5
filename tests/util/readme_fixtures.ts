// Tiny stand-ins for the checkpoints README's "Loading real models" examples open, written by the
// fixture writers (tests/util) so the examples run as printed: one GPTQ, AWQ and MLX directory and a
// Q4_0 and an MXFP4 GGUF, each with one 64×64 q_proj layer (and a norm) under its real naming.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { le, writeSt } from "./st_writer.ts";
import { ggufBytes } from "./gguf_writer.ts";
import {
  packAwq,
  packGptqWeight,
  packGptqZeros,
  packMlx,
  packMxfp4,
  packQ4_0,
  randomCodes,
  randomHalves,
} from "./packers.ts";

const H = 64, GS = 32, G = H / GS;
const Q = "model.layers.0.self_attn.q_proj";

/** Writes every README fixture into `dir`. */
export function writeReadmeFixtures(dir: string): void {
  const q = randomCodes(H, H, 1);
  const z = randomCodes(G, H, 2).map((x) => 1 + (x % 14));
  const s = randomHalves(G * H, 3, 2 ** -8, 2 ** -5);
  const norm = {
    name: "model.norm.weight",
    dtype: "F16",
    shape: [H],
    bytes: le(new Float16Array(H).fill(1)),
  };
  const dirs = {
    gptq: join(dir, "Qwen2-0.5B-Instruct-GPTQ-Int4"),
    awq: join(dir, "Qwen2-0.5B-Instruct-AWQ"),
    mlx: join(dir, "Qwen2-0.5B-Instruct-4bit"),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  writeSt(join(dirs.gptq, "model.safetensors"), [
    { name: `${Q}.qweight`, dtype: "I32", shape: [H / 8, H], bytes: le(packGptqWeight(q, H, H)) },
    {
      name: `${Q}.qzeros`,
      dtype: "I32",
      shape: [G, H / 8],
      bytes: le(packGptqZeros(z.map((x) => x - 1), G, H)),
    },
    { name: `${Q}.scales`, dtype: "F16", shape: [G, H], bytes: le(s) },
    norm,
  ]);
  writeFileSync(
    join(dirs.gptq, "config.json"),
    JSON.stringify({
      quantization_config: { quant_method: "gptq", bits: 4, group_size: GS, desc_act: false },
    }),
  );
  writeSt(join(dirs.awq, "model.safetensors"), [
    {
      name: `${Q}.qweight`,
      dtype: "I32",
      shape: [H, H / 8],
      bytes: le(packAwq((k, n) => q[n * H + k], H, H)),
    },
    {
      name: `${Q}.qzeros`,
      dtype: "I32",
      shape: [G, H / 8],
      bytes: le(packAwq((g, n) => z[g * H + n], G, H)),
    },
    { name: `${Q}.scales`, dtype: "F16", shape: [G, H], bytes: le(s) },
    norm,
  ]);
  writeFileSync(
    join(dirs.awq, "config.json"),
    JSON.stringify({ quantization_config: { quant_method: "awq", bits: 4, group_size: GS } }),
  );
  writeSt(join(dirs.mlx, "model.safetensors"), [
    { name: `${Q}.weight`, dtype: "U32", shape: [H, H / 8], bytes: le(packMlx(q, H, H)) },
    { name: `${Q}.scales`, dtype: "BF16", shape: [H, G], bytes: le(new Uint16Array(H * G).fill(0x3c00)) },
    { name: `${Q}.biases`, dtype: "BF16", shape: [H, G], bytes: le(new Uint16Array(H * G).fill(0xbc00)) },
    norm,
  ]);
  writeFileSync(join(dirs.mlx, "config.json"), JSON.stringify({ quantization: { group_size: GS, bits: 4 } }));
  const d = randomHalves(H * G, 4, 2 ** -8, 2 ** -5);
  writeFileSync(
    join(dir, "qwen2-0_5b-instruct-q4_0.gguf"),
    ggufBytes([["general.architecture", 8, "qwen2"]], [
      { name: "blk.0.attn_q.weight", ne: [H, H], type: 2, bytes: packQ4_0(q, d, H, H) },
    ]),
  );
  // Two experts stacked: ne = [K, N, E], rows of expert 1 after those of expert 0.
  const e = Uint8Array.from({ length: 2 * H * G }, (_, i) => 118 + (i % 5));
  const q2 = new Uint8Array([...q, ...q.map((x) => 15 - x)]);
  writeFileSync(
    join(dir, "gpt-oss-mxfp4.gguf"),
    ggufBytes([["general.architecture", 8, "gpt-oss"]], [
      { name: "blk.0.ffn_up_exps.weight", ne: [H, H, 2], type: 39, bytes: packMxfp4(q2, e, 2 * H, H) },
    ]),
  );
}
