// ckpt.info's projection and layer come from tensor names: Hugging Face Llama / Qwen2 / Mistral / Mixtral
// naming and llama.cpp's GGUF naming; a router is never mistaken for a gate projection.
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { layerOf, projectionOf } from "../lib/io/naming.ts";

test("projectionOf / layerOf: Hugging Face and GGUF names", () => {
  const cases: [string, string | undefined, number | undefined][] = [
    ["model.layers.0.self_attn.q_proj.weight", "q", 0],
    ["model.layers.11.self_attn.k_proj.qweight", "k", 11],
    ["model.layers.2.self_attn.v_proj.weight", "v", 2],
    ["model.layers.2.self_attn.o_proj.weight", "o", 2],
    ["model.layers.3.self_attn.qkv_proj.weight", "qkv", 3],
    ["model.layers.3.mlp.gate_proj.weight", "gate", 3],
    ["model.layers.3.mlp.up_proj.weight", "up", 3],
    ["model.layers.3.mlp.down_proj.weight", "down", 3],
    ["model.layers.3.mlp.gate_up_proj.weight", "gate_up", 3],
    ["model.layers.4.mlp.gate.weight", "router", 4], // Qwen2-MoE / GLM router
    ["model.layers.4.block_sparse_moe.gate.weight", "router", 4], // Mixtral router
    ["model.layers.4.block_sparse_moe.experts.7.w1.weight", "gate", 4],
    ["model.layers.4.block_sparse_moe.experts.7.w2.weight", "down", 4],
    ["model.layers.4.mlp.experts.7.up_proj.weight", "up", 4],
    ["model.embed_tokens.weight", "embed", undefined],
    ["lm_head.weight", "lm_head", undefined],
    ["model.norm.weight", undefined, undefined],
    ["model.layers.5.input_layernorm.weight", undefined, 5],
    ["blk.9.attn_q.weight", "q", 9],
    ["blk.9.attn_output.weight", "o", 9],
    ["blk.9.ffn_gate_inp.weight", "router", 9],
    ["blk.9.ffn_gate_exps.weight", "gate", 9],
    ["blk.9.ffn_down.weight", "down", 9],
    ["token_embd.weight", "embed", undefined],
    ["output.weight", "lm_head", undefined],
    ["output_norm.weight", undefined, undefined],
  ];
  for (const [name, proj, layer] of cases) {
    assert.equal(projectionOf(name), proj, name);
    assert.equal(layerOf(name), layer, name);
  }
});
