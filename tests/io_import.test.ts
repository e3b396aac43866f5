// Every importer: fixtures written by tests/util packers from each format's published layout, then
// dequantize(ckpt.quantized(name)) must equal the source's own formula (computed here, independently)
// bit for bit, and a GEMM on the imported weight must match the float64 reference of that formula.
// Shapes are odd on purpose: N not a multiple of 8, K not a multiple of the group size.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "./harness.ts";
import { openCpu } from "./gemm_helpers.ts";
import { Rng } from "./util/random.ts";
import { le, writeSt } from "./util/st_writer.ts";
import { ggufBytes } from "./util/gguf_writer.ts";
import {
  bf2f,
  h2f,
  packAwq,
  packGptqWeight,
  packGptqZeros,
  packMlx,
  packMxfp4,
  packQ4_0,
  packQ4_1,
  randomBf16,
  randomCodes,
  randomHalves,
} from "./util/packers.ts";
import { openCheckpoint } from "../lib/io/checkpoint.ts";
import { InexactImportError } from "../lib/io/errors.ts";
import { dequantize } from "../lib/quant/dequantize.ts";
import { QUANT_FORMATS } from "../lib/quant/formats.ts";
import { matmulF64 } from "../lib/reference/gemm.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";

const has = (f: string) => (QUANT_FORMATS as readonly string[]).includes(f);
const needAffine = has("int4-affine") ? undefined : "needs format int4-affine from issue #11";

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "mm-io-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** dequantize(q) [N, K] must equal fround(formula(n, k)) for every element, sign of zero included. */
function assertExact(
  label: string,
  q: QuantizedMatrix,
  n: number,
  k: number,
  f: (r: number, c: number) => number,
) {
  assert.equal(q.k, k, `${label}: k`);
  assert.equal(q.n, n, `${label}: n`);
  const got = dequantize(q);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const want = Math.fround(f(r, c)), g = got[r * k + c];
      if (!Object.is(g, want)) assert.fail(`${label}: w[n=${r}][k=${c}] = ${g}, formula gives ${want}`);
    }
  }
}

/** GEMM on the imported weight vs the float64 reference of the formula (M = 1 and 3). */
function assertGemm(
  label: string,
  q: QuantizedMatrix,
  n: number,
  k: number,
  f: (r: number, c: number) => number,
) {
  const w = new Float64Array(n * k);
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) w[r * k + c] = f(r, c);
  const dev = openCpu();
  try {
    using wt = dev.upload(q);
    for (const m of [1, 3]) {
      const rng = new Rng(m + k);
      const x = Float16Array.from({ length: m * k }, () => rng.next() * 2 - 1);
      using a = dev.tensor(x, [m, k]);
      using y = dev.gemm(a, wt);
      const out = y.toArray();
      const ref = matmulF64(x, w, m, k, n, { bLayout: "nk" });
      const abs = matmulF64(Float64Array.from(x, Math.abs), w.map(Math.abs), m, k, n, { bLayout: "nk" });
      for (let i = 0; i < m * n; i++) {
        const tol = Math.abs(ref[i]) * 2 ** -11 + (k + 64) * 2 ** -24 * abs[i] + 2 ** -11 * abs[i] + 2 ** -24;
        if (!(Math.abs(out[i] - ref[i]) <= tol)) {
          assert.fail(`${label} M=${m}: C[${i}] = ${out[i]}, reference ${ref[i]} ± ${tol}`);
        }
      }
    }
  } finally {
    dev.dispose();
  }
}

test(
  "GGUF Q4_0 -> int4-sym gs32: exact incl. negative, zero and -0 scales (N=13, K=96, and a 3-expert stack)",
  withDir(async (dir) => {
    const n = 13, k = 96, e = 3;
    const q = randomCodes(e * n, k, 1);
    const d = randomHalves(e * n * (k / 32), 2);
    d[0] = 0x8000; // -0
    d[1] = 0; // an all-zero block
    const path = join(dir, "m.gguf");
    const data2 = packQ4_0(q.subarray(0, n * k), d.subarray(0, n * (k / 32)), n, k);
    const data3 = packQ4_0(q, d, e * n, k);
    writeFileSync(
      path,
      ggufBytes([["general.architecture", 8, "llama"]], [
        { name: "blk.0.attn_q.weight", ne: [k, n], type: 2, bytes: data2 },
        { name: "blk.0.ffn_gate_exps.weight", ne: [k, n, e], type: 2, bytes: data3 },
      ]),
    );
    await using_(path, (ck) => {
      const info = ck.info("blk.0.attn_q.weight");
      assert.deepEqual([info.source, info.shape, info.groupSize, info.projection, info.exact], [
        "gguf:Q4_0",
        [n, k],
        32,
        "q",
        true,
      ]);
      const f = (r: number, c: number) => (q[r * k + c] - 8) * h2f(d[r * (k / 32) + (c >> 5)]);
      const w = ck.quantized("blk.0.attn_q.weight");
      assert.equal(w.format, "int4-sym");
      assertExact("Q4_0", w, n, k, f);
      assertGemm("Q4_0", w, n, k, f);
      const w3 = ck.quantized("blk.0.ffn_gate_exps.weight");
      assert.equal(w3.batch, e);
      const all = dequantize(w3);
      for (let i = 0; i < e * n * k; i++) {
        const want = Math.fround((q[i] - 8) * h2f(d[Math.floor(i / 32)]));
        if (!Object.is(all[i], want)) assert.fail(`Q4_0 stack: element ${i} = ${all[i]}, formula ${want}`);
      }
    });
  }),
);

test(
  "GGUF MXFP4: exact through fp4 with f16 scales 2^(e-127) today; e = 255 and out-of-range e refused",
  withDir(async (dir) => {
    const n = 10, k = 64, bl = k / 32;
    const q = randomCodes(n, k, 3);
    const rng = new Rng(4);
    const e = Uint8Array.from({ length: n * bl }, () => 112 + rng.int(16)); // scales 2^-15..2^0: outputs stay inside f16
    const path = join(dir, "mx.gguf");
    const bad = e.slice();
    bad[5] = 255;
    const low = e.slice();
    low[2] = 20;
    writeFileSync(
      path,
      ggufBytes([], [
        { name: "w", ne: [k, n], type: 39, bytes: packMxfp4(q, e, n, k) },
        { name: "nan", ne: [k, n], type: 39, bytes: packMxfp4(q, bad, n, k) },
        { name: "low", ne: [k, n], type: 39, bytes: packMxfp4(q, low, n, k) },
      ]),
    );
    const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
    const f = (r: number, c: number) => {
      const code = q[r * k + c];
      return (code & 8 ? -1 : 1) * E2M1[code & 7] * 2 ** (e[r * bl + (c >> 5)] - 127);
    };
    await using_(path, (ck) => {
      const w = ck.quantized("w");
      assert.equal(w.format, has("mxfp4") ? "mxfp4" : "fp4");
      assertExact("MXFP4", w, n, k, f);
      assertGemm("MXFP4", w, n, k, f);
      assert.throws(
        () => ck.quantized("nan"),
        (x: unknown) => x instanceof InexactImportError && /E8M0 scale 255/.test(x.message),
      );
      if (!has("mxfp4")) {
        assert.throws(
          () => ck.quantized("low"),
          (x: unknown) => x instanceof InexactImportError && /exponents span -107/.test(x.message),
        );
      }
    });
  }),
);

test(
  "GGUF Q4_K is refused with the reason; Q8_0 is not a 4-bit import",
  withDir(async (dir) => {
    const path = join(dir, "k.gguf");
    writeFileSync(
      path,
      ggufBytes([], [
        { name: "blk.0.ffn_down.weight", ne: [256, 2], type: 12, bytes: new Uint8Array(2 * 144) },
        { name: "output.weight", ne: [32, 2], type: 8, bytes: new Uint8Array(2 * 34) },
      ]),
    );
    await using_(path, (ck) => {
      const i = ck.info("blk.0.ffn_down.weight");
      assert.equal(i.exact, false);
      assert.match(i.reason!, /17 significant bits/);
      assert.equal(ck.info("output.weight").projection, "lm_head");
      assert.throws(
        () => ck.quantized("blk.0.ffn_down.weight"),
        (x: unknown) => x instanceof InexactImportError && /Q4_K/.test(x.message),
      );
      assert.throws(
        () => ck.quantized("output.weight"),
        (x: unknown) => x instanceof InexactImportError && /Q8_0/.test(x.message),
      );
    });
  }),
);

test(
  "GGUF Q4_1 -> int4-affine: exact (w = q·d + m)",
  withDir(async (dir) => {
    const n = 9, k = 64;
    const q = randomCodes(n, k, 5), d = randomHalves(n * 2, 6), m = randomHalves(n * 2, 7);
    const path = join(dir, "q41.gguf");
    writeFileSync(
      path,
      ggufBytes([], [{ name: "blk.1.ffn_up.weight", ne: [k, n], type: 3, bytes: packQ4_1(q, d, m, n, k) }]),
    );
    await using_(path, (ck) => {
      const f = (r: number, c: number) => q[r * k + c] * h2f(d[r * 2 + (c >> 5)]) + h2f(m[r * 2 + (c >> 5)]);
      const w = ck.quantized("blk.1.ffn_up.weight");
      assertExact("Q4_1", w, n, k, f);
      assertGemm("Q4_1", w, n, k, f);
    });
  }),
  { skip: needAffine },
);

function gptqFixture(
  dir: string,
  opts: { n: number; k: number; gs: number; v2: boolean; gIdx?: Int32Array; seed: number },
) {
  const { n, k, gs } = opts;
  const groups = Math.ceil(k / gs);
  const q = randomCodes(n, k, opts.seed);
  const zeros = randomCodes(groups, n, opts.seed + 1).map((z) => (opts.v2 ? z : 1 + (z % 15))); // v1: 1..15
  const s = randomHalves(groups * n, opts.seed + 2);
  const stored = zeros.map((z) => (opts.v2 ? z : z - 1));
  const tensors = [
    {
      name: "model.layers.0.mlp.down_proj.qweight",
      dtype: "I32",
      shape: [k / 8, n],
      bytes: le(packGptqWeight(q, n, k)),
    },
    {
      name: "model.layers.0.mlp.down_proj.qzeros",
      dtype: "I32",
      shape: [groups, Math.ceil(n / 8)],
      bytes: le(packGptqZeros(stored, groups, n)),
    },
    { name: "model.layers.0.mlp.down_proj.scales", dtype: "F16", shape: [groups, n], bytes: le(s) },
    { name: "model.norm.weight", dtype: "F16", shape: [4], bytes: le(new Float16Array([1, -2, 0.5, 3])) },
  ];
  if (opts.gIdx) {
    tensors.push({
      name: "model.layers.0.mlp.down_proj.g_idx",
      dtype: "I32",
      shape: [k],
      bytes: le(opts.gIdx),
    });
  }
  writeSt(join(dir, "model.safetensors"), tensors);
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      quantization_config: {
        quant_method: "gptq",
        bits: 4,
        group_size: gs === k ? -1 : gs,
        checkpoint_format: opts.v2 ? "gptq_v2" : "gptq",
      },
    }),
  );
  // w = scale · (q − zero), per column n = r and group g = floor(k / gs)
  return (r: number, c: number) =>
    h2f(s[Math.floor(c / gs) * n + r]) * (q[r * k + c] - zeros[Math.floor(c / gs) * n + r]);
}

test(
  "GPTQ v1 (+1 zeros) and v2: exact, N=12 (qzeros padded), K=72 with group 32 (K padded), trivial g_idx accepted",
  withDir(async (dir) => {
    for (const v2 of [false, true]) {
      const n = 12, k = 72, gs = 32;
      const gIdx = Int32Array.from({ length: k }, (_, i) => Math.floor(i / gs));
      const f = gptqFixture(dir, { n, k, gs, v2, gIdx, seed: v2 ? 20 : 10 });
      await using_(dir, (ck) => {
        const name = "model.layers.0.mlp.down_proj.weight";
        assert.deepEqual(ck.names().sort(), [name, "model.norm.weight"]);
        const i = ck.info(name);
        assert.deepEqual([i.source, i.shape, i.groupSize, i.projection, i.layer], [
          v2 ? "gptq_v2" : "gptq",
          [n, k],
          gs,
          "down",
          0,
        ]);
        const w = ck.quantized(name);
        assert.equal(w.format, "int4");
        assertExact(`GPTQ ${v2 ? "v2" : "v1"}`, w, n, k, f);
        assertGemm(`GPTQ ${v2 ? "v2" : "v1"}`, w, n, k, f);
        assert.deepEqual([...ck.float("model.norm.weight")], [1, -2, 0.5, 3]);
      });
    }
  }),
);

test(
  "GPTQ: act-order g_idx is refused naming the tensor; a v1 zero nibble 15 is refused; group_size -1 is one group",
  withDir(async (dir) => {
    const n = 8, k = 64, gs = 32;
    const perm = Int32Array.from({ length: k }, (_, i) => (i % 2 === 0 ? 0 : 1)); // act-order style
    gptqFixture(dir, { n, k, gs, v2: false, gIdx: perm, seed: 30 });
    await using_(dir, (ck) => {
      assert.throws(
        () => ck.quantized("model.layers.0.mlp.down_proj.weight"),
        (x: unknown) =>
          x instanceof InexactImportError && x.tensor === "model.layers.0.mlp.down_proj.g_idx" &&
          /act-order g_idx: row 1 is in group 1, not 0/.test(x.message),
      );
    });
    // v1 with a stored nibble 15 (zero "16"): write it by hand
    const f = gptqFixture(dir, { n, k: 64, gs: 64, v2: false, seed: 40 });
    await using_(dir, (ck) => {
      const w = ck.quantized("model.layers.0.mlp.down_proj.weight");
      assert.equal(w.groupSize, 64);
      assertExact("GPTQ per-channel", w, n, 64, f);
    });
    writeSt(join(dir, "model.safetensors"), [
      { name: "l.qweight", dtype: "I32", shape: [1, 8], bytes: le(new Uint32Array(8)) },
      { name: "l.qzeros", dtype: "I32", shape: [1, 1], bytes: le(new Uint32Array([0xf])) },
      { name: "l.scales", dtype: "F16", shape: [1, 8], bytes: le(new Float16Array(8).fill(1)) },
    ]);
    await using_(dir, (ck) => {
      assert.throws(
        () => ck.quantized("l.weight"),
        (x: unknown) =>
          x instanceof InexactImportError && /zero nibble 15 \(group 0, column 0\)/.test(x.message),
      );
    });
  }),
);

test(
  "AWQ: nibble interleave [0,2,4,6,1,3,5,7] undone exactly; K=40 (not a multiple of 8 or of group 32)",
  withDir(async (dir) => {
    const n = 16, k = 40, gs = 32, groups = 2;
    const q = randomCodes(n, k, 50), z = randomCodes(groups, n, 51), s = randomHalves(groups * n, 52);
    writeSt(join(dir, "model.safetensors"), [
      {
        name: "model.layers.3.self_attn.v_proj.qweight",
        dtype: "I32",
        shape: [k, n / 8],
        bytes: le(packAwq((kk, c) => q[c * k + kk], k, n)),
      },
      {
        name: "model.layers.3.self_attn.v_proj.qzeros",
        dtype: "I32",
        shape: [groups, n / 8],
        bytes: le(packAwq((g, c) => z[g * n + c], groups, n)),
      },
      { name: "model.layers.3.self_attn.v_proj.scales", dtype: "F16", shape: [groups, n], bytes: le(s) },
    ]);
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ quantization_config: { quant_method: "awq", bits: 4, group_size: gs } }),
    );
    await using_(dir, (ck) => {
      const name = "model.layers.3.self_attn.v_proj.weight";
      assert.deepEqual([ck.info(name).source, ck.info(name).shape, ck.info(name).projection], [
        "awq",
        [n, k],
        "v",
      ]);
      const f = (r: number, c: number) =>
        h2f(s[Math.floor(c / gs) * n + r]) * (q[r * k + c] - z[Math.floor(c / gs) * n + r]);
      const w = ck.quantized(name);
      assertExact("AWQ", w, n, k, f);
      assertGemm("AWQ", w, n, k, f);
    });
  }),
);

test(
  "MLX affine 4-bit -> int4-affine: exact with f16 and bf16 scales/biases (N=12, K=64, group 32)",
  withDir(async (dir) => {
    for (const dt of ["F16", "BF16"] as const) {
      const n = 12, k = 64, gs = 32, g = 2;
      const q = randomCodes(n, k, 60);
      const s = dt === "F16" ? randomHalves(n * g, 61) : randomBf16(n * g, 61);
      const b = dt === "F16" ? randomHalves(n * g, 62) : randomBf16(n * g, 62);
      const v = dt === "F16" ? h2f : bf2f;
      writeSt(join(dir, "model.safetensors"), [
        {
          name: "model.layers.0.self_attn.o_proj.weight",
          dtype: "U32",
          shape: [n, k / 8],
          bytes: le(packMlx(q, n, k)),
        },
        { name: "model.layers.0.self_attn.o_proj.scales", dtype: dt, shape: [n, g], bytes: le(s) },
        { name: "model.layers.0.self_attn.o_proj.biases", dtype: dt, shape: [n, g], bytes: le(b) },
      ]);
      writeFileSync(join(dir, "config.json"), JSON.stringify({ quantization: { group_size: gs, bits: 4 } }));
      await using_(dir, (ck) => {
        const name = "model.layers.0.self_attn.o_proj.weight";
        assert.equal(ck.info(name).source, "mlx:affine4");
        const f = (r: number, c: number) => v(s[r * g + (c >> 5)]) * q[r * k + c] + v(b[r * g + (c >> 5)]);
        const w = ck.quantized(name);
        assertExact(`MLX ${dt}`, w, n, k, f);
        assertGemm(`MLX ${dt}`, w, n, k, f);
      });
    }
  }),
  { skip: needAffine },
);

test(
  "MLX affine before int4-affine exists: refused with InexactImportError naming the format",
  withDir(async (dir) => {
    const n = 8, k = 32;
    writeSt(join(dir, "model.safetensors"), [
      { name: "m.weight", dtype: "U32", shape: [n, k / 8], bytes: le(new Uint32Array(n * k / 8)) },
      { name: "m.scales", dtype: "F16", shape: [n, 1], bytes: le(new Float16Array(n)) },
      { name: "m.biases", dtype: "F16", shape: [n, 1], bytes: le(new Float16Array(n)) },
    ]);
    await using_(dir, (ck) => {
      assert.equal(ck.info("m.weight").exact, false);
      assert.throws(
        () => ck.quantized("m.weight"),
        (x: unknown) => x instanceof InexactImportError && /int4-affine/.test(x.message),
      );
    });
  }),
  { skip: needAffine === undefined ? "int4-affine exists: the import test above covers MLX" : undefined },
);

async function using_(
  path: string,
  fn: (ck: Awaited<ReturnType<typeof openCheckpoint>>) => void,
): Promise<void> {
  const ck = await openCheckpoint(path);
  try {
    fn(ck);
  } finally {
    ck.close();
  }
}
