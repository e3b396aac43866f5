// The importers whose target formats arrive with issue #11 (int4-affine for MLX and GGUF Q4_1, mxfp4 for
// GGUF MXFP4), checked now against the format contract: their output is decoded here with the contract's
// formulas (w = s·q + b; w = E2M1(q)·2^(e−127)) and must equal the source formula exactly, padding
// included. io_import_*.test.ts runs the same sources through dequantize() and GEMM once #11 lands.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "./harness.ts";
import { ggufBytes } from "./util/gguf_writer.ts";
import {
  bf2f,
  h2f,
  packMlx,
  packMxfp4,
  packQ4_1,
  randomBf16,
  randomCodes,
  randomHalves,
} from "./util/packers.ts";
import { le } from "./util/st_writer.ts";
import { withDir } from "./util/io_assert.ts";
import { Rng } from "./util/random.ts";
import { GgufFile } from "../lib/io/gguf.ts";
import { importGguf } from "../lib/io/import_gguf.ts";
import { importMlx } from "../lib/io/import_mlx.ts";
import type { ImportedMatrix } from "../lib/io/contract.ts";

const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** The contract's decode of element [b][r][c] (row r = output column n, c = k). */
function contractValue(m: ImportedMatrix, b: number, r: number, c: number): number {
  const word = m.packed[(b * (m.kp / 8) + (c >> 3)) * m.np + r];
  const q = (word >>> ((c & 7) << 2)) & 15;
  const si = (b * (m.kp / m.groupSize) + Math.floor(c / m.groupSize)) * m.np + r;
  const v = (a: Float16Array | Uint16Array | Uint8Array) => (m.scaleDtype === "bf16" ? bf2f(a[si]) : a[si]);
  if (m.format === "int4-affine") return v(m.scales) * q + v(m.biases!);
  if (m.format === "mxfp4") return E2M1[q] * 2 ** (m.scales[si] - 127);
  throw new Error(`unexpected format ${m.format}`);
}

function assertContract(
  label: string,
  m: ImportedMatrix,
  n: number,
  k: number,
  f: (b: number, r: number, c: number) => number,
) {
  for (let b = 0; b < (m.batch ?? 1); b++) {
    for (let r = 0; r < m.np; r++) {
      for (let c = 0; c < m.kp; c++) {
        const want = r < n && c < k ? f(b, r, c) : 0; // padding decodes to exactly 0
        const got = contractValue(m, b, r, c);
        if (!Object.is(got, want) && !(want === 0 && got === 0)) {
          assert.fail(`${label}: [${b}][${r}][${c}] = ${got}, want ${want}`);
        }
      }
    }
  }
}

test(
  "contract: GGUF Q4_1 -> int4-affine (f16 scale d, bias m) and MXFP4 -> mxfp4 (E8M0 bytes kept), N=11",
  withDir((dir) => {
    const n = 11, k = 64, bl = 2;
    const q = randomCodes(n, k, 1), d = randomHalves(n * bl, 2), mm = randomHalves(n * bl, 3);
    const rng = new Rng(4);
    const e = Uint8Array.from({ length: n * bl }, () => rng.int(255)); // the whole E8M0 range but NaN
    const path = join(dir, "c.gguf");
    writeFileSync(
      path,
      ggufBytes([], [
        { name: "q41", ne: [k, n], type: 3, bytes: packQ4_1(q, d, mm, n, k) },
        { name: "mx", ne: [k, n], type: 39, bytes: packMxfp4(q, e, n, k) },
      ]),
    );
    const g = GgufFile.open(path);
    try {
      const a = importGguf(path, g.tensors.get("q41")!, g.bytes("q41"), true);
      assert.deepEqual([a.format, a.scaleDtype, a.groupSize, a.np], ["int4-affine", "f16", 32, 16]);
      assertContract(
        "Q4_1",
        a,
        n,
        k,
        (_, r, c) => q[r * k + c] * h2f(d[r * bl + (c >> 5)]) + h2f(mm[r * bl + (c >> 5)]),
      );
      const x = importGguf(path, g.tensors.get("mx")!, g.bytes("mx"), true);
      assert.deepEqual([x.format, x.scaleDtype, x.scales instanceof Uint8Array], ["mxfp4", "e8m0", true]);
      assertContract("MXFP4", x, n, k, (_, r, c) => E2M1[q[r * k + c]] * 2 ** (e[r * bl + (c >> 5)] - 127));
    } finally {
      g.close();
    }
  }),
);

test("contract: MLX affine -> int4-affine with f16 and bf16 scales/biases, 2-D and a 3-expert stack (N=12)", () => {
  for (const dt of ["F16", "BF16"] as const) {
    const e = 3, n = 12, k = 64, gs = 32, g = 2;
    const q = randomCodes(e * n, k, 5);
    const s = dt === "F16" ? randomHalves(e * n * g, 6) : randomBf16(e * n * g, 6);
    const b = dt === "F16" ? randomHalves(e * n * g, 7) : randomBf16(e * n * g, 7);
    const val = dt === "F16" ? h2f : bf2f;
    const t = (name: string, dtype: string, shape: number[], a: ArrayBufferView) => ({
      name,
      dtype,
      shape,
      bytes: le(a),
    });
    for (const stacked of [false, true]) {
      const rows = stacked ? e * n : n;
      const lead = stacked ? [e] : [];
      const m = importMlx(
        "mem",
        "experts",
        t("w", "U32", [...lead, n, k / 8], packMlx(q.subarray(0, rows * k), rows, k)),
        t("s", dt, [...lead, n, g], s.subarray(0, rows * g)),
        t("b", dt, [...lead, n, g], b.subarray(0, rows * g)),
        { groupSize: gs, bits: 4, contract: true },
      );
      assert.deepEqual([m.format, m.scaleDtype, m.batch, m.np], [
        "int4-affine",
        dt === "F16" ? "f16" : "bf16",
        stacked ? e : undefined,
        16,
      ]);
      assert.ok(dt === "F16" ? m.scales instanceof Float16Array : m.scales instanceof Uint16Array);
      assertContract(`MLX ${dt}${stacked ? " stack" : ""}`, m, n, k, (x, r, c) => {
        const row = x * n + r;
        return val(s[row * g + (c >> 5)]) * q[row * k + c] + val(b[row * g + (c >> 5)]);
      });
    }
  }
});
