// The checkpoint CLI: inspect (formats, shapes, bits/weight, exact or why not), convert (our format,
// skipped tensors reported), align on a checkpoint (config checked against tensor shapes), and the
// progress line's arithmetic.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./harness.ts";
import { main } from "../cli.ts";
import { le, type StTensor, writeSt } from "./util/st_writer.ts";
import { ggufBytes } from "./util/gguf_writer.ts";
import {
  packGptqWeight,
  packGptqZeros,
  packMxfp4,
  packQ4_0,
  randomCodes,
  randomHalves,
} from "./util/packers.ts";
import { formatProgress } from "../lib/cli/progress.ts";
import { openCheckpoint } from "../lib/io/checkpoint.ts";

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log, err = console.error;
  console.log = (s: string) => lines.push(s);
  console.error = (s: string) => lines.push(s);
  try {
    const code = await main(argv);
    return { code, out: lines.join("\n") };
  } finally {
    console.log = log;
    console.error = err;
  }
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "mm-cli-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

// A tiny Llama-shaped model: hidden 64, 4 heads of 16 (2 KV heads), intermediate 96, vocab 40.
const H = 64, F = 96, V = 40, KV = 32;
function tinyModel(dir: string, kvRows = KV): void {
  const f16 = (name: string, shape: number[]): StTensor => ({
    name,
    dtype: "F16",
    shape,
    bytes: new Uint8Array(shape[0] * shape[1] * 2),
  });
  const q = randomCodes(H, H, 1),
    z = randomCodes(2, H, 2).map((x) => 1 + (x % 14)),
    s = randomHalves(2 * H, 3);
  writeSt(join(dir, "model.safetensors"), [
    f16("model.embed_tokens.weight", [V, H]),
    {
      name: "model.layers.0.self_attn.q_proj.qweight",
      dtype: "I32",
      shape: [H / 8, H],
      bytes: le(packGptqWeight(q, H, H)),
    },
    {
      name: "model.layers.0.self_attn.q_proj.qzeros",
      dtype: "I32",
      shape: [2, H / 8],
      bytes: le(packGptqZeros(z.map((x) => x - 1), 2, H)),
    },
    { name: "model.layers.0.self_attn.q_proj.scales", dtype: "F16", shape: [2, H], bytes: le(s) },
    f16("model.layers.0.self_attn.k_proj.weight", [kvRows, H]),
    f16("model.layers.0.self_attn.v_proj.weight", [KV, H]),
    f16("model.layers.0.self_attn.o_proj.weight", [H, H]),
    f16("model.layers.0.mlp.gate_proj.weight", [F, H]),
    f16("model.layers.0.mlp.up_proj.weight", [F, H]),
    f16("model.layers.0.mlp.down_proj.weight", [H, F]),
    f16("lm_head.weight", [V, H]),
  ]);
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: "llama",
      hidden_size: H,
      intermediate_size: F,
      vocab_size: V,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      num_hidden_layers: 1,
      quantization_config: { quant_method: "gptq", bits: 4, group_size: 32 },
    }),
  );
}

test(
  "CLI inspect: sources, shapes, bits/weight, bytes, projections and exactness; --json",
  withDir(async (dir) => {
    tinyModel(dir);
    const t = await run(["inspect", dir]);
    assert.equal(t.code, 0, t.out);
    const q = t.out.split("\n").find((l) => l.startsWith("model.layers.0.self_attn.q_proj.weight"))!;
    assert.match(q, /gptq\s+\[64, 64\]\s+4\.63\s+2\.4 kB\s+q\s+yes/); // (2048 + 64 + 256) bytes * 8 / 4096
    assert.match(t.out, /9 tensors, .*; 1 quantized, 1 import exactly/);
    const j = JSON.parse((await run(["inspect", dir, "--json"])).out);
    assert.equal(j.tensors.find((x: { name: string }) => x.name === "lm_head.weight").projection, "lm_head");
    assert.equal(j.quantizedTensors, 1);
    const g = join(dir, "k.gguf");
    writeFileSync(
      g,
      ggufBytes([], [{ name: "blk.0.ffn_down.weight", ne: [256, 2], type: 12, bytes: new Uint8Array(288) }]),
    );
    assert.match((await run(["inspect", g])).out, /gguf:Q4_K .* no: Q4_K cannot be imported exactly/);
    // A data-dependent refusal (an E8M0 scale of 255 = NaN) shows only with --verify, which imports.
    const nan = join(dir, "nan.gguf");
    const e = new Uint8Array(8).fill(127);
    e[3] = 255;
    writeFileSync(
      nan,
      ggufBytes([], [{ name: "w", ne: [32, 8], type: 39, bytes: packMxfp4(new Uint8Array(256), e, 8, 32) }]),
    );
    assert.match((await run(["inspect", nan])).out, /gguf:MXFP4 .* yes/);
    assert.match(
      (await run(["inspect", nan, "--verify"])).out,
      /gguf:MXFP4 .* no: quantized: .*E8M0 scale 255 \(NaN\)/,
    );
    assert.equal((await run(["inspect"])).code, 2);
  }),
);

test(
  "CLI convert: writes our format (reloads with the same packed data) and reports skipped tensors",
  withDir(async (dir) => {
    const model = join(dir, "model");
    mkdirSync(model);
    tinyModel(model);
    const out = join(dir, "out.safetensors"); // outside the model directory, or the directory would hold both
    const r = await run(["convert", model, out]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /1 quantized, 8 copied, 0 skipped/);
    const a = await openCheckpoint(model), b = await openCheckpoint(out);
    try {
      const name = "model.layers.0.self_attn.q_proj.weight";
      assert.deepEqual(b.quantized(name).packed, a.quantized(name).packed);
      assert.equal(b.info(name).source, "metal-marlin:int4");
    } finally {
      a.close();
      b.close();
    }
    const n = 8, k = 32, g = join(dir, "m.gguf");
    writeFileSync(
      g,
      ggufBytes([], [
        { name: "a", ne: [k, n], type: 2, bytes: packQ4_0(randomCodes(n, k, 4), randomHalves(n, 5), n, k) },
        { name: "b", ne: [256, 1], type: 12, bytes: new Uint8Array(144) },
      ]),
    );
    const failed = await run(["convert", g, out]);
    assert.equal(failed.code, 1);
    assert.match(failed.out, /tensor "b": Q4_K cannot be imported exactly/);
    const skipped = await run(["convert", g, out, "--skip-inexact"]);
    assert.equal(skipped.code, 0);
    assert.match(skipped.out, /skipped b: .*Q4_K/);
    assert.match(skipped.out, /1 quantized, 0 copied, 1 skipped/);
    assert.equal((await run(["convert", g, join(dir, "x.bin")])).code, 2);
  }),
);

test(
  "CLI align on a checkpoint: config.json or GGUF metadata, checked against the tensor shapes",
  withDir(async (dir) => {
    tinyModel(dir);
    const r = await run(["align", dir, "--m", "1", "--json"]);
    assert.equal(r.code, 0, r.out);
    const rows = JSON.parse(r.out).rows as { projection: string; k: number; n: number }[];
    assert.deepEqual(
      rows.filter((x) => ["q_proj", "k_proj", "down_proj"].includes(x.projection)).map((
        x,
      ) => [x.projection, x.k, x.n]),
      [
        ["q_proj", H, H],
        ["k_proj", H, KV],
        ["down_proj", F, H],
      ],
    );
    // A converted file carries its source's config, so align works on it too.
    const out = `${dir}-converted.safetensors`; // beside the model directory, not inside it
    try {
      assert.equal((await run(["convert", dir, out])).code, 0);
      const conv = await run(["align", out, "--m", "1", "--json"]);
      assert.equal(conv.code, 0, conv.out);
      assert.deepEqual(JSON.parse(conv.out).rows, JSON.parse(r.out).rows);
    } finally {
      rmSync(out, { force: true });
    }
    tinyModel(dir, 48); // k_proj no longer matches 2 KV heads of 16
    const bad = await run(["align", dir]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.out,
      /config and tensors disagree: model.layers.0.self_attn.k_proj.weight is \[48, 64\] but the config gives \[32, 64\]/,
    );
    const g = join(dir, "tiny.gguf");
    writeFileSync(
      g,
      ggufBytes([
        ["general.architecture", 8, "llama"],
        ["llama.embedding_length", 4, H],
        ["llama.feed_forward_length", 4, F],
        ["llama.attention.head_count", 4, 4],
        ["llama.attention.head_count_kv", 4, 2],
        ["llama.block_count", 4, 1],
        ["tokenizer.ggml.tokens", 9, { type: 8, items: Array.from({ length: V }, (_, i) => `t${i}`) }],
      ], [{ name: "blk.0.attn_k.weight", ne: [H, KV], type: 2, bytes: new Uint8Array((KV * H / 32) * 18) }]),
    );
    const gr = await run(["align", g, "--m", "1", "--json"]);
    assert.equal(gr.code, 0, gr.out);
    const lm = JSON.parse(gr.out).rows.find((x: { projection: string }) => x.projection === "lm_head");
    assert.deepEqual([lm.k, lm.n], [H, V]);
    const gout = join(dir, "tiny-gguf.safetensors");
    assert.equal((await run(["convert", g, gout])).code, 0);
    const gconv = await run(["align", gout, "--m", "1", "--json"]);
    assert.equal(gconv.code, 0, gconv.out);
    assert.deepEqual(JSON.parse(gconv.out).rows, JSON.parse(gr.out).rows);
  }),
);

test("progress line: percentage, bytes and throughput", () => {
  assert.equal(
    formatProgress("convert", 1.5e9, 3e9, 2),
    "convert [###############...............]  50%  1.50 / 3.00 GB  0.75 GB/s",
  );
  assert.ok(formatProgress("x", 0, 0, 0).endsWith("100%  0.00 / 0.00 GB  0.00 GB/s"));
});
