// Trace-mode runs of every layer-op family (norm, rope, attention prefill / split decode, MoE router /
// sort / grouped GEMM / combine, dequant) at a size: bench/trace.ts records them at model-like sizes,
// tests/layer_trace.test.ts checks the manifest's bounds at small ones. Data is synthetic and fixed: access
// patterns do not depend on values (the MoE routing is fixed by an explicit ids table instead).
import type { Device } from "../api/device.ts";
import type { QuantFormat } from "../quant/formats.ts";
import type { TraceReport } from "../runtime/trace.ts";
import { syntheticWeight } from "./profile.ts";
import { f16ToBf16 } from "../quant/convert.ts";

/** Sizes of one layer-trace run. */
export interface LayerTraceShape {
  /** Tokens of the prefill-like calls (norm, rope, attention prefill, MoE). */
  tokens: number;
  /** Hidden size (norm, router, MoE K). */
  hidden: number;
  /** Query heads, KV heads, head dim. */
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Cache length of the split-decode attention call. */
  decodeKv: number;
  /** Experts, experts per token, expert intermediate size. */
  experts: number;
  topK: number;
  expertFfn: number;
  /** Dense matrix dequantized (K = N = this). */
  dequant: number;
  /** Weight format and group size of the MoE experts and the dequantized matrix. */
  format: QuantFormat;
  groupSize: number;
}

/** One traced op: a label (what ran, at which sizes) and its report. */
export interface LayerTrace {
  op: string;
  report: TraceReport;
}

const fill = (n: number, mod = 101) =>
  Float16Array.from({ length: n }, (_, i) => ((i * 37) % mod) / mod - 0.5);

/** Runs every layer op once on a trace-mode device; one entry per op call. */
export function traceLayers(dev: Device, s: LayerTraceShape): LayerTrace[] {
  const out: LayerTrace[] = [];
  const T = s.tokens, H = s.hidden, D = s.headDim;
  const run = (op: string, fn: () => void) => out.push({ op, report: dev.trace(fn) });

  using x = dev.tensor(fill(T * H), [T, H]);
  using g = dev.tensor(fill(H), [H]);
  run(`rms_norm ${T}x${H}`, () => dev.rmsNorm(x, g).dispose());

  using q = dev.tensor(fill(T * s.heads * D), [T, s.heads * D]);
  run(`rope ${T} tokens x ${s.heads} heads x ${D}`, () => void dev.rope(q, { heads: s.heads, headDim: D }));
  run(
    `rope interleaved ${T} tokens x ${s.heads} heads x ${D}`,
    () => void dev.rope(q, { heads: s.heads, headDim: D, interleaved: true }),
  );
  // bf16 (MLX models): the same kernels with the dtype word set move the same 16-bit elements.
  using xb = dev.tensor(f16ToBf16(fill(T * H)), [T, H], "bf16");
  using gb = dev.tensor(f16ToBf16(fill(H)), [H], "bf16");
  run(`rms_norm bf16 ${T}x${H}`, () => dev.rmsNorm(xb, gb).dispose());
  using qb = dev.tensor(f16ToBf16(fill(T * s.heads * D)), [T, s.heads * D], "bf16");
  run(
    `rope interleaved bf16 ${T} tokens x ${s.heads} heads x ${D}`,
    () => void dev.rope(qb, { heads: s.heads, headDim: D, interleaved: true }),
  );

  using kv = dev.tensor(fill(Math.max(T, s.decodeKv) * s.kvHeads * D), [
    Math.max(T, s.decodeKv),
    s.kvHeads * D,
  ]);
  using cache = dev.kvCache({ kvHeads: s.kvHeads, headDim: D, capacity: Math.max(T, s.decodeKv) });
  cache.append(kv, kv, T);
  run(
    `attention prefill T=${T} Hq=${s.heads} Hkv=${s.kvHeads} D=${D}`,
    () => dev.attention(q, cache, { heads: s.heads }).dispose(),
  );
  cache.reset();
  cache.append(kv, kv, s.decodeKv);
  using q1 = dev.tensor(fill(s.heads * D), [1, s.heads * D]);
  run(
    `attention decode kv=${s.decodeKv} Hq=${s.heads} Hkv=${s.kvHeads} D=${D}`,
    () => dev.attention(q1, cache, { heads: s.heads }).dispose(),
  );

  const E = s.experts, k = s.topK, F = s.expertFfn;
  using router = dev.tensor(fill(E * H, 97), [E, H]);
  run(`moe router T=${T} E=${E} k=${k} D=${H}`, () => {
    const r = dev.moeRoute(x, router, { topK: k, experts: E });
    r.ids.dispose();
    r.weights.dispose();
  });
  // A fixed, balanced routing: pair p goes to expert (p * 5 + p / k) % E (distinct within a token for k <= 5 | E).
  const ids = Uint32Array.from({ length: T * k }, (_, p) => (Math.floor(p / k) * 3 + (p % k) * 5) % E);
  using idt = dev.tensor(ids, [T, k]);
  const batched = (kk: number, n: number) => {
    const w = syntheticWeight(kk, n * E, s.format, s.groupSize);
    // The synthetic [K, n·E] matrix reinterpreted as E experts of [K, n]: same byte count and layout class.
    const np = Math.ceil(n / 8) * 8;
    return dev.upload({
      ...w,
      n,
      np,
      batch: E,
      packed: w.packed.subarray(0, E * (w.kp / 8) * np),
      scales: w.scales.subarray(0, E * (w.kp / w.groupSize) * np),
      zeros: w.zeros?.subarray(0, E * (w.kp / w.groupSize) * np),
    });
  };
  using gate = batched(H, F), up = batched(H, F), down = batched(F, H);
  let sorted: ReturnType<Device["moeSort"]> | undefined;
  run(`moe sort P=${T * k} E=${E}`, () => void (sorted = dev.moeSort(idt, E)));
  const st = sorted!;
  let h: ReturnType<Device["tensor"]> | undefined;
  run(`moe grouped gate/up SwiGLU T=${T} k=${k} E=${E} ${H}->${F} ${s.format} gs${s.groupSize}`, () => {
    h = dev.moeGemm(x, gate, st, { gather: true, up });
  });
  let y: ReturnType<Device["tensor"]> | undefined;
  run(`moe grouped down T=${T} k=${k} E=${E} ${F}->${H} ${s.format} gs${s.groupSize}`, () => {
    y = dev.moeGemm(h!, down, st, { gather: false });
  });
  using w1 = dev.tensor(new Float32Array(T * k).fill(0.5), [T, k]);
  run(
    `moe combine T=${T} k=${k} N=${H}`,
    () => dev.moeCombine(y!, { ids: idt, weights: w1 }, st, x).dispose(),
  );
  // M = 1 decode: one token, k experts (k tiles of one row, each reading its expert once).
  using x1 = dev.tensor(fill(H), [1, H]);
  using id1 = dev.tensor(ids.subarray(0, k), [1, k]);
  const s1 = dev.moeSort(id1, E);
  run(
    `moe decode M=1 gate/up SwiGLU k=${k} E=${E} ${H}->${F}`,
    () => dev.moeGemm(x1, gate, s1, { gather: true, up }).dispose(),
  );
  h?.dispose();
  y?.dispose();

  using dq = dev.upload(syntheticWeight(s.dequant, s.dequant, s.format, s.groupSize));
  run(`dequant ${s.dequant}x${s.dequant} ${s.format} gs${s.groupSize}`, () => dev.dequantize(dq).dispose());
  return out;
}

/** Small sizes (the bounds test): every kernel family, seconds in trace mode. */
export const LAYER_TRACE_SMALL: LayerTraceShape = {
  tokens: 9,
  hidden: 256,
  heads: 4,
  kvHeads: 1,
  headDim: 64,
  decodeKv: 300,
  experts: 8,
  topK: 2,
  expertFfn: 64,
  dequant: 256,
  format: "int4",
  groupSize: 64,
};

/** Model-like sizes (bench/trace.ts), kept to what trace mode runs in about a minute. */
export const LAYER_TRACE_BENCH: LayerTraceShape = {
  tokens: 64,
  hidden: 1024,
  heads: 8,
  kvHeads: 2,
  headDim: 128,
  decodeKv: 2048,
  experts: 16,
  topK: 4,
  expertFfn: 512,
  dequant: 1024,
  format: "fp4",
  groupSize: 128,
};
