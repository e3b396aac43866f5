// Weight traffic of the M <= 16 kernels at any group size (issue 11), from trace mode (exact access
// counts of every lane on the CPU shader runtime, not a GPU). Total device bytes read are exactly the
// stored packed codes + scales (+ zero points or biases), each read once, plus the activations read once
// per 32-column threadgroup (the vector kernels' documented re-read of x); and the distinct bytes read
// are exactly those arrays + A (+ the few params fields). Together: no weight byte read twice or skipped.
import assert from "node:assert/strict";
import { test as harnessTest } from "./harness.ts";
import { clangSkip } from "./util/clang.ts";
import { Device } from "../mod.ts";
import { traceGemm } from "../lib/cli/profile.ts";
import { FORMAT_INFO, type QuantFormat, SCALE_DTYPE_BYTES } from "../lib/quant/formats.ts";

const test = (name: string, fn: () => void | Promise<void>): void =>
  harnessTest(name, fn, { skip: clangSkip });

/** The GemmParams block is 112 bytes (csrc/core/gemm.cpp static_asserts it): an upper bound on its reads. */
const PARAMS_BYTES = 112;

const CASES: [QuantFormat, number | "channel", number, number, ("f16" | "bf16")?][] = [
  // format, group size, M (1 = gemv, 3..5 = small), splitK, activations
  ["fp4", 8, 1, 1],
  ["int4", 24, 5, 1],
  ["int4", 32, 1, 1],
  ["int4-sym", 40, 1, 1],
  ["int4-sym", 64, 5, 1],
  ["fp4", 128, 1, 1],
  ["fp4", 256, 5, 1], // one group per simdgroup slice of a block: read 4 times before issue 11's staging
  ["int4-affine", 200, 5, 1], // group 1 straddles the 256-K block boundary
  ["int4-affine", 64, 5, 1, "bf16"],
  ["int4-affine", "channel", 1, 1],
  ["mxfp4", 32, 5, 1],
  ["nvfp4", 16, 1, 1],
  ["fp4", 128, 3, 2],
  // Split-K: the router puts split boundaries on group boundaries (K = 400: chunks of 256, 216, 200, 200),
  // so even a group size not dividing 256 is read by one split only.
  ["fp4", 8, 1, 2],
  ["int4", 24, 3, 2],
  ["int4-sym", 40, 3, 2, "bf16"],
  ["int4", 200, 3, 2], // cut at K = 256 by the old 256-value chunks: was read by both splits
  ["int4-affine", 200, 1, 2, "bf16"],
  ["mxfp4", 32, 3, 2],
  ["nvfp4", 16, 1, 2, "bf16"],
  // Per channel the one group spans every split: the splits read no scale, the reduction applies each
  // column's scale (+ zero/bias) once, so the main kernel reads packed codes only.
  ["int4", "channel", 3, 2],
  ["int4-affine", "channel", 1, 2, "bf16"],
  ["int4-sym", "channel", 5, 2],
  ["fp4", "channel", 1, 2],
];

/** Group rows a K range of packed words [w0, w1) touches: the groups of its first and last word and between. */
const groupsOf = (w0: number, w1: number, gs: number): number =>
  Math.floor((w1 - 1) * 8 / gs) - Math.floor(w0 * 8 / gs) + 1;

test("trace: M <= 16 kernels read every packed, scale and zero/bias byte exactly once, at any group size", () => {
  using dev = Device.open({ backend: "cpu", instrument: "trace" });
  const n = 64, k = 400;
  for (const [format, gsOpt, m, splitK, act] of CASES) {
    const groupSize = gsOpt === "channel" ? k : gsOpt;
    const report = traceGemm({ m, n, k, format, groupSize, splitK, act }, dev);
    const d = report.dispatches[0];
    const info = FORMAT_INFO[format];
    const sBytes = SCALE_DTYPE_BYTES[info.scaleDtypes[0]];
    const gBytes = sBytes + (info.hasZeroArray ? 1 : info.hasBias ? sBytes : 0); // per (group, column)
    // The kernels walk ceil(K / 8) packed rows: the rows past K that only pad to the group are never read.
    const kw = Math.ceil(k / 8);
    const packed = kw * n * 4;
    const stored = groupsOf(0, kw, groupSize) * n * gBytes;
    const splits = d.grid[1];
    assert.equal(splits, splitK, `${d.kernel}: ${splits} splits`);
    // Exact: stored bytes once, by the main kernel, or (per channel under split-K) by the reduction.
    const deferred = groupSize >= k && splits > 1;
    const traced = deferred ? 0 : stored;
    const acts = m * k * 2, colGroups = Math.ceil(n / 32);
    const label = `${d.kernel} ${format} gs${groupSize} M=${m} ${act ?? "f16"} splits=${splits}`;
    const weight = d.deviceBytesRead - acts * colGroups;
    assert.equal(
      weight,
      packed + traced,
      `${label}: weight bytes read ${weight} != packed ${packed} + scales/zeros/biases ${traced} (stored ${stored})`,
    );
    const params = d.minimalBytesRead - (packed + traced + acts);
    assert.ok(
      params >= 0 && params <= PARAMS_BYTES,
      `${label}: distinct bytes read ${d.minimalBytesRead} = packed ${packed} + scales/zeros/biases ${traced} + A ${acts} + ${params}`,
    );
    if (!deferred) continue;
    // The reduction: every partial once, the per-row sums of x once (offset formats: one threadgroup
    // here), and the stored scales (+ zeros/biases) once.
    const red = report.dispatches[1];
    assert.equal(red.kernel, "gemm_splitk_reduce");
    const sums = info.codes === "e2m1" ? 0 : splits * m * 4;
    assert.equal(
      red.deviceBytesRead,
      splits * m * n * 4 + sums + stored,
      `${label} reduce: bytes read ${red.deviceBytesRead} != partials ${
        splits * m * n * 4
      } + sums of x ${sums} + stored ${stored}`,
    );
  }
});
