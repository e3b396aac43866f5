// Simdgroup-uniform operations: a simdgroup_matrix is one value shared by the 32 lanes of a
// simdgroup, so lanes that load it from different addresses hold different matrices, which is
// undefined on a GPU. The CPU runtime's checked modes (race, trace, ASan) reject that with
// NonUniformError naming the multiply's .metal line; fast mode, like a GPU, does not check (lane 0 of
// each simdgroup loads, multiplies and stores for the simdgroup).
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { clangSkip } from "./util/clang.ts";
import { Device, NonUniformError } from "../mod.ts";
import { lineOf, load } from "./util/kernels.ts";

const path = "tests/fixtures/kernels/nonuniform_matrix.metal";

function uniformResult(
  dev: Device,
  src: ReturnType<Device["tensor"]>,
  dst: ReturnType<Device["empty"]>,
): void {
  load(dev, path).kernel("uniform_matrix").dispatch({ grid: 1, threadgroupSize: 32, args: [src, dst] });
  let want = 0; // element (0, 0) of m * m
  for (let k = 0; k < 8; k++) want += (k % 7) * ((k * 8) % 7);
  assert.equal((dst.data as Float32Array)[0], want);
}

function expectNonUniform(dev: Device): void {
  using src = dev.tensor(Float32Array.from({ length: 96 }, (_, i) => i % 7));
  using dst = dev.empty([64], "f32");
  const lib = load(dev, path);
  const line = lineOf(path, "NONUNIFORM: multiply");
  assert.throws(
    () => lib.kernel("nonuniform_matrix").dispatch({ grid: 1, threadgroupSize: 32, args: [src, dst] }),
    (e: unknown) => {
      assert.ok(e instanceof NonUniformError, `expected NonUniformError, got ${e}`);
      assert.ok(
        e.message.includes(
          `kernel nonuniform_matrix: simdgroup matrix multiply at nonuniform_matrix.metal:${line}: lanes 0 and 1 of ` +
            "simdgroup 0 hold different matrices (simdgroup_load must get the same pointer in every lane)",
        ),
        e.message,
      );
      return true;
    },
  );
  uniformResult(dev, src, dst);
}

test("uniform: fast mode computes a uniform simdgroup_matrix multiply (lane 0 for the simdgroup)", () => {
  using dev = Device.open({ backend: "cpu", threads: 2 });
  using src = dev.tensor(Float32Array.from({ length: 96 }, (_, i) => i % 7));
  using dst = dev.empty([64], "f32");
  uniformResult(dev, src, dst);
});

test("uniform: lane-dependent simdgroup_load before a multiply is a NonUniformError in race mode", () => {
  using dev = Device.open({ backend: "cpu", instrument: "race" });
  expectNonUniform(dev);
}, { skip: clangSkip });
