// The Metal backend (csrc/metal/*.mm) on the simulated driver: asynchronous dispatch, lifetimes,
// deferred command-buffer errors, batching, pipeline limits and the driver's rule record. Skipped
// (with the reason) where the metal-sim build is unavailable; MM_REQUIRE_METAL_SIM=1 (CI) fails instead.
import assert from "node:assert";
import { Device } from "../lib/api/device.ts";
import { DeadlockError, LimitError } from "../lib/runtime/errors.ts";
import { test } from "./harness.ts";
import { runCase } from "./gemm_helpers.ts";
import { metalSimUnavailable, simHooks } from "./util/metal_sim.ts";
import { selftestCommand } from "../lib/cli/selftest.ts";
import { nativeOf } from "../lib/runtime/internal.ts";

const skip = metalSimUnavailable();

const SRC = `#include <metal_stdlib>
using namespace metal;
kernel void add1(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) { x[i] += 1.0f; }
kernel void copy(device const float* src [[buffer(0)]], device float* dst [[buffer(1)]],
                 uint i [[thread_position_in_grid]]) { dst[i] = src[i]; }
kernel void sum_big(constant float* big [[buffer(0)]], device float* out [[buffer(1)]],
                    uint i [[thread_position_in_grid]]) {
  float s = 0.0f;
  for (uint j = 0; j < 2048; ++j) s += big[j];
  out[i] = s;
}
kernel void stuck(device float* x [[buffer(0)]], uint t [[thread_position_in_threadgroup]]) {
  if (t < 16) threadgroup_barrier(mem_flags::mem_threadgroup);
  x[t] = 1.0f;
}
`;

function withDevice(fn: (dev: Device) => void): () => void {
  return () => {
    const dev = Device.open({ backend: "metal-sim" });
    try {
      fn(dev);
    } finally {
      dev.dispose();
    }
    assert.strictEqual(simHooks().takeViolations(), "", "the backend broke no Metal rule");
  };
}

test(
  "metal-sim: the device reports itself honestly with Metal's limits",
  withDevice((dev) => {
    assert.strictEqual(dev.backend, "metal-sim");
    const info = dev.info;
    assert.strictEqual(info.backend, "metal-sim");
    assert.match(info.name, /\(apple\d\)$/);
    assert.ok(info.max_buffer_length > 0 && info.recommended_working_set > 0);
    assert.strictEqual(info.max_threadgroup_memory, 32768);
  }),
  { skip },
);

test(
  "metal-sim: with adverse scheduling, reads through toArray() are never stale",
  withDevice((dev) => {
    const hooks = simHooks();
    hooks.setAdverse(true);
    try {
      const k = dev.compile(SRC).kernel("add1");
      for (let round = 1; round <= 3; round++) {
        const t = dev.tensor(new Float32Array(64));
        for (let i = 0; i < 37; i++) k.dispatch({ grid: 2, threadgroupSize: 32, args: [t] });
        assert.deepStrictEqual([...t.toArray()], new Array(64).fill(37), `round ${round}`);
      }
    } finally {
      hooks.setAdverse(false);
    }
  }),
  { skip },
);

test(
  "metal-sim: N dispatches without a sync use at most ceil(N / 16) command buffers",
  withDevice((dev) => {
    const k = dev.compile(SRC).kernel("add1");
    const t = dev.tensor(new Float32Array(32));
    dev.synchronize();
    const before = simHooks().counters();
    const n = 40;
    for (let i = 0; i < n; i++) k.dispatch({ grid: 1, threadgroupSize: 32, args: [t] });
    dev.synchronize();
    const after = simHooks().counters();
    assert.strictEqual(after.encoded - before.encoded, n);
    assert.strictEqual(after.committed - before.committed, Math.ceil(n / 16));
    assert.strictEqual(t.toArray()[31], n);
  }),
  { skip },
);

test(
  "metal-sim: disposing a tensor in-flight work uses neither crashes nor corrupts",
  withDevice((dev) => {
    const hooks = simHooks();
    hooks.setAdverse(true);
    try {
      const lib = dev.compile(SRC);
      const n = 1024;
      const a = dev.tensor(new Float32Array(n).fill(1));
      const b = dev.empty([n], "f32");
      for (let i = 0; i < 20; i++) {
        lib.kernel("add1").dispatch({ grid: n / 64, threadgroupSize: 64, args: [a] });
      }
      lib.kernel("copy").dispatch({ grid: n / 64, threadgroupSize: 64, args: [a, b] });
      a.dispose(); // queued work still reads and writes a's memory
      const c = dev.tensor(new Float32Array(n).fill(7)); // must not land in a's memory
      assert.deepStrictEqual([...b.toArray()], new Array(n).fill(21));
      assert.deepStrictEqual([...c.toArray()], new Array(n).fill(7));
    } finally {
      hooks.setAdverse(false);
    }
  }),
  { skip },
);

test(
  "metal-sim: a failure inside a command buffer surfaces, typed and naming the kernel, at the next sync",
  withDevice((dev) => {
    const lib = dev.compile(SRC);
    const t = dev.tensor(new Float32Array(32));
    lib.kernel("stuck").dispatch({ grid: 1, threadgroupSize: 32, args: [t] }); // returns: nothing ran yet
    assert.throws(() => dev.synchronize(), (e: unknown) => {
      // Lanes stuck at a barrier: the sim reports a GPU hang (MTLCommandBufferErrorTimeout).
      assert.ok(e instanceof DeadlockError, String(e));
      assert.match(e.message, /^synchronize: .*kernel stuck/s);
      return true;
    });
    dev.synchronize(); // the error was reported once
    lib.kernel("add1").dispatch({ grid: 1, threadgroupSize: 32, args: [t] });
    assert.strictEqual(t.toArray()[0], 1, "the device works after a failed command buffer");
  }),
  { skip },
);

test(
  "metal-sim: inline bytes over setBytes' 4 KB go through a buffer",
  withDevice((dev) => {
    const big = new Float32Array(2048).map((_, i) => i % 7);
    const out = dev.empty([1], "f32");
    dev.compile(SRC).kernel("sum_big").dispatch({ grid: 1, threadgroupSize: 1, args: [big, out] });
    assert.strictEqual(out.toArray()[0], big.reduce((s, v) => s + v, 0));
  }),
  { skip },
);

test("metal-sim: a pipeline limit below the routed threadgroup fails with LimitError naming both", () => {
  const hooks = simHooks();
  hooks.setMaxThreads("gemv", 64);
  const dev = Device.open({ backend: "metal-sim" });
  try {
    assert.throws(
      () => runCase(dev, { m: 1, n: 16, k: 64, format: "fp4", gs: 32 }),
      (e: unknown) =>
        e instanceof LimitError && /gemv/.test(e.message) && /128 threads/.test(e.message) &&
        /maxTotalThreadsPerThreadgroup 64/.test(e.message),
    );
  } finally {
    hooks.setMaxThreads("gemv", 0);
    dev.dispose();
  }
}, { skip });

test("metal-sim: ready() resolves after the work without blocking, then results are there", async () => {
  const dev = Device.open({ backend: "metal-sim" });
  try {
    const k = dev.compile(SRC).kernel("add1");
    const t = dev.tensor(new Float32Array(32));
    for (let i = 0; i < 20; i++) k.dispatch({ grid: 1, threadgroupSize: 32, args: [t] });
    await dev.ready();
    assert.strictEqual(t.data[5], 20, "tensor.data is current once ready() resolved");
  } finally {
    dev.dispose();
  }
}, { skip });

test("metal-sim: the backend compiles without fast math and leaks no Metal object", () => {
  const hooks = simHooks();
  const before = hooks.counters();
  // Other test files in this process may hold devices or undisposed tensors until the GC runs; this test is
  // synchronous, so no finalizer frees anything while it runs and the count must come back exactly.
  const live = hooks.liveObjects();
  const dev = Device.open({ backend: "metal-sim" });
  runCase(dev, { m: 2, n: 16, k: 64, format: "int4", gs: 32 });
  dev.compile(SRC).kernel("add1");
  dev.dispose();
  const after = hooks.counters();
  assert.ok(after.librariesCompiled - before.librariesCompiled >= 2);
  assert.strictEqual(after.librariesFastMath, before.librariesFastMath, "fastMathEnabled stays NO");
  assert.strictEqual(hooks.liveObjects(), live, "every simulated Metal object of this device was released");
}, { skip });

test("selftest CLI: every kernel family on metal-sim matches cpu within the tolerance policy", () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  let code: number;
  try {
    code = selftestCommand(["--backend", "metal-sim", "--json"]);
  } finally {
    console.log = log;
  }
  assert.strictEqual(code, 0, lines.join("\n"));
  const report = JSON.parse(lines[0]) as {
    ran: string;
    rows: { family: string; ok: boolean; maxErr: number }[];
  };
  assert.match(report.ran, /^metal-sim/);
  assert.deepStrictEqual([...new Set(report.rows.map((r) => r.family))].sort(), [
    "gemv",
    "small",
    "splitk",
    "tiled",
  ]);
  assert.ok(report.rows.every((r) => r.ok && Number.isFinite(r.maxErr)));
  assert.strictEqual(selftestCommand(["--backend", "cpu"]), 2, "comparing cpu with itself is a usage error");
}, { skip });

const TG_SRC = `#include <metal_stdlib>
using namespace metal;
kernel void reverse_tg(device float* x [[buffer(0)]], threadgroup float* tmp [[threadgroup(0)]],
                       uint t [[thread_position_in_threadgroup]], uint n [[threads_per_threadgroup]]) {
  tmp[t] = x[t];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  x[t] = tmp[n - 1 - t];
}
`;

test(
  "metal-sim: threadgroup memory reaches the kernel (lengths set per [[threadgroup(i)]])",
  withDevice((dev) => {
    const t = dev.tensor(Float32Array.from({ length: 32 }, (_, i) => i));
    dev.compile(TG_SRC).kernel("reverse_tg").dispatch({
      grid: 1,
      threadgroupSize: 32,
      args: [t],
      threadgroupMemory: [128],
    });
    assert.deepStrictEqual([...t.toArray()], Array.from({ length: 32 }, (_, i) => 31 - i));
  }),
  { skip },
);

test(
  "metal-sim: raw ABI errors of the backend are typed and say why",
  withDevice((dev) => {
    const { native, handle } = nativeOf(dev);
    const out = new Uint32Array(1);
    const z = (s: string) => new TextEncoder().encode(s + "\0");
    // A source nobody registered: the (simulated) Metal compiler fails, with its log.
    const rc = native.fns.mm_library_compile(handle, z("kernel void nobody() {}"), out);
    assert.strictEqual(rc, -8, "MM_E_COMPILE");
    assert.match(native.cstring(native.fns.mm_last_error()), /Metal compile failed/);
    assert.strictEqual(
      native.fns.mm_library_load(handle, z("/nonexistent.so"), out),
      -12,
      "MM_E_UNSUPPORTED",
    );
    assert.match(native.cstring(native.fns.mm_last_error()), /compiles source/);
    assert.strictEqual(native.fns.mm_metal_register_module(z("x"), z("/nonexistent.so")), -9, "MM_E_LOAD");
    assert.match(native.cstring(native.fns.mm_last_error()), /cannot load \/nonexistent\.so/);
  }),
  { skip },
);
