// Which projection a tensor is, from Llama / Qwen2 / Mistral naming (Hugging Face: model.layers.N.self_attn.
// q_proj.weight, mlp.gate_proj, ...) and llama.cpp's GGUF naming (blk.N.attn_q.weight, ffn_gate, ...).

/** Projection names used by ckpt.info(). */
export type ProjectionName =
  | "q"
  | "k"
  | "v"
  | "o"
  | "qkv"
  | "gate"
  | "up"
  | "down"
  | "gate_up"
  | "router"
  | "embed"
  | "lm_head";

// Order matters: the first pattern that matches wins (qkv before q, gate_up before gate, router before gate).
const PATTERNS: readonly [RegExp, ProjectionName][] = [
  [/(^|\.)(qkv_proj|query_key_value|attn_qkv|Wqkv)(\.|$)/, "qkv"],
  [/(^|\.)(q_proj|attn_q|wq)(\.|$)/, "q"],
  [/(^|\.)(k_proj|attn_k|wk)(\.|$)/, "k"],
  [/(^|\.)(v_proj|attn_v|wv)(\.|$)/, "v"],
  [/(^|\.)(o_proj|attn_output|wo|dense)(\.|$)/, "o"],
  [/(^|\.)(gate_up_proj)(\.|$)/, "gate_up"],
  [/(^|\.)(mlp\.gate|block_sparse_moe\.gate|ffn_gate_inp|router)(\.weight|\.|$)/, "router"],
  [/(^|\.)(gate_proj|ffn_gate|ffn_gate_exps|w1)(\.|$)/, "gate"],
  [/(^|\.)(up_proj|ffn_up|ffn_up_exps|w3)(\.|$)/, "up"],
  [/(^|\.)(down_proj|ffn_down|ffn_down_exps|w2)(\.|$)/, "down"],
  [/(^|\.)(embed_tokens|token_embd|wte)(\.|$)/, "embed"],
  [/(^|\.)(lm_head)(\.|$)|^output\.weight$/, "lm_head"],
];

/** The projection a tensor name denotes, or undefined (norms, biases of other layers, unknown names). */
export function projectionOf(name: string): ProjectionName | undefined {
  for (const [re, p] of PATTERNS) if (re.test(name)) return p;
  return undefined;
}

/** The transformer layer index in a name ("layers.12." / "blk.12."), or undefined. */
export function layerOf(name: string): number | undefined {
  const m = /(?:^|\.)(?:layers|blk|h)\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}
