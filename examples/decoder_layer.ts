// A Llama-style decoder layer with 4-bit weights on metal-marlin: prefill a prompt, then decode token
// by token over the KV cache, and check each step against the float64 reference of the same layer.
//   bun examples/decoder_layer.ts        deno run -A examples/decoder_layer.ts
import { Device, LayerRef, quantize, ropeInvFreq } from "../mod.ts";

const [hidden, heads, kvHeads, headDim, ffn] = [256, 8, 2, 32, 512];
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2;
const linear = (k: number, n: number, format: "fp4" | "int4" | "int4-sym") =>
  quantize(Float32Array.from({ length: k * n }, () => rand() / Math.sqrt(k) * 1.7), {
    k,
    n,
    format,
    groupSize: 64,
  });
const ones = () => Float16Array.from({ length: hidden }, () => 1 + 0.1 * rand());

// Host weights: fused QKV (fp4), O (int4), a SwiGLU MLP (int4-sym gate/up, fp4 down), two RMSNorms.
const host = {
  attnNorm: ones(),
  qkv: linear(hidden, (heads + 2 * kvHeads) * headDim, "fp4"),
  o: linear(heads * headDim, hidden, "int4"),
  mlpNorm: ones(),
  mlp: {
    gate: linear(hidden, ffn, "int4-sym"),
    up: linear(hidden, ffn, "int4-sym"),
    down: linear(ffn, hidden, "fp4"),
  },
};

using dev = Device.open();
const weights = {
  attnNorm: dev.tensor(host.attnNorm),
  qkv: dev.upload(host.qkv),
  o: dev.upload(host.o),
  mlpNorm: dev.tensor(host.mlpNorm),
  mlp: { gate: dev.upload(host.mlp.gate), up: dev.upload(host.mlp.up), down: dev.upload(host.mlp.down) },
};
const config = { heads, kvHeads, headDim, eps: 1e-5 }; // RoPE: base 10000, half-split (the defaults)
using cache = dev.kvCache({ kvHeads, headDim, capacity: 128 });
const ref = new LayerRef(host, { ...config, invFreq: ropeInvFreq(headDim) });

for (const tokens of [37, 1, 1, 1, 1, 1]) { // prefill 37, then 5 decode steps
  const x = Float16Array.from({ length: tokens * hidden }, () => rand());
  using xt = dev.tensor(x, [tokens, hidden]);
  using y = dev.decoderLayer(xt, weights, config, cache); // appends `tokens` positions to the cache
  const got = y.toArray() as Float16Array, want = ref.forward(x, tokens);
  let err = 0, mag = 0;
  for (let i = 0; i < got.length; i++) {
    [err, mag] = [Math.max(err, Math.abs(got[i] - want[i])), Math.max(mag, Math.abs(want[i]))];
  }
  console.log(
    `${tokens === 1 ? "decode " : "prefill"} T=${tokens}: cache ${cache.length} positions, max |error| ${
      err.toExponential(2)
    } (max |y| ${mag.toFixed(2)})`,
  );
}
