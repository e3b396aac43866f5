// The alignment audit's model from a checkpoint: its config.json (or GGUF metadata) for the dimensions,
// checked against the shapes of the projection tensors it actually holds, so a config that does not
// belong to the weights is caught instead of audited.
import { argError } from "../quant/check.ts";
import { openCheckpoint } from "../io/checkpoint.ts";
import { type ModelConfig, parseHfConfig } from "./models.ts";

function ggufConfig(meta: Readonly<Record<string, unknown>>, source: string): Record<string, unknown> {
  const arch = meta["general.architecture"];
  if (typeof arch !== "string") throw argError("align", `align: ${source} has no general.architecture`);
  const get = (k: string) => meta[`${arch}.${k}`];
  const tokens = meta["tokenizer.ggml.tokens"];
  const cfg: Record<string, unknown> = {
    model_type: arch,
    hidden_size: get("embedding_length"),
    intermediate_size: get("feed_forward_length"),
    num_attention_heads: get("attention.head_count"),
    num_key_value_heads: get("attention.head_count_kv"),
    head_dim: get("attention.key_length"),
    num_hidden_layers: get("block_count"),
    vocab_size: get("vocab_size") ?? (Array.isArray(tokens) ? tokens.length : undefined),
  };
  if (get("expert_count") !== undefined) {
    cfg.num_experts = get("expert_count");
    cfg.num_experts_per_tok = get("expert_used_count");
    cfg.moe_intermediate_size = get("expert_feed_forward_length") ?? get("feed_forward_length");
    cfg.n_shared_experts = get("expert_shared_count");
    cfg.first_k_dense_replace = get("leading_dense_block_count");
  }
  return cfg;
}

/**
 * Reads a checkpoint's model dimensions (config.json beside the weights, or GGUF metadata) and checks them
 * against the [N, K] shapes of its projection tensors. Throws InvalidArgumentError on a mismatch or when
 * the checkpoint has no config.
 */
export async function modelFromCheckpoint(path: string): Promise<ModelConfig> {
  const ck = await openCheckpoint(path);
  try {
    const c = ck.config;
    if (c === undefined) {
      throw argError(
        "align",
        `align: ${path} has no config.json beside its weights (head counts are not in tensor shapes)`,
      );
    }
    const isGguf = typeof c["general.architecture"] === "string";
    const model = parseHfConfig(isGguf ? ggufConfig(c, path) : c, path);
    const { hidden: h, heads, kvHeads, headDim: hd, intermediate: f, vocab } = model;
    const want: Record<string, [number, number]> = {
      q: [heads * hd, h],
      k: [kvHeads * hd, h],
      v: [kvHeads * hd, h],
      o: [h, heads * hd],
      lm_head: [vocab, h],
      embed: [vocab, h],
    };
    if (model.moe === undefined) Object.assign(want, { gate: [f, h], up: [f, h], down: [h, f] });
    const bad: string[] = [];
    for (const name of ck.names()) {
      const i = ck.info(name);
      const w = i.projection === undefined ? undefined : want[i.projection];
      if (w === undefined || i.shape.length !== 2) continue;
      if (i.shape[0] !== w[0] || i.shape[1] !== w[1]) {
        bad.push(`${name} is [${i.shape.join(", ")}] but the config gives [${w.join(", ")}]`);
      }
    }
    if (bad.length > 0) {
      throw argError("align", `align: ${path}: config and tensors disagree: ${bad.slice(0, 5).join("; ")}`);
    }
    return {
      ...model,
      source: `${path} (${isGguf ? "GGUF metadata" : "config.json"}, checked against tensor shapes)`,
    };
  } finally {
    ck.close();
  }
}
