// The on-disk pipeline cache of the Metal backend (csrc/metal/metal_cache.mm) on metal-sim: a device
// opened after another wrote the cache compiles no pipeline (the driver counts pipelines found in its
// binary archive apart from compiled ones); a changed source or OS version misses; a corrupt, truncated
// or foreign file is ignored and rewritten; an unwritable directory falls back to memory. Each device
// builds its libraries anew, so a fresh device reads the cache from disk as a fresh process would
// (tests/native/metal_backend/backend_test.cpp also checks it across processes, and concurrent writers).
import assert from "node:assert";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Device } from "../lib/api/device.ts";
import { test } from "./harness.ts";
import { metalSimUnavailable, simHooks } from "./util/metal_sim.ts";
import { runCase } from "./gemm_helpers.ts";

const skip = metalSimUnavailable();

const SRC = `#include <metal_stdlib>
using namespace metal;
kernel void add1(device float* x [[buffer(0)]], uint i [[thread_position_in_grid]]) { x[i] += 1.0f; }
`;
// Same kernel, different text: a different source hash.
const SRC2 = SRC + "// revision 2\n";

interface Run {
  compiled: number;
  fromArchive: number;
  cache: string;
}

// Opens a device, runs add1 of `source` three times and a small built-in GEMM (the built-in library's
// cache state is what dev.info reports), checks the result, closes the device (which writes the cache), and returns what the driver did.
function run(source: string): Run {
  const hooks = simHooks();
  const before = hooks.counters();
  const dev = Device.open({ backend: "metal-sim" });
  let cache: string;
  try {
    runCase(dev, { m: 1, n: 16, k: 64, format: "fp4", gs: 32 }); // compares with its reference itself
    const t = dev.tensor(new Float32Array(32));
    const k = dev.compile(source).kernel("add1");
    for (let i = 0; i < 3; i++) k.dispatch({ grid: 1, threadgroupSize: 32, args: [t] });
    assert.deepStrictEqual([...t.toArray()], new Array(32).fill(3), "add1 ran three times");
    cache = dev.info.library_cache;
  } finally {
    dev.dispose();
  }
  assert.strictEqual(hooks.takeViolations(), "", "the backend broke no Metal rule");
  const after = hooks.counters();
  return {
    compiled: after.pipelinesCompiled - before.pipelinesCompiled,
    fromArchive: after.pipelinesFromArchive - before.pipelinesFromArchive,
    cache,
  };
}

// Runs `fn` with MM_METAL_CACHE_DIR set to a fresh directory (and `env` set), then restores both.
function withCacheDir(fn: (dir: string) => void, env: Record<string, string> = {}): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), "mm-metal-cache-"));
    const hooks = simHooks();
    const saved = { MM_METAL_CACHE_DIR: dir, ...env };
    const prior = Object.fromEntries(Object.keys(saved).map((k) => [k, process.env[k] ?? ""]));
    for (const [k, v] of Object.entries(saved)) hooks.setEnv(k, v);
    try {
      fn(dir);
    } finally {
      for (const [k, v] of Object.entries(prior)) hooks.setEnv(k, v);
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const archives = (dir: string, kind: string) =>
  readdirSync(dir).filter((f) => f.startsWith(`${kind}-`) && f.endsWith(".metalarchive"));

test(
  "metal cache: a fresh device compiles no pipeline the previous one cached; only archive files remain",
  withCacheDir((dir) => {
    const cold = run(SRC);
    assert.strictEqual(cold.cache, "miss");
    assert.ok(cold.compiled >= 1, `the cold run compiled ${cold.compiled} pipelines`);
    assert.strictEqual(cold.fromArchive, 0);
    assert.strictEqual(archives(dir, "user").length, 1);
    assert.strictEqual(archives(dir, "builtin").length, 1);
    const warm = run(SRC);
    assert.strictEqual(warm.cache, "hit");
    assert.strictEqual(warm.compiled, 0, "nothing compiled");
    assert.strictEqual(
      warm.fromArchive,
      cold.compiled,
      "every pipeline the cold run compiled came from the cache",
    );
    assert.deepStrictEqual(readdirSync(dir).filter((f) => f.includes(".tmp-")), [], "no temp file left");
  }),
  { skip },
);

test(
  "metal cache: a changed source or OS version misses; a foreign file under the key only misses",
  withCacheDir((dir) => {
    // The built-in GEMM's pipeline keeps hitting; add1 of the changed source is the one compile.
    const cold = run(SRC);
    const first = archives(dir, "user");
    const changed = run(SRC2);
    assert.deepStrictEqual(changed, { compiled: 1, fromArchive: cold.compiled - 1, cache: "hit" });
    const second = archives(dir, "user").filter((f) => !first.includes(f));
    assert.strictEqual(second.length, 1, "the changed source has its own file");
    // SRC's archive under SRC2's name: it loads, but no entry matches SRC2's code, so nothing stale runs.
    copyFileSync(join(dir, first[0]), join(dir, second[0]));
    const foreign = run(SRC2);
    assert.deepStrictEqual(foreign, { compiled: 1, fromArchive: cold.compiled - 1, cache: "hit" });
    // An OS update (the simulated driver's OS version string) is part of the key.
    simHooks().setEnv("MM_SIM_OS_VERSION", "99.0 (Build 99A1)");
    try {
      const updated = run(SRC);
      assert.deepStrictEqual(updated, { compiled: cold.compiled, fromArchive: 0, cache: "miss" });
    } finally {
      simHooks().setEnv("MM_SIM_OS_VERSION", process.env.MM_SIM_OS_VERSION ?? "");
    }
  }),
  { skip },
);

test(
  "metal cache: a truncated or corrupt file is ignored, compiled anew and rewritten valid",
  withCacheDir((dir) => {
    const cold = run(SRC);
    const [file] = archives(dir, "user").map((f) => join(dir, f));
    const good = readFileSync(file);
    for (const bad of [good.subarray(0, good.length >> 1), new TextEncoder().encode("\0garbage\n")]) {
      writeFileSync(file, bad);
      const rebuilt = run(SRC);
      assert.deepStrictEqual(
        rebuilt,
        { compiled: 1, fromArchive: cold.compiled - 1, cache: "hit" },
        "add1 compiled",
      );
      assert.deepStrictEqual(readFileSync(file), good, "rewritten as the original");
      assert.strictEqual(run(SRC).compiled, 0, "then it hits again");
    }
  }),
  { skip },
);

test(
  "metal cache: an unwritable directory falls back to memory, MM_METAL_CACHE=0 disables, neither fails",
  () => {
    const file = join(mkdtempSync(join(tmpdir(), "mm-metal-cache-")), "a-file");
    writeFileSync(file, "not a directory");
    // A directory below a regular file cannot be created, even by root.
    withCacheDir(() => {
      const r = run(SRC);
      assert.strictEqual(r.cache, "memory");
      assert.ok(r.compiled >= 1);
    }, { MM_METAL_CACHE_DIR: join(file, "cache") })();
    withCacheDir((dir) => {
      assert.strictEqual(run(SRC).cache, "disabled");
      assert.deepStrictEqual(readdirSync(dir), [], "nothing written");
    }, { MM_METAL_CACHE: "0" })();
    rmSync(join(file, ".."), { recursive: true, force: true });
  },
  { skip },
);
