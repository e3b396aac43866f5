// Each format's decode against its published definition, written here independently of lib/quant (bit
// fields and powers of two, no tables): OCP MX E2M1 and E8M0, OCP FP8 E4M3 (NVFP4's block scale), bf16.
// Weights are built by hand from those definitions (not through quantize()), then dequantize(), the
// float64 reference and the GEMM kernels (one-hot activations read single weights back) must agree bit for bit.
import assert from "node:assert";
import { test } from "./harness.ts";
import { openTestDevice, rng } from "./gemm_helpers.ts";
import {
  decodeBF16,
  decodeE4M3,
  decodeE8M0,
  E4M3_VALUES,
  E8M0_VALUES,
  FP4_E2M1_VALUES,
  type QuantFormat,
  type ScaleDType,
} from "../lib/quant/formats.ts";
import { dequantize } from "../lib/quant/dequantize.ts";
import { dequantizeF64 } from "../lib/reference/gemm.ts";
import { quantize } from "../lib/quant/quantize.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";
import { InvalidArgumentError } from "../lib/runtime/errors.ts";
import { bf16BitsToF32 } from "../lib/quant/convert.ts";

// ---- the published definitions, independently ----

/** OCP MX E2M1: sign bit 3, exponent bits 2..1 (bias 1), mantissa bit 0; exponent 0 is subnormal. */
function e2m1(code: number): number {
  const sign = code & 8 ? -1 : 1, e = (code >> 1) & 3, m = code & 1;
  return sign * (e === 0 ? m * 0.5 : 2 ** (e - 1) * (1 + m / 2));
}
/** OCP MX E8M0: 2^(e - 127), e = 255 is NaN. */
function e8m0(e: number): number {
  return e === 255 ? NaN : Math.pow(2, e - 127);
}
/** OCP FP8 E4M3 (FN): sign, 4 exponent bits bias 7, 3 mantissa bits, subnormals, S.1111.111 is NaN. */
function e4m3(b: number): number {
  const sign = b >> 7 ? -1 : 1, e = (b >> 3) & 15, m = b & 7;
  if (e === 15 && m === 7) return NaN;
  return sign * (e === 0 ? m * Math.pow(2, -9) : Math.pow(2, e - 7) * (1 + m / 8));
}
/** bf16: the high 16 bits of an IEEE binary32. */
function bf16(bits: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits << 16);
  return dv.getFloat32(0);
}

test("E2M1: all 16 codes equal the OCP definition (8 is -0)", () => {
  for (let c = 0; c < 16; c++) assert.ok(Object.is(FP4_E2M1_VALUES[c], e2m1(c)), `code ${c}`);
});

test("E8M0: all 256 bytes equal 2^(e-127) (e = 0 is the float32 subnormal 2^-127), 255 is NaN", () => {
  for (let e = 0; e < 255; e++) {
    assert.strictEqual(decodeE8M0(e), e8m0(e), `e ${e}`);
    assert.strictEqual(E8M0_VALUES[e], e8m0(e), `table e ${e}`);
  }
  assert.strictEqual(E8M0_VALUES[0], 2 ** -127);
  assert.ok(E8M0_VALUES[0] > 0 && E8M0_VALUES[0] < 2 ** -126, "2^-127 must survive as a subnormal");
  assert.strictEqual(E8M0_VALUES[254], 2 ** 127);
  assert.ok(Number.isNaN(decodeE8M0(255)) && Number.isNaN(E8M0_VALUES[255]));
});

test("E4M3: all 256 bytes equal the OCP FP8 definition; edges: subnormals, 448, -0, NaN", () => {
  for (let b = 0; b < 256; b++) {
    const want = e4m3(b);
    if (Number.isNaN(want)) {
      assert.ok(Number.isNaN(decodeE4M3(b)) && Number.isNaN(E4M3_VALUES[b]), `byte ${b}`);
    } else {
      assert.ok(
        Object.is(decodeE4M3(b), want) && Object.is(E4M3_VALUES[b], want),
        `byte 0x${b.toString(16)}`,
      );
    }
  }
  assert.strictEqual(decodeE4M3(0x01), 2 ** -9); // smallest subnormal
  assert.strictEqual(decodeE4M3(0x07), 7 * 2 ** -9); // largest subnormal
  assert.strictEqual(decodeE4M3(0x08), 2 ** -6); // smallest normal
  assert.strictEqual(decodeE4M3(0x7e), 448); // largest finite
  assert.strictEqual(decodeE4M3(0xfe), -448);
  assert.ok(Object.is(decodeE4M3(0x80), -0));
  assert.ok(Number.isNaN(decodeE4M3(0x7f)) && Number.isNaN(decodeE4M3(0xff)));
  assert.strictEqual(decodeE4M3(0x78), 256); // exponent 15 is finite (no infinities)
});

test("bf16: decode equals the top half of binary32 (normals, subnormals, signed zero, inf)", () => {
  for (
    const bits of [0x0000, 0x8000, 0x0001, 0x007f, 0x0080, 0x3f80, 0xbf80, 0x7f7f, 0xff7f, 0x7f80, 0x4049]
  ) {
    assert.ok(Object.is(decodeBF16(bits), bf16(bits)), `0x${bits.toString(16)}`);
    assert.ok(Object.is(bf16BitsToF32(bits), bf16(bits)), `convert 0x${bits.toString(16)}`);
  }
});

// ---- hand-built weights: every code x representative scales, decoded bit for bit ----

// K = 32 rows (two 16-groups or one 32-group), N = 16 columns; column n, row k holds code (k + n) % 16,
// so every column has all 16 codes. Scales per (group, column) from `scale(g, n)`.
interface Built {
  q: QuantizedMatrix;
  /** Formula value (float64) of row k, column n. */
  value: (k: number, n: number) => number;
}
const K = 32, N = 16;

function build(format: QuantFormat, scaleDtype: ScaleDType, seed: number): Built {
  const gs = format === "nvfp4" ? 16 : format === "mxfp4" ? 32 : 16;
  const groups = K / gs;
  const r = rng(seed);
  const packed = new Uint32Array((K / 8) * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) packed[(k >> 3) * N + n] |= ((k + n) % 16) << ((k & 7) * 4);
  }
  const count = groups * N;
  // Representative scales: bf16 / f16 random magnitudes over several binades (both signs for biases);
  // E8M0 exponents around 2^-8..2^6; E4M3 bytes over subnormals and normals (no NaN).
  const raw16 = (i: number, signed: boolean): number => {
    const v = (signed && i % 2 ? -1 : 1) * (0.5 + (r() + 1) / 2) * 2 ** ((i % 9) - 6);
    return scaleDtype === "bf16" ? new Uint16Array(new Float32Array([v]).buffer)[1] : v;
  };
  let scales: Float16Array | Uint16Array | Uint8Array;
  if (scaleDtype === "e8m0") scales = Uint8Array.from({ length: count }, (_, i) => 119 + (i % 15));
  else if (scaleDtype === "e4m3") {
    scales = Uint8Array.from({ length: count }, (_, i) => [1, 5, 7, 8, 0x30, 0x47, 0x55, 0x7e][i % 8]);
  } else if (scaleDtype === "bf16") scales = Uint16Array.from({ length: count }, (_, i) => raw16(i, false));
  else scales = Float16Array.from({ length: count }, (_, i) => raw16(i, false));
  const biases = format !== "int4-affine"
    ? undefined
    : scaleDtype === "bf16"
    ? Uint16Array.from({ length: count }, (_, i) => raw16(i + 3, true))
    : Float16Array.from({ length: count }, (_, i) => raw16(i + 3, true));
  const zeros = format === "int4" ? Uint8Array.from({ length: count }, (_, i) => i % 16) : undefined;
  const tensorScale = Math.fround(0.0123);
  const dec = (x: number): number =>
    scaleDtype === "bf16" ? bf16(x) : scaleDtype === "e8m0" ? e8m0(x) : scaleDtype === "e4m3" ? e4m3(x) : x;
  const value = (k: number, n: number): number => {
    const c = (k + n) % 16, i = Math.floor(k / gs) * N + n;
    const s = dec(scales[i]);
    switch (format) {
      case "fp4":
      case "mxfp4":
        return e2m1(c) * s;
      case "nvfp4":
        return e2m1(c) * s * tensorScale;
      case "int4":
        return (c - zeros![i]) * s;
      case "int4-sym":
        return (c - 8) * s;
      case "int4-affine":
        return s * c + dec(biases![i]);
    }
  };
  const q: QuantizedMatrix = {
    format,
    k: K,
    n: N,
    kp: K,
    np: N,
    groupSize: gs,
    batch: undefined,
    layout: "kn",
    packed,
    scaleDtype,
    scales,
    zeros,
    ...(biases ? { biases } : {}),
    ...(format === "nvfp4" ? { tensorScale } : {}),
  };
  return { q, value };
}

const CASES: [QuantFormat, ScaleDType][] = [
  ["fp4", "f16"],
  ["fp4", "bf16"],
  ["int4", "f16"],
  ["int4-sym", "bf16"],
  ["int4-affine", "f16"],
  ["int4-affine", "bf16"],
  ["mxfp4", "e8m0"],
  ["nvfp4", "e4m3"],
];

for (const [format, sd] of CASES) {
  test(`${format} (${sd} scales): dequantize and the float64 reference equal the definition bit for bit`, () => {
    const { q, value } = build(format, sd, 7);
    const f32 = dequantize(q), f64 = dequantizeF64(q);
    for (let k = 0; k < K; k++) {
      for (let n = 0; n < N; n++) {
        const want = value(k, n);
        assert.ok(
          Object.is(f64[k * N + n], want) || (want === 0 && f64[k * N + n] === 0),
          `f64 k ${k} n ${n}`,
        );
        assert.strictEqual(f32[k * N + n], Math.fround(want), `f32 k ${k} n ${n}`);
      }
    }
  });

  // Row r of A is one-hot at k = kOf(r), so C[r][n] is the single weight w[kOf(r)][n] rounded once to the
  // output type: the kernels' decode compared with the definition, element by element.
  for (const [m, act] of [[16, "f16"], [32, "bf16"]] as const) {
    test(`${format} (${sd} scales): the ${m === 16 ? "small-batch" : "tiled"} kernel reads every code back exactly (${act})`, () => {
      const dev = openTestDevice();
      try {
        const { q, value } = build(format, sd, 11);
        const kOf = (r: number) => (m === 16 ? 2 * r + (r & 1) : r);
        const a = new Float32Array(m * K);
        for (let r = 0; r < m; r++) a[r * K + kOf(r)] = 1;
        using w = dev.upload(q);
        using ta = act === "bf16"
          ? dev.tensor(Uint16Array.from(a, (x) => (x === 1 ? 0x3f80 : 0)), [m, K], "bf16")
          : dev.tensor(Float16Array.from(a), [m, K]);
        using c = dev.gemm(ta, w);
        const got = c.toArray() as Float16Array | Uint16Array;
        for (let r = 0; r < m; r++) {
          for (let n = 0; n < N; n++) {
            const x = Math.fround(value(kOf(r), n));
            const g = act === "bf16" ? bf16(got[r * N + n]) : got[r * N + n];
            // Round once to the output: f16 by the Float16Array conversion, bf16 by nearest even on the bits.
            const want = act === "bf16" ? bf16(rneBf16(x)) : Float16Array.of(x)[0];
            // nvfp4's s * tensorScale is one float rounding before the code multiply: 1 output ulp.
            const ulp = format === "nvfp4" ? Math.abs(want) * (act === "bf16" ? 2 ** -7 : 2 ** -10) : 0;
            assert.ok(Math.abs(g - want) <= ulp, `row ${r} (k ${kOf(r)}) n ${n}: got ${g}, want ${want}`);
          }
        }
      } finally {
        dev.dispose();
      }
    });
  }
}

function rneBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

test("NaN encodings are refused: E8M0 255 and E4M3 0x7F / 0xFF at upload, naming the index", () => {
  const dev = openTestDevice();
  try {
    const mx = build("mxfp4", "e8m0", 3).q;
    const badMx = Uint8Array.from(mx.scales);
    badMx[5] = 255;
    assert.throws(
      () => dev.upload({ ...mx, scales: badMx }),
      (e: unknown) => e instanceof InvalidArgumentError && /byte 0xff at index 5 encodes NaN/.test(e.message),
    );
    const nv = build("nvfp4", "e4m3", 3).q;
    for (const b of [0x7f, 0xff]) {
      const bad = Uint8Array.from(nv.scales);
      bad[2] = b;
      assert.throws(
        () => dev.upload({ ...nv, scales: bad }),
        (e: unknown) => e instanceof InvalidArgumentError && /index 2 encodes NaN/.test(e.message),
      );
    }
  } finally {
    dev.dispose();
  }
});

test("quantize never writes a NaN scale byte and reaches the E8M0 / E4M3 extremes it needs", () => {
  const w = Float32Array.from({ length: 64 * 8 }, (_, i) => (i % 64 === 0 ? 1e30 : i % 5 === 0 ? 1e-30 : 0));
  const mx = quantize(w, { k: 64, n: 8, format: "mxfp4" });
  assert.ok(!(mx.scales as Uint8Array).includes(255));
  assert.ok((mx.scales as Uint8Array).some((e) => e8m0(e) * 6 >= 1e30), "1e30 must fit 6 * 2^(e-127)");
  const nv = quantize(w, { k: 64, n: 8, format: "nvfp4" });
  const bytes = nv.scales as Uint8Array;
  assert.ok(!bytes.includes(0x7f) && !bytes.includes(0xff));
  assert.ok(bytes.includes(0x7e), "the block holding the tensor's absmax uses E4M3's 448");
  assert.throws(() => quantize(w, { k: 64, n: 8, format: "mxfp4", groupSize: 16 }), InvalidArgumentError);
  assert.throws(() => quantize(w, { k: 64, n: 8, format: "nvfp4", groupSize: 32 }), InvalidArgumentError);
  assert.throws(() => quantize(w, { k: 64, n: 8, format: "fp4", scaleDtype: "e8m0" }), InvalidArgumentError);
});
