// Trace mode over the layer kernels: shaders/manifest.json lists them (layerKernels) exactly as the built
// library reports them, each has a bound (traceBounds), and every hot-loop load of every kernel stays
// within it at small shapes; dequant reads each scale (and zero point) exactly once.
import assert from "node:assert/strict";
import { test as harnessTest } from "./harness.ts";
import { clangSkip } from "./util/clang.ts";
import { Device } from "../mod.ts";

import { summarizeDispatch, syntheticWeight } from "../lib/cli/profile.ts";
import { LAYER_TRACE_SMALL, traceLayers } from "../lib/cli/trace_layers.ts";
import { lineOf, source } from "./util/kernels.ts";
import { randomWeight } from "./layer_helpers.ts";

// A CPU-runtime feature (trace mode): the plain reference device is the CPU runtime by name too.
const openCpu = (): Device => Device.open({ backend: "cpu" });

const traceTest = (name: string, fn: () => void | Promise<void>): void =>
  harnessTest(name, fn, { skip: clangSkip });

interface Bound {
  maxRatio: number;
  maxSectorsPerRequest: number;
}
const manifest = JSON.parse(source("shaders/manifest.json")) as {
  builtin: string[];
  layerKernels: string[];
  traceBounds: Record<string, Bound | string>;
};
const LAYER_FILES = ["norm.metal", "rope.metal", "attention.metal", "moe.metal", "dequant.metal"];

function boundOf(kernel: string): Bound | undefined {
  let best: [string, Bound] | undefined;
  for (const [key, b] of Object.entries(manifest.traceBounds)) {
    if (typeof b === "string" || !kernel.startsWith(key)) continue;
    if (key === kernel) return b;
    if (!best || key.length > best[0].length) best = [key, b];
  }
  return best?.[1];
}

harnessTest(
  "manifest layerKernels == the layer kernels the built library reports; each has a trace bound",
  () => {
    using dev = openCpu();
    const lib = dev.builtin();
    for (const f of LAYER_FILES) assert.ok(manifest.builtin.includes(f), `${f} is built in`);
    const fromLayers = lib.kernels.filter((k) =>
      /(norm|rope|attention|moe|dequant)\.(metal|h)$/.test(lib.kernel(k).info.file)
    );
    assert.deepEqual([...fromLayers].sort(), [...manifest.layerKernels].sort());
    for (const k of manifest.layerKernels) {
      assert.ok(boundOf(k), `${k} has no traceBounds entry`);
      const info = lib.kernel(k).info;
      assert.ok(
        info.staticThreadgroupBytes <= 32768,
        `${k}: ${info.staticThreadgroupBytes} bytes of threadgroup memory`,
      );
    }
  },
);

traceTest("trace bounds: hot-loop loads of every layer kernel stay within shaders/manifest.json", () => {
  using dev = Device.open({ backend: "cpu", instrument: "trace" });
  const seen = new Set<string>();
  for (
    const shape of [LAYER_TRACE_SMALL, {
      ...LAYER_TRACE_SMALL,
      tokens: 3,
      headDim: 160,
      decodeKv: 40,
      dequant: 64,
      format: "fp4" as const,
      groupSize: 32,
    }]
  ) {
    for (const t of traceLayers(dev, shape)) {
      assert.ok(t.report.dispatches.length > 0, `${t.op}: nothing traced`);
      for (const d of t.report.dispatches) {
        seen.add(d.kernel);
        const s = summarizeDispatch(d);
        const b = boundOf(d.kernel)!;
        const label = `${t.op}: ${d.kernel}`;
        assert.ok(s.hotLoads.length > 0, `${label}: no hot loads`);
        assert.ok(
          s.worstHotRatio <= b.maxRatio + 1e-9,
          `${label}: ${s.worstHotLine} at ${s.worstHotRatio}x ideal`,
        );
        for (const h of s.hotLoads) {
          assert.ok(
            h.sectorsPerRequest <= b.maxSectorsPerRequest,
            `${label}: ${h.line} ${h.sectorsPerRequest} sectors/request`,
          );
        }
      }
    }
  }
  for (
    const family of [
      "rms_norm",
      "rope",
      "attn_d128",
      "attn_d256",
      "attn_split",
      "attn_combine",
      "moe_router",
      "moe_sort",
      "moe_gemm",
      "moe_combine",
      "dequant",
    ]
  ) {
    assert.ok([...seen].some((k) => k.startsWith(family)), `no ${family} kernel traced`);
  }
});

traceTest(
  "trace: dequant reads every scale and zero point exactly once (one half4 / uchar4 per group and 4 columns)",
  () => {
    using dev = Device.open({ backend: "cpu", instrument: "trace" });
    const path = "shaders/dequant.metal";
    const scaleLine = lineOf(path, "TRACE: scales");
    for (const gs of [32, 64, 128, 256]) {
      const [k, n] = [512, 96];
      using w = dev.upload(syntheticWeight(k, n, "int4", gs));
      const d = dev.trace(() => dev.dequantize(w).dispose()).dispatches[0];
      const groups = k / gs;
      const row = d.lines.find((l) =>
        l.file.endsWith("dequant.metal") && l.line === scaleLine && l.kind === "load"
      );
      assert.ok(row, `gs${gs}: scale load traced`);
      assert.equal(row.bytes, groups * n * 2, `gs${gs}: each f16 scale read once`);
      assert.equal(row.sectorsPerRequest, row.idealSectorsPerRequest, `gs${gs}: coalesced`);
      const zeroLine = lineOf(path, "TRACE: zeros");
      const zeros = d.lines.find((l) =>
        l.file.endsWith("dequant.metal") && l.line === zeroLine && l.kind === "load"
      );
      assert.ok(
        zeros && zeros.bytes === groups * n,
        `gs${gs}: each zero point read once: ${JSON.stringify(zeros)}`,
      );
    }
  },
);

// bf16 runs the same kernels with AttnParams / MoE params act_bf16 set: the raw 16-bit elements are
// decoded in registers, so every load and store must move exactly the bytes and sectors of f16.
traceTest(
  "trace: bf16 attention (prefill, split decode + combine) and MoE router / grouped GEMM / combine move exactly f16's bytes",
  () => {
    using dev = Device.open({ backend: "cpu", instrument: "trace" });
    const profile = (dtype: "f16" | "bf16") => {
      const t16 = (n: number, shape: number[]) =>
        dtype === "bf16"
          ? dev.tensor(new Uint16Array(n).fill(0x3f00), shape, "bf16")
          : dev.empty(shape, "f16");
      const [D, L] = [80, 300];
      using cache = dev.kvCache({ kvHeads: 1, headDim: D, capacity: L, dtype });
      using q = t16(5 * 4 * D, [5, 4 * D]), q1 = t16(4 * D, [1, 4 * D]);
      const [H, E, k, N, T] = [64, 8, 2, 40, 6];
      using x = t16(T * H, [T, H]), router = t16(E * H, [E, H]);
      using w = dev.upload(randomWeight(H, N, "int4", 32, 1, E));
      using ids = dev.tensor(Uint32Array.from({ length: T * k }, (_, i) => (i * 3) % E), [T, k]);
      using wt = dev.tensor(new Float32Array(T * k).fill(0.5), [T, k]);
      const s = dev.moeSort(ids, E);
      const reports = [
        dev.trace(() =>
          dev.attention(q, cache, { heads: 4, kvLength: L, positionOffset: L - 5, splits: 1 }).dispose()
        ),
        dev.trace(() => dev.attention(q1, cache, { heads: 4, kvLength: L, positionOffset: L - 1 }).dispose()),
        dev.trace(() => {
          const r = dev.moeRoute(x, router, { topK: k, experts: E });
          r.ids.dispose();
          r.weights.dispose();
        }),
        dev.trace(() => {
          using y = dev.moeGemm(x, w, s, { gather: true });
          dev.moeCombine(y, { ids, weights: wt }, s).dispose();
        }),
      ];
      return reports.flatMap((r) =>
        r.dispatches.map((d) => ({
          kernel: d.kernel,
          moved: d.bytesMoved,
          lines: d.lines.filter((l) => l.kind !== "constant").map((l) =>
            `${l.file}:${l.line} ${l.kind} ${l.requests} req ${l.bytes} B ${l.sectors} sectors`
          ),
        }))
      );
    };
    const [f16, bf16] = [profile("f16"), profile("bf16")];
    assert.deepEqual(
      f16.map((d) => d.kernel),
      ["attn_d128", "attn_split_d128", "attn_combine", "moe_router_f16", "moe_gemm", "moe_combine"],
    );
    for (const d of f16) {
      assert.ok(d.lines.some((l) => / load /.test(l)) && d.moved > 0, `${d.kernel}: traced`);
    }
    assert.deepEqual(bf16, f16);
  },
);
