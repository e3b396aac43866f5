// Static memory-access audit: fixture kernels with known answers (tests/fixtures/audit/), plus inline
// sources for the rules that matter most (x[k * N + n] with n = lane must be coalesced).
import assert from "node:assert";
import { fileURLToPath } from "node:url";
import { test } from "./harness.ts";
import { type AuditReport, auditShaders } from "../lib/audit/memory.ts";

const dir = fileURLToPath(new URL("./fixtures/audit/", import.meta.url));
const fixtures = auditShaders({ dir });

/** The classification of the access to `buffer` on `line` of `kernel` (exactly one such access). */
function access(r: AuditReport, kernel: string, buffer: string, line?: number) {
  const k = r.kernels.find((x) => x.name === kernel);
  assert.ok(k, `kernel ${kernel} not found; have ${r.kernels.map((x) => x.name).join(", ")}`);
  const hits = k.accesses.filter((a) => a.buffer === buffer && (line === undefined || a.line === line));
  assert.strictEqual(
    hits.length,
    1,
    `${kernel}: expected one access to ${buffer}, got ${JSON.stringify(hits)}`,
  );
  return hits[0];
}

test("audit: finds `kernel void`, `[[kernel]] void` and [[host_name]] instantiations", () => {
  const names = fixtures.kernels.map((k) => k.name).sort();
  assert.deepStrictEqual(names, [
    "broadcast_first",
    "broadcast_param",
    "copy_f32",
    "copy_float_s4",
    "copy_half_s1",
    "gather33",
    "gather_indirect",
    "matmul_cols",
    "rows_per_lane",
    "tile_runs",
    "vec4_and_rows",
  ]);
  const inst = fixtures.kernels.find((k) => k.name === "copy_float_s4")!;
  assert.strictEqual(inst.function, "strided_copy");
  assert.deepStrictEqual(inst.buffers.map((b) => `${b.index}:${b.name}:${b.elementType}`), [
    "0:in:float",
    "1:out:float",
  ]);
});

test("audit: coalesced float copy", () => {
  const a = access(fixtures, "copy_f32", "in");
  assert.strictEqual(a.classification, "coalesced");
  assert.strictEqual(a.laneStrideBytes, 4);
  assert.strictEqual(a.severity, "none");
  assert.strictEqual(access(fixtures, "copy_f32", "out").kind, "store");
});

test("audit: stride-33 gather is strided (general strided, 132-byte lane stride)", () => {
  const a = access(fixtures, "gather33", "in");
  assert.strictEqual(a.classification, "strided");
  assert.strictEqual(a.laneStrideBytes, 132);
  assert.strictEqual(a.category, "general strided");
  assert.strictEqual(a.severity, "medium");
  assert.strictEqual(a.line, 8);
  assert.strictEqual(access(fixtures, "gather33", "out").classification, "coalesced");
});

test("audit: in[0] and in[params.k] are broadcast with info severity", () => {
  for (const k of ["broadcast_first", "broadcast_param"]) {
    const a = access(fixtures, k, "in");
    assert.strictEqual(a.classification, "broadcast", k);
    assert.strictEqual(a.severity, "info");
    assert.strictEqual(a.category, null);
  }
});

test("audit: indirect gather in[idx[tid]] is scattered; idx itself is coalesced", () => {
  const a = access(fixtures, "gather_indirect", "in");
  assert.strictEqual(a.classification, "scattered");
  assert.strictEqual(a.category, "scattered/indirect");
  assert.strictEqual(access(fixtures, "gather_indirect", "idx").classification, "coalesced");
});

test("audit: x[k * N + n] with n = gid.x is coalesced, a[m * K + k] with m = gid.y is broadcast", () => {
  assert.strictEqual(access(fixtures, "matmul_cols", "x").classification, "coalesced");
  assert.strictEqual(access(fixtures, "matmul_cols", "a").classification, "broadcast");
  assert.strictEqual(access(fixtures, "matmul_cols", "y").classification, "coalesced");
});

test("audit: lanes along rows: sequential-per-thread row walk, strided scales, strided transposed store", () => {
  const a = access(fixtures, "rows_per_lane", "a");
  assert.strictEqual(a.classification, "sequential-per-thread");
  assert.strictEqual(a.inLoop, true);
  const s = access(fixtures, "rows_per_lane", "scales");
  assert.strictEqual(s.classification, "strided");
  assert.strictEqual(s.category, "scale-buffer strided access");
  assert.strictEqual(s.severity, "high");
  assert.strictEqual(access(fixtures, "rows_per_lane", "out", 36).classification, "coalesced");
  assert.strictEqual(access(fixtures, "rows_per_lane", "out", 37).classification, "strided");
});

test("audit: template arguments and helper calls: STRIDE 1 coalesced, STRIDE 4 strided, at the helper line", () => {
  const s1 = access(fixtures, "copy_half_s1", "in");
  assert.strictEqual(s1.classification, "coalesced");
  assert.strictEqual(s1.elementType, "half");
  const s4 = access(fixtures, "copy_float_s4", "in");
  assert.strictEqual(s4.classification, "strided");
  assert.strictEqual(s4.laneStrideBytes, 16);
  assert.strictEqual(s4.line, 7);
});

test("audit: float4 cast loads are coalesced; pointer advanced by lane * ld walks rows", () => {
  const k = fixtures.kernels.find((x) => x.name === "vec4_and_rows")!;
  const byLine = new Map(k.accesses.map((a) => [a.line, a]));
  assert.strictEqual(byLine.get(10)?.classification, "coalesced");
  assert.strictEqual(byLine.get(10)?.accessBytes, 16);
  assert.strictEqual(byLine.get(14)?.classification, "sequential-per-thread");
  assert.strictEqual(byLine.get(16)?.classification, "coalesced");
});

test("audit: priority list ranks the kernel with a high finding first; clean kernels are absent", () => {
  assert.strictEqual(fixtures.priority[0].kernel, "rows_per_lane");
  assert.strictEqual(fixtures.priority[0].worst, "high");
  const listed = new Set(fixtures.priority.map((p) => p.kernel));
  for (const clean of ["copy_f32", "broadcast_first", "matmul_cols", "copy_half_s1"]) {
    assert.ok(!listed.has(clean), clean);
  }
  assert.ok(listed.has("gather33") && listed.has("gather_indirect"));
});

test("audit: summary text and JSON report", () => {
  const text = fixtures.summary();
  assert.match(text, /11 kernel\(s\)/);
  assert.match(text, /audit\/gather33\.metal:8: medium strided \(general strided\)/);
  const json = JSON.parse(JSON.stringify(fixtures));
  assert.strictEqual(json.kernels.length, 11);
  assert.ok(json.kernels[0].accesses[0].file.endsWith(".metal"));
  assert.ok(Array.isArray(json.priority));
});

test("audit: inline sources; 1D flattening idx / N, idx % N stays coalesced; strided in a loop is high", () => {
  const src = `
kernel void flat(device const float* a [[buffer(0)]], device float* b [[buffer(1)]],
                 constant uint& N [[buffer(2)]], uint idx [[thread_position_in_grid]]) {
  const uint m = idx / N;
  const uint n = idx % N;
  b[m * N + n] = a[n * N + m];
  for (uint k = 0; k < N; k += 2) {
    b[idx * 64 + k * 3] = 0.0f;
  }
}`;
  const r = auditShaders({ sources: [{ name: "inline.metal", source: src }] });
  assert.deepStrictEqual(r.files, ["inline.metal"]);
  assert.strictEqual(access(r, "flat", "b", 6).classification, "coalesced");
  assert.strictEqual(access(r, "flat", "a", 6).classification, "strided");
  const loop = access(r, "flat", "b", 8);
  assert.strictEqual(loop.classification, "strided");
  assert.strictEqual(loop.severity, "high");
});

test("audit: runs of lanes (tid / 8, tid % 8) and simdgroup_matrix blocks", () => {
  const k = fixtures.kernels.find((x) => x.name === "tile_runs")!;
  const at = (line: number, buffer: string) => {
    const hits = k.accesses.filter((a) => a.line === line && a.buffer === buffer);
    assert.strictEqual(hits.length, 1, `line ${line} ${buffer}: ${JSON.stringify(k.accesses)}`);
    return hits[0];
  };
  assert.strictEqual(at(19, "a").classification, "coalesced"); // 8 lanes x half4 = 64 B per row
  assert.strictEqual(at(21, "b").classification, "coalesced"); // tid / 64 is uniform in a simdgroup
  const store = at(23, "c");
  assert.strictEqual(store.classification, "strided"); // 8 lanes x 2 B = 16 B per row
  assert.strictEqual(store.severity, "high");
  assert.strictEqual(at(23, "bias").classification, "coalesced"); // every run reads the same 16 B
  assert.strictEqual(at(26, "b").classification, "coalesced"); // contiguous 8x8 block
  assert.strictEqual(at(27, "c").classification, "strided"); // 8 rows of 16 B, run-time stride
});
