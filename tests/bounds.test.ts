// check: "bounds" (issue 13, deliverable 1): planted out-of-bounds reads and writes of device buffers
// and threadgroup memory, one past the end and far past, fail the dispatch with BoundsCheckError (a
// BoundsError) naming the .metal line, buffer index, byte offset and bound length, before the access
// happens; the device then runs a correct GEMM, and the shipped GEMM kernels run clean in the mode.
import assert from "node:assert/strict";
import { test as harnessTest } from "./harness.ts";
import { clangSkip } from "./util/clang.ts";
import {
  BoundsCheckError,
  BoundsError,
  Device,
  InvalidArgumentError,
  type Library,
  UnsupportedError,
} from "../mod.ts";
import { lineOf, load } from "./util/kernels.ts";
import { type Case, label, runCase } from "./gemm_helpers.ts";

// Every test here but the option checks needs the clang-only instrumented build (tests/util/clang.ts).
const test = (name: string, fn: () => void | Promise<void>): void =>
  harnessTest(name, fn, { skip: clangSkip });

const PATH = "tests/fixtures/bounds/oob.metal";
const at = (marker: string): string => `oob.metal:${lineOf(PATH, marker)}`;
const u32 = (v: number): Uint32Array => Uint32Array.of(v);

/** Asserts `e` is a BoundsCheckError naming `line` and every fragment of `parts`. */
function finding(e: unknown, line: string, parts: string[]): boolean {
  assert.ok(
    e instanceof BoundsCheckError,
    `expected BoundsCheckError, got ${e instanceof Error ? `${e.name}: ${e.message}` : e}`,
  );
  assert.ok(e instanceof BoundsError);
  assert.equal(e.code, -20);
  assert.ok(e.message.includes(`at ${line}`), `"${line}" missing in: ${e.message}`);
  for (const p of parts) assert.ok(e.message.includes(p), `"${p}" missing in: ${e.message}`);
  return true;
}

/** A correct GEMM on `dev` after a finding: the process and the device are intact. */
function gemmStillWorks(dev: Device): void {
  runCase(dev, { m: 3, n: 64, k: 128, format: "int4", gs: 32 });
}

test("bounds: device reads one past the end and far past are stopped with line, buffer, offset, length", () => {
  using dev = Device.open({ backend: "cpu", check: "bounds" });
  assert.equal(dev.check, "bounds");
  using a = dev.tensor(Float32Array.from({ length: 64 }, (_, i) => i));
  using out = dev.empty([64], "f32");
  const lib = load(dev, PATH);
  const run = (off: number): void =>
    lib.kernel("read_device").dispatch({ grid: 1, threadgroupSize: 64, args: [a, out, u32(off)] });
  run(0);
  assert.equal((out.data as Float32Array)[63], 63);
  const line = at("BOUNDS: device read");
  assert.throws(
    () => run(1),
    (e) =>
      finding(e, line, ["lane 63", "reads 4 bytes of buffer(0) at byte offset 256, bound length 256 bytes"]),
  );
  // 1 MiB past the end: unmapped guard zone; stopped before the load could fault.
  assert.throws(
    () => run(1 << 18),
    (e) => finding(e, line, ["lane 0", "buffer(0) at byte offset 1048576, bound length 256"]),
  );
  gemmStillWorks(dev);
});

test("bounds: device writes past the end and before an offset binding never land", () => {
  using dev = Device.open({ backend: "cpu", check: "bounds" });
  using out = dev.tensor(new Float32Array(64));
  const lib = load(dev, PATH);
  const line = at("BOUNDS: device write");
  const write = (off: number): void =>
    lib.kernel("write_device").dispatch({ grid: 1, threadgroupSize: 64, args: [out, u32(off)] });
  assert.throws(
    () => write(1),
    (e) => finding(e, line, ["lane 63", "writes 4 bytes of buffer(0) at byte offset 256, bound length 256"]),
  );
  assert.throws(
    () => write(1 << 20),
    (e) => finding(e, line, ["buffer(0) at byte offset 4194304, bound length 256"]),
  );
  // A { tensor, offset } binding bounds the range to offset..end: element 15 lies in the tensor but
  // before the range, and stays untouched.
  using big = dev.tensor(new Float32Array(64));
  const k = lib.kernel("write_before");
  const before = (back: number): void =>
    k.dispatch({ grid: 1, threadgroupSize: 48, args: [{ tensor: big, offset: 16 }, Int32Array.of(back)] });
  before(0);
  assert.deepEqual(Array.from(big.data as Float32Array).slice(14, 18), [0, 0, 2, 2]);
  (big.data as Float32Array).fill(0);
  assert.throws(
    () => before(1),
    (e) =>
      finding(e, at("BOUNDS: write before"), ["lane 0", "buffer(0) at byte offset -4, bound length 192"]),
  );
  assert.equal((big.data as Float32Array)[15], 0, "the stopped write must not reach element 15");
  gemmStillWorks(dev);
});

test("bounds: threadgroup array reads and writes one past and far past name the threadgroup memory", () => {
  using dev = Device.open({ backend: "cpu", check: "bounds" });
  using out = dev.empty([64], "f32");
  const lib: Library = load(dev, PATH);
  const go = (name: string, off: number, tg?: number[]): void =>
    lib.kernel(name).dispatch({ grid: 1, threadgroupSize: 64, args: [out, u32(off)], threadgroupMemory: tg });
  go("read_threadgroup", 0);
  assert.equal((out.data as Float32Array)[5], 5);
  const read = at("BOUNDS: threadgroup read"), write = at("BOUNDS: threadgroup write");
  assert.throws(
    () => go("read_threadgroup", 1),
    (e) => finding(e, read, ["lane 63", "threadgroup variable", "byte offset 256, bound length 256"]),
  );
  assert.throws(
    () => go("read_threadgroup", 16384),
    (e) => finding(e, read, ["lane 0", "byte offset 65536, bound length 256"]),
  );
  assert.throws(
    () => go("write_threadgroup", 1),
    (e) =>
      finding(e, write, [
        "lane 63",
        "writes 4 bytes of threadgroup variable",
        "byte offset 256, bound length 256",
      ]),
  );
  assert.throws(
    () => go("write_threadgroup", 4096),
    (e) => finding(e, write, ["lane 0", "byte offset 16384"]),
  );
  const argLine = at("BOUNDS: threadgroup argument write");
  go("write_threadgroup_arg", 0, [256]);
  assert.throws(
    () => go("write_threadgroup_arg", 1, [256]),
    (e) =>
      finding(e, argLine, [
        "lane 63",
        "threadgroup argument [[threadgroup(0)]] at byte offset 256, bound length 256",
      ]),
  );
  gemmStillWorks(dev);
});

test("bounds: the shipped GEMM kernels run clean at decode, small and tiled shapes", () => {
  using dev = Device.open({ backend: "cpu", check: "bounds" });
  const cases: Case[] = [
    { m: 1, n: 96, k: 256, format: "fp4", gs: 128 },
    { m: 8, n: 72, k: 192, format: "int4", gs: 64 },
    { m: 64, n: 64, k: 128, format: "fp4", gs: 32 },
    { m: 3, n: 33, k: 64, format: "int4", gs: 32 },
  ];
  for (const c of cases) {
    try {
      runCase(dev, c);
    } catch (e) {
      throw new Error(`${label(c)}: ${e instanceof Error ? e.message : e}`);
    }
  }
});

harnessTest("bounds: invalid check values and Metal backends are refused before anything loads", () => {
  assert.throws(() => Device.open({ backend: "cpu", check: "race" as "bounds" }), InvalidArgumentError);
  assert.throws(() => Device.open({ check: "" as "bounds" }), InvalidArgumentError);
  for (const backend of ["metal", "metal-sim"] as const) {
    assert.throws(() => Device.open({ backend, check: "bounds" }), (e: unknown) => {
      assert.ok(e instanceof UnsupportedError, String(e));
      assert.match(e.message, /CPU-only/);
      return true;
    });
  }
  assert.throws(
    () => Device.open({ backend: "cpu", check: "bounds", instrument: "race" }),
    InvalidArgumentError,
  );
});
