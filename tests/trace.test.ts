// Trace mode (issue 5, deliverable 1): fixture kernels with known per-line answers (sectors per
// request vs ideal), vector and simdgroup_matrix accesses counted as the kernel wrote them, byte
// totals, and the trace() contract (only inside a trace-mode device, only the dispatches inside fn).
import assert from "node:assert/strict";
import { test as harnessTest } from "./harness.ts";
import { clangSkip } from "./util/clang.ts";
import { Device, InvalidArgumentError } from "../mod.ts";
import { compareWithAudit, type TraceDispatch, type TraceLine } from "../lib/runtime/trace.ts";
import { summarizeDispatch, TRACE_BENCH_SHAPES, traceGemm } from "../lib/cli/profile.ts";
import { auditShaders } from "../lib/audit/memory.ts";
import { lineOf, load, source } from "./util/kernels.ts";

// Every test here needs the clang-only instrumented build (see tests/util/clang.ts).
const test = (name: string, fn: () => void | Promise<void>): void =>
  harnessTest(name, fn, { skip: clangSkip });

function lineRow(d: TraceDispatch, file: string, line: number, kind: TraceLine["kind"]): TraceLine {
  const row = d.lines.find((l) => l.file.endsWith(file) && l.line === line && l.kind === kind);
  assert.ok(row, `no ${kind} at ${file}:${line} in\n${JSON.stringify(d.lines, null, 1)}`);
  return row;
}

const traceDevice = (): Device => Device.open({ backend: "cpu", instrument: "trace" });

test("trace: coalesced float copy = 4 sectors per request, ideal 4; bytes read and written", () => {
  using dev = traceDevice();
  const n = 256;
  using a = dev.tensor(Float32Array.from({ length: n }, (_, i) => i));
  using b = dev.empty([n], "f32");
  const k = load(dev, "tests/fixtures/trace/coalesced.metal").kernel("copy_f32");
  const report = dev.trace(() => k.dispatch({ grid: n / 64, threadgroupSize: 64, args: [a, b] }));
  assert.equal(report.dispatches.length, 1);
  const d = report.dispatches[0];
  assert.equal(d.kernel, "copy_f32");
  assert.deepEqual(d.grid, [4, 1, 1]);
  const line = lineOf("tests/fixtures/trace/coalesced.metal", "TRACE: copy");
  for (const kind of ["load", "store"] as const) {
    const row = lineRow(d, "coalesced.metal", line, kind);
    assert.equal(row.requests, n / 32, `${kind}: one request per simdgroup`);
    assert.equal(row.sectorsPerRequest, 4);
    assert.equal(row.idealSectorsPerRequest, 4);
    assert.equal(row.linesPerRequest, 1);
  }
  assert.equal(d.deviceBytesRead, 4 * n);
  assert.equal(d.deviceBytesWritten, 4 * n);
  assert.equal(d.minimalBytesRead, 4 * n);
  assert.equal(d.bytesMoved, 2 * 4 * n);
  assert.deepEqual([...b.data as Float32Array], [...a.data as Float32Array], "the traced kernel still ran");
});

test("trace: stride-33 float gather = 32 sectors per request, ideal 4", () => {
  using dev = traceDevice();
  const n = 128;
  using a = dev.tensor(new Float32Array(33 * n));
  using b = dev.empty([n], "f32");
  const k = load(dev, "tests/fixtures/trace/strided.metal").kernel("gather_stride33");
  const d = dev.trace(() => k.dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] })).dispatches[0];
  const row = lineRow(
    d,
    "strided.metal",
    lineOf("tests/fixtures/trace/strided.metal", "TRACE: gather"),
    "load",
  );
  assert.equal(row.sectorsPerRequest, 32);
  assert.equal(row.idealSectorsPerRequest, 4);
  assert.equal(row.linesPerRequest, 32);
  assert.equal(d.bytesMoved, 32 * (32 + 4) * (n / 32), "gather sectors + coalesced store sectors");
});

test("trace: broadcast load = 1 sector per request, ideal 1", () => {
  using dev = traceDevice();
  using a = dev.tensor(new Float32Array([7, 1, 2, 3]));
  using b = dev.empty([128], "f32");
  const k = load(dev, "tests/fixtures/trace/broadcast.metal").kernel("broadcast_f32");
  const d = dev.trace(() => k.dispatch({ grid: 2, threadgroupSize: 64, args: [a, b] })).dispatches[0];
  const row = lineRow(
    d,
    "broadcast.metal",
    lineOf("tests/fixtures/trace/broadcast.metal", "TRACE: broadcast"),
    "load",
  );
  assert.equal(row.requests, 4);
  assert.equal(row.sectorsPerRequest, 1);
  assert.equal(row.idealSectorsPerRequest, 1);
  assert.equal(d.minimalBytesRead, 4, "one float is all the dispatch needs");
  assert.ok((b.data as Float32Array).every((x) => x === 7));
});

test("trace: a float4 per lane is one 16-byte access (16 sectors per request), not two halves", () => {
  using dev = traceDevice();
  const n = 64; // float4 elements
  using a = dev.tensor(new Float32Array(4 * n));
  using b = dev.empty([4 * n], "f32");
  const k = load(dev, "tests/fixtures/trace/coalesced.metal").kernel("copy_f32x4");
  const d = dev.trace(() => k.dispatch({ grid: 1, threadgroupSize: n, args: [a, b] })).dispatches[0];
  const line = lineOf("tests/fixtures/trace/coalesced.metal", "TRACE: copy4");
  for (const kind of ["load", "store"] as const) {
    const row = lineRow(d, "coalesced.metal", line, kind);
    assert.equal(row.requests, n / 32, `${kind}: one request per simdgroup, not one per 8-byte half`);
    assert.equal(row.sectorsPerRequest, 16);
    assert.equal(row.idealSectorsPerRequest, 16);
  }
});

test("trace: simdgroup_load/store count once per simdgroup with their 8-row footprint", () => {
  using dev = traceDevice();
  using a = dev.tensor(Float32Array.from({ length: 64 * 8 }, (_, i) => i));
  using b = dev.empty([8 * 64], "f32");
  const k = load(dev, "tests/fixtures/trace/simdgroup.metal").kernel("block_copy");
  const d = dev.trace(() => k.dispatch({ grid: 2, threadgroupSize: 128, args: [a, b] })).dispatches[0];
  const path = "tests/fixtures/trace/simdgroup.metal";
  const ld = lineRow(d, "simdgroup.metal", lineOf(path, "TRACE: block_load"), "load");
  assert.equal(ld.requests, 8, "2 threadgroups x 4 simdgroups, one request each");
  assert.equal(ld.sectorsPerRequest, 8, "8 rows of 32 bytes, 256 bytes apart");
  assert.equal(ld.idealSectorsPerRequest, 8);
  assert.equal(ld.linesPerRequest, 8);
  const st = lineRow(d, "simdgroup.metal", lineOf(path, "TRACE: block_store"), "store");
  assert.equal(st.sectorsPerRequest, 8);
  assert.equal(st.linesPerRequest, 2, "a dense 8x8 float block is 256 contiguous bytes");
  assert.equal(d.deviceBytesRead, 8 * 256, "bytes counted once per simdgroup, not per lane");
  assert.equal(
    (b.data as Float32Array)[64 + 9],
    (a.data as Float32Array)[8 + 64 + 1],
    "block 1, row 1, col 1",
  );
});

test("trace: reads of a constant params block inside a loop are reported as constant, not device", () => {
  using dev = traceDevice();
  using src = dev.tensor(Float32Array.from({ length: 8 * 64 }, (_, i) => i % 5));
  using dst = dev.empty([64], "f32");
  const path = "tests/fixtures/trace/constant.metal";
  const k = load(dev, path).kernel("strided_sum");
  const params = new Uint32Array([8, 64]); // setBytes data bound to a constant argument
  const d =
    dev.trace(() => k.dispatch({ grid: 2, threadgroupSize: 32, args: [src, dst, params] })).dispatches[0];
  const rows = d.lines.filter((l) =>
    l.line === lineOf(path, "TRACE: params") || l.line === lineOf(path, "TRACE: src")
  );
  assert.ok(rows.some((l) => l.kind === "constant"), JSON.stringify(d.lines, null, 1));
  assert.ok(d.lines.filter((l) => l.kind === "load").every((l) => l.line === lineOf(path, "TRACE: src")));
  assert.equal(d.deviceBytesRead, 8 * 64 * 4, "device reads: src only, each float once");
  assert.equal(d.minimalBytesRead, 8 * 64 * 4, "params are not part of the device minimum");
  // All 32 lanes read the same word: one request of 4 distinct bytes (the compiler may hoist it).
  assert.ok(
    d.constantBytesRead > 0 && d.constantBytesRead <= 2 * 8 * 8,
    `constant bytes ${d.constantBytesRead}`,
  );
  assert.equal(d.bytesMoved, 8 * 64 * 4 + 64 * 4, "bytes moved: src read + dst written, no params");
  let want = 0;
  for (let i = 0; i < 8; i++) want += (i * 64 + 3) % 5;
  assert.equal((dst.data as Float32Array)[3], want);
});

test("trace: reports only the dispatches made inside fn, in order; table names the lines", () => {
  using dev = traceDevice();
  using a = dev.tensor(new Float32Array(64));
  using b = dev.empty([64], "f32");
  const lib = load(dev, "tests/fixtures/trace/coalesced.metal");
  lib.kernel("copy_f32").dispatch({ grid: 1, threadgroupSize: 64, args: [a, b] }); // before: dropped
  const report = dev.trace(() => {
    lib.kernel("copy_f32").dispatch({ grid: 1, threadgroupSize: 32, args: [a, b] });
    lib.kernel("copy_f32x4").dispatch({ grid: 1, threadgroupSize: 16, args: [a, b] });
  });
  assert.deepEqual(report.dispatches.map((d) => d.kernel), ["copy_f32", "copy_f32x4"]);
  assert.equal(report.of("copy_f32")[0].threadgroup[0], 32);
  const table = report.table();
  assert.match(
    table,
    new RegExp(`coalesced\\.metal:${lineOf("tests/fixtures/trace/coalesced.metal", "TRACE: copy")}\\s+load`),
  );
  assert.equal(dev.trace(() => {}).dispatches.length, 0);
});

test("trace: trace() needs a trace-mode device; instrument needs the CPU backend", () => {
  using plain = Device.open({ backend: "cpu", threads: 1 });
  assert.throws(() => plain.trace(() => {}), InvalidArgumentError);
  assert.throws(() => Device.open({ backend: "metal", instrument: "trace" }), InvalidArgumentError);
  assert.throws(() => Device.open({ backend: "cpu", instrument: "bogus" as never }), InvalidArgumentError);
  using race = Device.open({ backend: "cpu", instrument: "race" });
  assert.equal(race.instrument, "race");
  assert.throws(() => race.trace(() => {}), /instrument "race"/);
});

// ---- shipped kernels: stated bounds (shaders/manifest.json traceBounds) and the static audit ----

interface Bound {
  maxRatio: number;
  maxSectorsPerRequest: number;
}
const manifest = JSON.parse(source("shaders/manifest.json")) as {
  kernels: string[];
  traceBounds: Record<string, Bound | string>;
};

/** The bound of `kernel`: its exact entry, else the longest matching prefix. */
function boundOf(kernel: string): Bound | undefined {
  let best: [string, Bound] | undefined;
  for (const [key, b] of Object.entries(manifest.traceBounds)) {
    if (typeof b === "string" || !kernel.startsWith(key)) continue;
    if (key === kernel) return b;
    if (!best || key.length > best[0].length) best = [key, b];
  }
  return best?.[1];
}

// Small shapes, one per GEMM family (each routes to the kernel family named).
const SMALL_SHAPES = [
  { m: 1, n: 256, k: 512 },
  { m: 4, n: 128, k: 512 },
  { m: 2, n: 64, k: 2048, splitK: 4 },
  { m: 64, n: 128, k: 256 },
] as const;

test("trace bounds: every shipped kernel has a stated bound in shaders/manifest.json", () => {
  for (const k of manifest.kernels) assert.ok(boundOf(k), `${k} has no traceBounds entry`);
});

test("trace bounds: hot-loop loads of the shipped GEMM kernels stay within their stated sectors/request", () => {
  using dev = traceDevice();
  const seen = new Set<string>();
  for (const shape of SMALL_SHAPES) {
    const variants = [
      ...(["fp4", "int4", "int4-sym"] as const).flatMap((format) =>
        [32, 128].map((groupSize) => ({ format, groupSize }))
      ),
      { format: "int4-affine", groupSize: 40 },
      { format: "mxfp4", groupSize: 32 },
      { format: "nvfp4", groupSize: 16, act: "bf16" },
    ] as const;
    for (const { format, groupSize, ...rest } of variants) {
      {
        const act = "act" in rest ? rest.act : undefined;
        const report = traceGemm({ ...shape, format, groupSize, act }, dev);
        assert.ok(report.dispatches.length >= 1);
        for (const d of report.dispatches) {
          seen.add(d.kernel);
          const s = summarizeDispatch(d);
          const b = boundOf(d.kernel)!;
          const label = `${d.kernel} M=${shape.m} N=${shape.n} K=${shape.k} ${format} gs${groupSize}`;
          assert.ok(s.hotLoads.length > 0, `${label}: no hot loads traced`);
          assert.ok(
            s.worstHotRatio <= b.maxRatio + 1e-9,
            `${label}: ${s.worstHotLine} at ${s.worstHotRatio}x ideal > ${b.maxRatio}`,
          );
          for (const h of s.hotLoads) {
            assert.ok(
              h.sectorsPerRequest <= b.maxSectorsPerRequest,
              `${label}: ${h.line} ${h.sectorsPerRequest} sectors/request`,
            );
          }
          assert.ok(s.movedOverMinimal >= 1, `${label}: moved less than the distinct bytes`);
        }
      }
    }
  }
  for (
    const family of [
      "gemv",
      "gemm_small",
      "gemm_splitk",
      "gemm_splitk_reduce",
      "gemm_tiled_f16",
      "gemm_tiled_bf16",
    ]
  ) {
    assert.ok([...seen].some((k) => k.startsWith(family)), `no ${family} kernel was traced`);
  }
});

// Device bytes a 64x64-tile GEMM must request: A once per column tile, packed B, scales (and int4 zeros)
// once per row tile, C once. Constant reads (the params block) are not device traffic.
function tileBound(m: number, n: number, k: number, format: string, gs: number): number {
  const rowTiles = Math.ceil(m / 64), colTiles = Math.ceil(n / 64);
  const perRowTile = (k / 8) * n * 4 + (k / gs) * n * 2 + (format === "int4" ? (k / gs) * n : 0);
  return m * k * 2 * colTiles + perRowTile * rowTiles + m * n * 2;
}

test("trace bounds: the tiled kernel's device bytes stay within manifest tileBound x the 64x64-tile bound", () => {
  const stated = JSON.parse(source("shaders/manifest.json")) as {
    tileBound: Record<string, { maxOverTileBound: number }>;
  };
  const limit = stated.tileBound["gemm_tiled_"].maxOverTileBound;
  using dev = traceDevice();
  const s = TRACE_BENCH_SHAPES.find((x) => x.family === "gemm_tiled")!; // the bench shape
  for (const [format, groupSize] of [["fp4", 32], ["int4", 128]] as const) {
    const d = traceGemm({ m: s.m, n: s.n, k: s.k, format, groupSize }, dev).dispatches[0];
    assert.match(d.kernel, /^gemm_tiled_/);
    const bound = tileBound(s.m, s.n, s.k, format, groupSize);
    const ratio = (d.deviceBytesRead + d.deviceBytesWritten) / bound;
    assert.ok(ratio >= 1 - 1e-9, `${d.kernel}: ${ratio} below the tile bound: the bound is wrong`);
    assert.ok(
      ratio <= limit,
      `${d.kernel} ${s.m}x${s.n}x${s.k}: device bytes ${ratio.toFixed(4)}x the tile bound`,
    );
    assert.ok(d.constantBytesRead > 0, "the params block reads are counted, apart");
  }
});

test("trace vs static audit: fixtures agree fully; shipped kernels agree on the lines both see", () => {
  using dev = traceDevice();
  const fixtures = ["coalesced", "strided", "broadcast"].map((f) => `tests/fixtures/trace/${f}.metal`);
  const audit = auditShaders({ sources: fixtures.map((p) => ({ name: p, source: source(p) })) });
  using a = dev.tensor(new Float32Array(33 * 64));
  using b = dev.empty([64], "f32");
  for (const [file, kernel] of [[0, "copy_f32"], [1, "gather_stride33"], [2, "broadcast_f32"]] as const) {
    const d = dev.trace(() =>
      load(dev, fixtures[file]).kernel(kernel).dispatch({ grid: 1, threadgroupSize: 64, args: [a, b] })
    )
      .dispatches[0];
    const c = compareWithAudit(
      d,
      audit.kernels.find((k) =>
        k.name === kernel
      )!.accesses,
    );
    assert.ok(c.pairs.length >= 2, `${kernel}: the audit's load and store lines were traced`);
    assert.equal(c.agreement, 1, `${kernel}: ${JSON.stringify(c.pairs)}`);
  }
  const verdicts = new Map<string, string>();
  const shipped = auditShaders();
  for (const shape of SMALL_SHAPES) {
    for (const d of traceGemm({ ...shape, format: "fp4", groupSize: 128 }, dev).dispatches) {
      const c = compareWithAudit(d, shipped.kernels.find((k) => k.name === d.kernel)!.accesses);
      assert.ok(c.pairs.length > 0, `${d.kernel}: no audited line was traced`);
      verdicts.set(d.kernel, `${c.pairs.filter((p) => p.agrees).length}/${c.pairs.length}`);
      assert.ok(
        c.agreement >= 0.75,
        `${d.kernel}: audit agrees on ${verdicts.get(d.kernel)}: ${JSON.stringify(c.pairs)}`,
      );
    }
  }
  assert.ok(verdicts.size >= 5, [...verdicts].join(", "));
});
