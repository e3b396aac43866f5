// Alignment audit: exact K/N of the seed's tables, M = 1 and odd-M flags, padding cost, HF configs, CLI.
import assert from "node:assert";
import { readFileSync } from "node:fs";
import { test } from "./harness.ts";
import {
  auditAlignment,
  formatAlignmentReport,
  GEMV_N_MULTIPLE,
  projections,
  ROUTING,
  SMALL_BATCH_MAX_M,
} from "../lib/audit/alignment.ts";
import { BUILTIN_MODELS, builtinModel, parseHfConfig } from "../lib/audit/models.ts";
import { main } from "../cli.ts";
import { InvalidArgumentError } from "../lib/runtime/errors.ts";
import { gemmRoute } from "../lib/api/device.ts";
import { FORMAT_IDS, FORMAT_INFO, QUANT_FORMATS } from "../lib/quant/formats.ts";
import { openTestDevice } from "./gemm_helpers.ts";

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`./fixtures/hf/${name}`, import.meta.url), "utf8"));

function shapes(name: string): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const p of projections(BUILTIN_MODELS[name])) out[p.name] = [p.k, p.n];
  return out;
}

test("llama-3-8b (Meta-Llama-3-8B config.json): exactly its K and N per projection", () => {
  assert.deepStrictEqual(shapes("llama-3-8b"), {
    q_proj: [4096, 4096],
    k_proj: [4096, 1024],
    v_proj: [4096, 1024],
    qkv_fused: [4096, 6144],
    o_proj: [4096, 4096],
    gate_proj: [4096, 14336],
    up_proj: [4096, 14336],
    gate_up_fused: [4096, 28672],
    down_proj: [14336, 4096],
    lm_head: [4096, 128256],
  });
});

test("qwen2-7b (Qwen2-7B config.json): exactly its K and N per projection (GQA 28/4 heads)", () => {
  assert.deepStrictEqual(shapes("qwen2-7b"), {
    q_proj: [3584, 3584],
    k_proj: [3584, 512],
    v_proj: [3584, 512],
    qkv_fused: [3584, 4608],
    o_proj: [3584, 3584],
    gate_proj: [3584, 18944],
    up_proj: [3584, 18944],
    gate_up_fused: [3584, 37888],
    down_proj: [18944, 3584],
    lm_head: [3584, 152064],
  });
});

test("glm-4.7 (GLM-4.7 config.json): exactly its K and N, including router, 160 experts of 1536 and the shared expert", () => {
  assert.deepStrictEqual(shapes("glm-4.7"), {
    q_proj: [5120, 12288],
    k_proj: [5120, 1024],
    v_proj: [5120, 1024],
    qkv_fused: [5120, 14336],
    o_proj: [12288, 5120],
    gate_proj: [5120, 12288],
    up_proj: [5120, 12288],
    gate_up_fused: [5120, 24576],
    down_proj: [12288, 5120],
    router: [5120, 160],
    "expert.gate_proj": [5120, 1536],
    "expert.up_proj": [5120, 1536],
    "expert.gate_up_fused": [5120, 3072],
    "expert.down_proj": [1536, 5120],
    "shared.gate_up_fused": [5120, 3072],
    "shared.down_proj": [1536, 5120],
    lm_head: [5120, 151552],
  });
});

test("seed-* tables keep the seed's numbers (hidden/intermediate/vocab) and say what was assumed", () => {
  const seed: Record<string, [number, number, number]> = {
    "seed-llama": [4096, 11008, 128256],
    "seed-qwen2": [4096, 11008, 152064],
    "seed-glm-4.7": [3584, 9216, 128000],
  };
  for (const [name, [h, f, v]] of Object.entries(seed)) {
    const s = shapes(name);
    assert.deepStrictEqual([s.gate_proj, s.down_proj, s.lm_head], [[h, f], [f, h], [h, v]], name);
    assert.match(BUILTIN_MODELS[name].source, /^seed table .*assumed\)$/);
  }
  for (const name of ["llama-3-8b", "qwen2-7b", "glm-4.7"]) {
    assert.match(BUILTIN_MODELS[name].source, /config\.json/);
  }
});

test("report flags M = 1 and odd M (bounds-checked, never padded) for every built-in model", () => {
  for (const name of Object.keys(BUILTIN_MODELS)) {
    const r = auditAlignment(builtinModel(name), [1, 7, 64]);
    for (const row of r.rows.filter((x) => !x.projection.startsWith("expert."))) {
      if (row.m === 1) {
        assert.ok(row.path === "gemv" || row.path === "split-k", `${name} ${row.projection} ${row.path}`);
        assert.strictEqual(row.mp, 1);
        const flag = row.path === "gemv" ? "M=1 (GEMV path)" : "M=1 (split-k path)";
        assert.ok(row.flags.includes(flag), `${name} ${row.projection}`);
      } else if (row.m === 7) {
        assert.strictEqual(row.mp, 7);
        assert.ok(row.flags.includes("odd M (rows bounds-checked, not padded)"));
        assert.strictEqual(row.paddingBytes, 0, `${name} ${row.projection}`);
      } else {
        assert.strictEqual(row.path, "prefill");
        assert.strictEqual(row.paddingBytes, 0);
      }
    }
    const text = formatAlignmentReport(r);
    assert.ok(text.includes("M=1 (GEMV path)") && text.includes("odd M (rows bounds-checked, not padded)"));
    assert.strictEqual(text.split("\n").length, 2 + r.rows.length);
  }
});

// The audit's path column used to be computed from M alone and disagreed with the real routing in 31
// of 175 rows (glm-4.7 k_proj at M = 1 said gemv but runs gemm_splitk_fp4_gs128).
test("audit path, kernel and splits equal the C routing (gemmRoute) for every built-in model, M, gs, format", () => {
  const dev = openTestDevice();
  try {
    let compared = 0;
    for (const name of Object.keys(BUILTIN_MODELS)) {
      for (const groupSize of [16, 32, 40, 128]) {
        // mxfp4 / nvfp4 have a fixed group size (32 / 16): they are compared at that one.
        for (
          const format of QUANT_FORMATS.filter((f) =>
            (FORMAT_INFO[f].fixedGroupSize ?? groupSize) === groupSize
          )
        ) {
          const r = auditAlignment(builtinModel(name), [1, 2, 7, 16, 17, 64, 128], { groupSize, format });
          for (const row of r.rows) {
            const c = gemmRoute(dev, { m: row.m, n: row.n, k: row.k, format: FORMAT_IDS[format], groupSize });
            const path = { gemv: "gemv", small: "small-batch", splitk: "split-k", tiled: "prefill" }[c.kind];
            const label =
              `${name} ${row.projection} M=${row.m} N=${row.n} K=${row.k} gs=${groupSize} ${format}`;
            assert.deepStrictEqual([row.path, row.kernel, row.splits], [path, c.kernel, c.splits], label);
            compared++;
          }
        }
      }
    }
    assert.ok(compared > 1000, `${compared} rows`);
    const k = auditAlignment(builtinModel("glm-4.7"), [1]).rows.find((x) => x.projection === "k_proj")!;
    assert.deepStrictEqual([k.path, k.kernel], ["split-k", "gemm_splitk"]);
    assert.ok(k.flags.some((f) => f.startsWith("split-K 2 parts")), k.flags.join("; "));
  } finally {
    dev.dispose();
  }
});

// The mirror's thresholds are the C routing's: read them from the sources so the two cannot drift.
test("audit routing thresholds equal the named constants of gemm_routing.cpp and gemm_params.h", () => {
  const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
  const cpp = read("csrc/core/gemm_routing.cpp"), hdr = read("shaders/gemm_params.h");
  const define = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)u?`).exec(hdr)![1]);
  const konst = (name: string): string => new RegExp(`const uint32_t ${name} = ([^;]+);`).exec(cpp)![1];
  const value = (expr: string): number =>
    Number(
      expr.replace(/GEMM_[A-Z_]+/g, (d) => String(define(d))).split("*").reduce((x, y) =>
        String(Number(x) * Number(y))
      ),
    );
  assert.strictEqual(value(konst("kGemvMaxM")), ROUTING.gemvMaxM);
  assert.strictEqual(value(konst("kSmallMaxM")), ROUTING.smallMaxM);
  assert.strictEqual(ROUTING.smallMaxM, SMALL_BATCH_MAX_M);
  assert.strictEqual(value(konst("kSplitTargetThreadgroups")), ROUTING.splitTargetThreadgroups);
  assert.strictEqual(value(konst("kSplitMinChunk")), ROUTING.splitMinChunk);
  assert.strictEqual(value(konst("kSplitMaxParts")), ROUTING.splitMaxParts);
  assert.strictEqual(define("GEMM_VEC_COLS"), ROUTING.vecCols);
  assert.strictEqual(define("GEMM_VEC_KBLOCK"), ROUTING.vecKBlock);
});

test("any multiple of 8 (48, 16, 200) is a group size of the same kernels: no warning, same paths", () => {
  const base = auditAlignment(builtinModel("llama-3-8b"), [1, 64], { groupSize: 32 });
  for (const groupSize of [48, 16, 200]) {
    const r = auditAlignment(builtinModel("llama-3-8b"), [1, 64], { groupSize });
    r.rows.forEach((row, i) => {
      assert.deepStrictEqual([row.path, row.kernel], [base.rows[i].path, base.rows[i].kernel]);
      assert.ok(!row.flags.some((f) => f.startsWith("no kernel")), row.flags.join("; "));
    });
    assert.ok(!formatAlignmentReport(r).includes("warning: no kernel"));
  }
});

test("padding cost: a K and N off the grid are padded and costed", () => {
  const cfg = {
    name: "odd",
    source: "test",
    hidden: 100,
    intermediate: 0,
    vocab: 1001,
    heads: 4,
    kvHeads: 2,
    headDim: 25,
  };
  const r = auditAlignment(cfg, [1], { groupSize: 64 });
  const lm = r.rows.find((x) => x.projection === "lm_head")!;
  assert.strictEqual(lm.kp, 128);
  assert.strictEqual(lm.np, 1008);
  assert.strictEqual(lm.kDiv8, false);
  assert.strictEqual(lm.nDiv8, false);
  assert.ok(lm.flags.includes("K % 64 != 0") && lm.flags.includes(`N % ${GEMV_N_MULTIPLE} != 0`));
  // weights only: (128*1008/2 + 2*1008*2) - (100*1001/2 + (100/64)*1001*2); activations [M, K] and
  // outputs [M, N] keep their shapes (the kernels bounds-check K and N)
  const expected = (128 * 1008 / 2 + 2 * 1008 * 2) - (100 * 1001 / 2 + (100 / 64) * 1001 * 2);
  assert.ok(Math.abs(lm.paddingBytes - expected) < 1e-9, `${lm.paddingBytes} vs ${expected}`);
  assert.throws(() => auditAlignment(cfg, [0]), InvalidArgumentError);
  assert.throws(() => auditAlignment(cfg, [1], { groupSize: 12 }), InvalidArgumentError);
});

test("Hugging Face config: GQA model (Qwen2-7B fixture) parses to the qwen2 numbers", () => {
  const c = parseHfConfig(fixture("qwen2-7b.json"), "qwen2-7b.json");
  assert.deepStrictEqual(
    [c.hidden, c.intermediate, c.vocab, c.heads, c.kvHeads, c.headDim, c.layers, c.moe],
    [3584, 18944, 152064, 28, 4, 128, 28, undefined],
  );
  const r = auditAlignment(c, [1]);
  assert.strictEqual(r.rows.find((x) => x.projection === "qkv_fused")!.n, (28 + 2 * 4) * 128);
});

test("Hugging Face config: MoE model (Qwen1.5-MoE-A2.7B fixture): experts, router, shared expert", () => {
  const c = parseHfConfig(fixture("qwen1.5-moe-a2.7b.json"));
  assert.deepStrictEqual(c.moe, { experts: 60, expertIntermediate: 1408, topK: 4, sharedIntermediate: 5632 });
  assert.strictEqual(c.intermediate, 0); // every layer is MoE: no dense MLP rows
  const names = projections(c).map((p) => p.name);
  assert.ok(
    names.includes("router") && names.includes("expert.down_proj") && names.includes("shared.down_proj"),
  );
  assert.ok(!names.includes("down_proj"));
  const r = auditAlignment(c, [128]);
  const ex = r.rows.find((x) => x.projection === "expert.down_proj")!;
  assert.deepStrictEqual([ex.m, ex.k, ex.n], [Math.ceil(128 * 4 / 60), 1408, 2048]);
  assert.throws(
    () => parseHfConfig({ hidden_size: 8 }),
    (e) => e instanceof InvalidArgumentError && /has no "num_attention_heads"/.test(e.message),
  );
});

test("CLI: align prints JSON for a config file and fails with exit code 1 on an unknown model", async () => {
  const lines: string[] = [];
  const log = console.log, err = console.error;
  console.log = (s: string) => lines.push(s);
  console.error = (s: string) => lines.push(s);
  try {
    const path = new URL("./fixtures/hf/qwen2-7b.json", import.meta.url).pathname;
    assert.strictEqual(await main(["align", path, "--m", "1,3", "--json"]), 0);
    const report = JSON.parse(lines.join("\n"));
    assert.strictEqual(report.rows.length, 10 * 2);
    lines.length = 0;
    assert.strictEqual(await main(["align", "nope"]), 1);
    assert.match(
      lines.join("\n"),
      /unknown model "nope"; built-in: llama-3-8b, qwen2-7b, glm-4.7, seed-llama, seed-qwen2, seed-glm-4.7/,
    );
    assert.strictEqual(await main(["frobnicate"]), 2);
  } finally {
    console.log = log;
    console.error = err;
  }
});
