// GPTQ, AWQ and MLX importers (safetensors): fixtures written by tests/util packers from each tool's
// published layout, then dequantize(ckpt.quantized(name)) must equal the source's formula bit for bit and
// a GEMM on the imported weight must match its float64 reference. Odd shapes: N not a multiple of 8, K not
// a multiple of the group size (or of 8, for AWQ).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { le, writeSt } from "./util/st_writer.ts";
import {
  bf2f,
  h2f,
  packAwq,
  packGptqWeight,
  packGptqZeros,
  packMlx,
  randomBf16,
  randomCodes,
  randomHalves,
} from "./util/packers.ts";
import { assertExact, assertGemm, needAffine, using_, withDir } from "./util/io_assert.ts";
import { InexactImportError } from "../lib/io/errors.ts";

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
      const info = ck.info("model.layers.0.mlp.down_proj.weight");
      assert.equal(info.exact, false);
      assert.match(info.reason!, /tensor "model.layers.0.mlp.down_proj.g_idx": act-order g_idx/);
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
      assert.equal(w.kp, 64);
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
    // A configured group size far above K (one group): stored per channel, not padded to 2^30.
    const f2 = gptqFixture(dir, { n, k: 72, gs: 2 ** 30, v2: true, seed: 41 });
    await using_(dir, (ck) => {
      const w = ck.quantized("model.layers.0.mlp.down_proj.weight");
      assert.deepEqual([w.groupSize, w.kp], [72, 72]);
      assertExact("GPTQ group 2^30", w, n, 72, f2);
    });
  }),
);

test(
  "AWQ: nibble interleave undone exactly; K=40 (not a multiple of 8 or of 32); layer split over two shards; told from GPTQ by shape",
  withDir(async (dir) => {
    const n = 16, k = 40, gs = 32, groups = 2;
    const q = randomCodes(n, k, 50), z = randomCodes(groups, n, 51), s = randomHalves(groups * n, 52);
    const p = "model.layers.3.self_attn.v_proj";
    const qweight = {
      name: `${p}.qweight`,
      dtype: "I32",
      shape: [k, n / 8],
      bytes: le(packAwq((kk, c) => q[c * k + kk], k, n)),
    };
    const qzeros = {
      name: `${p}.qzeros`,
      dtype: "I32",
      shape: [groups, n / 8],
      bytes: le(packAwq((g, c) => z[g * n + c], groups, n)),
    };
    const scales = { name: `${p}.scales`, dtype: "F16", shape: [groups, n], bytes: le(s) };
    writeSt(join(dir, "model-00001-of-00002.safetensors"), [qweight]);
    writeSt(join(dir, "model-00002-of-00002.safetensors"), [qzeros, scales]);
    writeFileSync(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({
        weight_map: {
          [qweight.name]: "model-00001-of-00002.safetensors",
          [qzeros.name]: "model-00002-of-00002.safetensors",
          [scales.name]: "model-00002-of-00002.safetensors",
        },
      }),
    );
    // No quant_method: qweight [K, N/8] next to scales [G, N] can only be AWQ.
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ quantization_config: { bits: 4, group_size: gs } }),
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
