// Seeded API fuzz: 10,000 calls mixing valid and invalid arguments over Device.open, tensor/empty,
// upload, gemm, batchedGemm, tensor views (view/rows into gemm), quantize, padQuantized, compile and
// dispose. Every thrown error must be a
// MarlinError (typed), every valid GEMM result must match the float64 reference within fp16 bounds, and
// the device's live-buffer count must return to its start. Small shapes keep it to a few seconds.
import assert from "node:assert";
import { test } from "./harness.ts";
import { assertClose, dense, expect, openTestDevice, randF16, rng } from "./gemm_helpers.ts";
import { Device } from "../lib/api/device.ts";
import { MarlinError } from "../lib/runtime/errors.ts";
import { quantize } from "../lib/quant/quantize.ts";
import { padQuantized } from "../lib/quant/pad.ts";
import type { QuantizedMatrix } from "../lib/quant/types.ts";

const CALLS = 10_000;
const ODD: unknown[] = [null, undefined, 0, -1, 1.5, NaN, "x", "", [], {}, true, [1, -2], 2 ** 40];

test(`fuzz: ${CALLS} seeded API calls give only typed errors and correct GEMMs`, () => {
  const signed = rng(20261204);
  const r = (): number => (signed() + 1) / 2; // [0, 1)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const odd = (): unknown => pick(ODD);
  const dev = openTestDevice();
  const counts = { ok: 0, typed: 0, gemmChecked: 0 };
  const untyped: string[] = [];
  try {
    const base = dev.info.live_buffers;
    const weights: { q: QuantizedMatrix; w64: Float64Array }[] = [];
    for (const [k, n, format] of [[64, 16, "fp4"], [32, 8, "int4"], [64, 8, "int4-sym"]] as const) {
      const w = new Float32Array(k * n).map(() => signed());
      const q = quantize(w, { k, n, format, groupSize: 32, layout: "nk" });
      weights.push({ q, w64: dense(q) });
    }
    const uploaded = weights.map((x) => dev.upload(x.q));
    for (let i = 0; i < CALLS; i++) {
      const valid = r() < 0.5;
      const kind = Math.floor(r() * 9);
      let label = `call ${i} kind ${kind} valid ${valid}`;
      try {
        if (kind === 0 || kind === 1) { // gemm
          const wi = Math.floor(r() * weights.length), { q, w64 } = weights[wi];
          const m = 1 + Math.floor(r() * 4);
          const a16 = randF16(m * q.k, i);
          using a = dev.tensor(a16, [m, q.k]);
          label += ` gemm m=${m} k=${q.k} n=${q.n} ${q.format}`;
          if (valid) {
            using c = dev.gemm(a, uploaded[wi]);
            assertClose(
              label,
              c.toArray(),
              0,
              q.n,
              m,
              q.n,
              expect(a16, 0, q.k, m, q.k, q.n, w64, 0, undefined, {}),
            );
            counts.gemmChecked++;
          } else {
            const opts = pick([
              null,
              7,
              "m",
              { m: odd() },
              { lda: odd() },
              { ldc: odd() },
              { splitK: odd() },
              {
                m: 1 << 22,
              },
              { activation: odd() },
              { scale: odd() },
              { bias: odd() },
              { out: odd() },
            ]);
            dev.gemm(pick([a, odd()]) as never, pick([uploaded[wi], odd()]) as never, opts as never)
              .dispose();
          }
        } else if (kind === 2) { // batchedGemm
          const wi = Math.floor(r() * weights.length), { q, w64 } = weights[wi];
          const b = 1 + Math.floor(r() * 3), m = 1 + Math.floor(r() * 3);
          const a16 = randF16(b * m * q.k, i);
          using a = dev.tensor(a16, [b, m, q.k]);
          label += ` batchedGemm b=${b} m=${m} k=${q.k} n=${q.n}`;
          if (valid) {
            using c = dev.batchedGemm(a, uploaded[wi]);
            const got = c.toArray();
            for (let j = 0; j < b; j++) {
              const e = expect(a16, j * m * q.k, q.k, m, q.k, q.n, w64, 0, undefined, {});
              assertClose(label, got, j * m * q.n, q.n, m, q.n, e);
            }
            counts.gemmChecked++;
          } else {
            const opts = pick([null, 3, { batch: odd() }, { strideA: odd() }, { strideC: odd() }, {
              batch: 9,
            }]);
            dev.batchedGemm(a, uploaded[wi], opts as never).dispose();
          }
        } else if (kind === 3) { // tensor / empty
          if (valid) {
            dev.empty([1 + Math.floor(r() * 8)], pick(["f16", "f32", "u8", "u32"] as const)).dispose();
          } else if (r() < 0.5) dev.tensor(odd() as never, odd() as never).dispose();
          else dev.empty(odd() as never, odd() as never).dispose();
        } else if (kind === 4) { // quantize / padQuantized
          if (valid) {
            padQuantized(quantize(new Float32Array(32 * 8).fill(0.5), { k: 32, n: 8, format: "fp4" }));
          } else if (r() < 0.5) quantize(pick([odd(), new Float32Array(64)]) as never, odd() as never);
          else padQuantized(pick([weights[0].q, odd()]) as never, odd() as never);
        } else if (kind === 5) { // upload
          if (valid) dev.upload(weights[Math.floor(r() * 3)].q).dispose();
          else dev.upload(odd() as never);
        } else if (kind === 6) { // Device.open
          if (valid) openTestDevice().dispose();
          else Device.open(pick([odd(), { backend: odd() }, { threads: odd() }]) as never).dispose();
        } else if (kind === 8) { // views: A rows inside a larger buffer, out rows inside a larger cache
          const wi = Math.floor(r() * weights.length), { q, w64 } = weights[wi];
          const m = 1 + Math.floor(r() * 4), skip = Math.floor(r() * 3), at = Math.floor(r() * 3);
          const a16 = randF16((skip + m + 1) * q.k, i);
          using big = dev.tensor(a16, [skip + m + 1, q.k]);
          using cache = dev.empty([at + m + 2, q.n], "f16");
          label += ` views m=${m} a rows ${skip}.. out rows ${at}.. k=${q.k} n=${q.n}`;
          if (valid) {
            dev.gemm(big.rows(skip, skip + m), uploaded[wi], { out: cache.rows(at, at + m) });
            const e = expect(a16, skip * q.k, q.k, m, q.k, q.n, w64, 0, undefined, {});
            assertClose(label, cache.toArray(), at * q.n, q.n, m, q.n, e);
            counts.gemmChecked++;
          } else {
            const call = Math.floor(r() * 4);
            if (call === 0) big.view(odd() as never, odd() as never);
            else if (call === 1) cache.rows(odd() as never, odd() as never);
            else if (call === 2) {
              dev.gemm(big.rows(skip, skip + m), uploaded[wi], { out: cache.rows(at, at + m - 1) });
            } else dev.gemm(big.rows(0, m), uploaded[wi], { out: big.rows(skip, skip + m), ldc: q.k });
          }
        } else { // compile with bad arguments only (a valid compile runs the C++ compiler)
          dev.compile(odd() as never, pick([odd(), {}]) as never);
        }
        counts.ok++;
      } catch (e) {
        if (e instanceof MarlinError) counts.typed++;
        else if (e instanceof assert.AssertionError) throw e;
        else untyped.push(`${label}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      }
    }
    for (const w of uploaded) w.dispose();
    assert.deepStrictEqual(untyped.slice(0, 20), [], `${untyped.length} untyped errors`);
    assert.ok(counts.gemmChecked > 1000, `only ${counts.gemmChecked} GEMMs checked`);
    assert.ok(counts.typed > 2000, `only ${counts.typed} typed errors`);
    assert.strictEqual(dev.info.live_buffers, base, "live buffers after the fuzz");
  } finally {
    dev.dispose();
  }
});
