// shaders/manifest.json "kernels" is exactly what the built library reports for shaders/gemm.metal, and
// every kernel routing can return; each kernel's threadgroup memory (reflection) is within 32 KB.
import assert from "node:assert";
import { readFileSync } from "node:fs";
import { test } from "./harness.ts";
import { openTestDevice } from "./gemm_helpers.ts";
import { gemmRoute } from "../lib/api/device.ts";

const manifest = JSON.parse(readFileSync(new URL("../shaders/manifest.json", import.meta.url), "utf8")) as {
  builtin: string[];
  kernels: string[];
};

test("manifest kernels == kernels the built library reports for gemm.metal", () => {
  const dev = openTestDevice();
  try {
    const lib = dev.builtin();
    // Kernels are attributed to the file that declares them: gemm.metal or one of its gemm_*.h headers.
    const fromGemm = lib.kernels.filter((name) =>
      /(^|\/)gemm(_\w+)?\.(metal|h)$/.test(lib.kernel(name).info.file)
    );
    assert.ok(manifest.builtin.includes("gemm.metal"));
    assert.deepStrictEqual([...fromGemm].sort(), [...manifest.kernels].sort());
  } finally {
    dev.dispose();
  }
});

test("every kernel routing returns is in the manifest, and every manifest kernel is reachable", () => {
  const dev = openTestDevice();
  try {
    const reached = new Set<string>();
    for (
      const [format, groupSize, act] of [[0, 32], [1, 8], [2, 200], [3, 64], [4, 32], [
        5,
        16,
        "bf16",
      ]] as const
    ) {
      {
        for (
          const [m, n, k, splitK] of [[1, 4096, 512, 0], [8, 4096, 512, 0], [1, 64, 4096, 0], [
            64,
            256,
            256,
            0,
          ]]
        ) {
          const r = gemmRoute(dev, { m, n, k, format, groupSize, splitK, act });
          reached.add(r.kernel);
          if (r.reduceKernel) reached.add(r.reduceKernel);
        }
      }
    }
    for (const name of reached) {
      assert.ok(manifest.kernels.includes(name), `routing returned ${name}, not in the manifest`);
    }
    assert.deepStrictEqual([...reached].sort(), [...manifest.kernels].sort());
  } finally {
    dev.dispose();
  }
});

test("threadgroup memory of every GEMM kernel is within 32 KB (reflection)", () => {
  const dev = openTestDevice();
  try {
    const lib = dev.builtin();
    for (const name of manifest.kernels) {
      const info = lib.kernel(name).info;
      assert.ok(info.staticThreadgroupBytes <= 32768, `${name}: ${info.staticThreadgroupBytes} bytes`);
      if (name !== "gemm_splitk_reduce") {
        assert.ok(info.staticThreadgroupBytes > 0, `${name}: 0 threadgroup bytes`);
      }
      assert.ok(info.maxThreadsPerThreadgroup >= 128, `${name}: ${info.maxThreadsPerThreadgroup} threads`);
    }
  } finally {
    dev.dispose();
  }
});
