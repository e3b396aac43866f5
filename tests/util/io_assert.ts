// Shared assertions of the importer tests: exactness against a formula and GEMM against its float64
// reference (tests/io_import_gguf.test.ts, tests/io_import_st.test.ts).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTestDevice } from "../gemm_helpers.ts";
import { Rng } from "./random.ts";
import { type Checkpoint, openCheckpoint } from "../../lib/io/checkpoint.ts";
import { dequantize } from "../../lib/quant/dequantize.ts";
import { matmulF64 } from "../../lib/reference/gemm.ts";
import type { QuantizedMatrix } from "../../lib/quant/types.ts";

/** Runs fn in a fresh temp directory. */
export function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
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
export function assertExact(
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
export function assertGemm(
  label: string,
  q: QuantizedMatrix,
  n: number,
  k: number,
  f: (r: number, c: number) => number,
) {
  const w = new Float64Array(n * k);
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) w[r * k + c] = f(r, c);
  const dev = openTestDevice();
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

/** Opens `path`, runs fn, closes. */
export async function using_(
  path: string,
  fn: (ck: Checkpoint) => void,
): Promise<void> {
  const ck = await openCheckpoint(path);
  try {
    fn(ck);
  } finally {
    ck.close();
  }
}
