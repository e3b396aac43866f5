// Weight traffic of the M <= 16 kernels at any group size (issue 11), from trace mode: the packed-word
// load reads exactly the packed bytes, and the distinct device bytes a dispatch reads are exactly the
// packed codes + scales (+ zero points or biases) + activations, plus the few params fields it uses;
// so no group size makes a kernel read a weight byte twice from a different place or skip one.
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

const CASES: [QuantFormat, number | "channel", number, number][] = [
  // format, group size, M (1 = gemv, 5 = small), splitK
  ["fp4", 8, 1, 1],
  ["int4", 24, 5, 1],
  ["int4-sym", 40, 1, 1],
  ["int4-affine", 200, 5, 1],
  ["int4-affine", "channel", 1, 1],
  ["mxfp4", 32, 5, 1],
  ["nvfp4", 16, 1, 1],
  ["fp4", 128, 3, 2],
];

test("trace: M <= 16 kernels read packed + scale (+ zero/bias) bytes, no more distinct bytes, at any group size", () => {
  using dev = Device.open({ backend: "cpu", instrument: "trace" });
  const n = 64, k = 400;
  for (const [format, gsOpt, m, splitK] of CASES) {
    const groupSize = gsOpt === "channel" ? k : gsOpt;
    const report = traceGemm({ m, n, k, format, groupSize, splitK }, dev);
    const d = report.dispatches[0];
    const kp = Math.ceil(k / groupSize) * groupSize, groups = (kp / groupSize) * n;
    const info = FORMAT_INFO[format];
    const sBytes = SCALE_DTYPE_BYTES[info.scaleDtypes[0]];
    // The kernels walk ceil(K / 8) packed rows: the rows past K that only pad to the group are never read.
    const packed = Math.ceil(k / 8) * n * 4;
    const usedGroups = Math.ceil(Math.ceil(k / 8) * 8 / groupSize) * n;
    const scales = usedGroups * sBytes;
    const extra = info.hasZeroArray ? usedGroups : info.hasBias ? usedGroups * sBytes : 0;
    const acts = m * k * 2;
    const label = `${d.kernel} ${format} gs${groupSize} M=${m} (${groups} groups)`;
    const packedLine = d.lines.filter((l) => l.kind === "load" && l.bytes === packed);
    assert.ok(packedLine.length >= 1, `${label}: no load line read exactly the ${packed} packed bytes`);
    const params = d.minimalBytesRead - (packed + scales + extra + acts);
    assert.ok(
      params >= 0 && params <= PARAMS_BYTES,
      `${label}: distinct bytes read ${d.minimalBytesRead} = packed ${packed} + scales ${scales} + zero/bias ${extra} + A ${acts} + ${params}`,
    );
  }
});
