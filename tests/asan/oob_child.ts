// Child process of tests/asan.test.ts: runs the planted out-of-bounds kernel on the ASan build.
// The parent asserts on this process's stderr (ASan aborts the process at the first report).
import { readFileSync } from "node:fs";
import { Device } from "../../mod.ts";

const source = readFileSync(new URL("../fixtures/kernels/oob_read.metal", import.meta.url), "utf8");
const n = 64;
using dev = Device.open({ backend: "cpu", threads: 1 });
using x = dev.tensor(new Float32Array(n), [n]); // exactly n floats: x[n] is in ASan's redzone
using out = dev.empty([n], "f32");
dev.compile(source, { name: "oob_read.metal" }).kernel("oob_read").dispatch({
  grid: 1,
  threadgroupSize: n,
  args: [x, out],
});
console.log("oob_child: dispatch returned without an ASan report");
