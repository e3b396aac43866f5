// Model shapes for the alignment audit: built-in configs (real published ones and the seed's tables), and a parser for
// Hugging Face config.json files (dense, GQA and MoE fields).
import { argError } from "../quant/check.ts";

/** MoE part of a model: routed experts (and an optional always-on shared expert). */
export interface MoeConfig {
  /** Routed experts per MoE layer. */
  experts: number;
  /** Intermediate size of one routed expert. */
  expertIntermediate: number;
  /** Experts each token is routed to. */
  topK: number;
  /** Total intermediate size of the shared expert(s), 0 if none. */
  sharedIntermediate: number;
}

/** The dimensions the audit needs. */
export interface ModelConfig {
  /** Model name, e.g. "qwen2" (the key in BUILTIN_MODELS for built-in configs). */
  name: string;
  /** Where the numbers come from, e.g. "seed table" or a file path. */
  source: string;
  /** Hidden size (elements per token embedding). */
  hidden: number;
  /** Intermediate size of the dense MLP, or 0 when every layer is MoE (no dense MLP). */
  intermediate: number;
  /** Vocabulary size (rows of the LM head). */
  vocab: number;
  /** Attention query heads. */
  heads: number;
  /** Key/value heads (grouped-query attention; equal to heads for MHA). */
  kvHeads: number;
  /** Elements per attention head. */
  headDim: number;
  /** Transformer layers, when known (informational). */
  layers?: number;
  /** Mixture-of-experts dimensions; absent for dense models. */
  moe?: MoeConfig;
}

/**
 * Built-in configs. Real published models under their real names, each with the config.json it comes
 * from; and the seed's three alignment tables, which give only hidden / intermediate / vocab, under
 * "seed-*" names (their head counts are not in the seed: 128-wide heads, one KV head per query head,
 * are assumed and said so in `source`).
 */
export const BUILTIN_MODELS: Readonly<Record<string, ModelConfig>> = {
  "llama-3-8b": {
    name: "llama-3-8b",
    source: "meta-llama/Meta-Llama-3-8B config.json (LlamaForCausalLM)",
    hidden: 4096,
    intermediate: 14336,
    vocab: 128256,
    heads: 32,
    kvHeads: 8,
    headDim: 128,
    layers: 32,
  },
  "qwen2-7b": {
    name: "qwen2-7b",
    source: "Qwen/Qwen2-7B config.json (Qwen2ForCausalLM; tests/fixtures/hf/qwen2-7b.json)",
    hidden: 3584,
    intermediate: 18944,
    vocab: 152064,
    heads: 28,
    kvHeads: 4,
    headDim: 128,
    layers: 28,
  },
  "glm-4.7": {
    name: "glm-4.7",
    source: "zai-org/GLM-4.7 config.json (Glm4MoeForCausalLM: 160 routed experts, 1 shared, top-8, " +
      "first_k_dense_replace 3)",
    hidden: 5120,
    intermediate: 12288,
    vocab: 151552,
    heads: 96,
    kvHeads: 8,
    headDim: 128,
    layers: 92,
    moe: { experts: 160, expertIntermediate: 1536, topK: 8, sharedIntermediate: 1536 },
  },
  "seed-llama": {
    name: "seed-llama",
    source: "seed table (hidden 4096, intermediate 11008, vocab 128256; 32 heads of 128, MHA, assumed)",
    hidden: 4096,
    intermediate: 11008,
    vocab: 128256,
    heads: 32,
    kvHeads: 32,
    headDim: 128,
  },
  "seed-qwen2": {
    name: "seed-qwen2",
    source: "seed table (hidden 4096, intermediate 11008, vocab 152064; 32 heads of 128, MHA, assumed)",
    hidden: 4096,
    intermediate: 11008,
    vocab: 152064,
    heads: 32,
    kvHeads: 32,
    headDim: 128,
  },
  "seed-glm-4.7": {
    name: "seed-glm-4.7",
    source: "seed table (hidden 3584, intermediate 9216, vocab 128000; 28 heads of 128, MHA, assumed)",
    hidden: 3584,
    intermediate: 9216,
    vocab: 128000,
    heads: 28,
    kvHeads: 28,
    headDim: 128,
  },
};

function num(cfg: Record<string, unknown>, key: string, source: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw argError("parseHfConfig", `parseHfConfig: ${source} has no "${key}"`);
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw argError(
      "parseHfConfig",
      `parseHfConfig: ${source}: "${key}" must be a non-negative integer, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function first(cfg: Record<string, unknown>, keys: string[]): string | undefined {
  return keys.find((k) => cfg[k] !== undefined && cfg[k] !== null);
}

/**
 * Reads a Hugging Face config.json object: hidden_size, intermediate_size, vocab_size,
 * num_attention_heads, num_key_value_heads (default: heads), head_dim (default hidden/heads), and MoE
 * fields num_experts | num_local_experts | n_routed_experts, moe_intermediate_size, num_experts_per_tok,
 * shared_expert_intermediate_size | n_shared_experts. Models whose experts reuse intermediate_size
 * (Mixtral) have no dense MLP; with moe_intermediate_size, a dense MLP is listed only when
 * first_k_dense_replace > 0 or mlp_only_layers is non-empty.
 */
export function parseHfConfig(json: unknown, source = "config.json"): ModelConfig {
  if (json === null || typeof json !== "object") {
    throw argError("parseHfConfig", `parseHfConfig: ${source} is not a JSON object`);
  }
  // Multimodal configs nest the language model under text_config.
  const root = json as Record<string, unknown>;
  const cfg =
    (typeof root.text_config === "object" && root.text_config !== null && root.hidden_size === undefined)
      ? root.text_config as Record<string, unknown>
      : root;
  const hidden = num(cfg, "hidden_size", source);
  const heads = num(cfg, "num_attention_heads", source);
  const kvHeads = num(cfg, "num_key_value_heads", source, heads);
  const headDim = num(cfg, "head_dim", source, heads > 0 ? Math.floor(hidden / heads) : 0);
  const intermediate = num(cfg, "intermediate_size", source);
  const vocab = num(cfg, "vocab_size", source);
  const layers = num(cfg, "num_hidden_layers", source, 0) || undefined;
  const name = typeof cfg.model_type === "string" ? cfg.model_type : source;
  const expertsKey = first(cfg, ["num_experts", "num_local_experts", "n_routed_experts"]);
  const experts = expertsKey === undefined ? 0 : num(cfg, expertsKey, source);
  if (experts === 0) return { name, source, hidden, intermediate, vocab, heads, kvHeads, headDim, layers };
  const hasMoeSize = first(cfg, ["moe_intermediate_size"]) !== undefined;
  const expertIntermediate = hasMoeSize ? num(cfg, "moe_intermediate_size", source) : intermediate;
  const topK = num(cfg, "num_experts_per_tok", source, 1);
  const sharedIntermediate = cfg.shared_expert_intermediate_size !== undefined
    ? num(cfg, "shared_expert_intermediate_size", source)
    : num(cfg, "n_shared_experts", source, 0) * expertIntermediate;
  const mlpOnly = Array.isArray(cfg.mlp_only_layers) && cfg.mlp_only_layers.length > 0;
  const dense = hasMoeSize && (num(cfg, "first_k_dense_replace", source, 0) > 0 || mlpOnly);
  return {
    name,
    source,
    hidden,
    intermediate: dense ? intermediate : 0,
    vocab,
    heads,
    kvHeads,
    headDim,
    layers,
    moe: { experts, expertIntermediate, topK, sharedIntermediate },
  };
}

/** A built-in config by name; unknown names -> InvalidArgumentError listing the known ones. */
export function builtinModel(name: string): ModelConfig {
  const m = BUILTIN_MODELS[name];
  if (m === undefined) {
    throw argError(
      "builtinModel",
      `builtinModel: unknown model "${name}"; built-in: ${
        Object.keys(BUILTIN_MODELS).join(", ")
      } (or pass a config.json path)`,
    );
  }
  return m;
}
