// `metal-marlin selftest`: every built-in GEMM kernel family (gemv, small, split-K, tiled) and every
// weight format on a Metal device against the CPU runtime on the same inputs, within the tolerance
// policy (README "Tolerance policy": accumulation (K + 64)·2^-24·Σ|a·w| plus f16 rounding of both results),
// printing what ran on which device. On a Mac: `--backend metal` (default); on Linux `--backend metal-sim`
// compares the simulated driver with the CPU runtime.
import { parseArgs } from "node:util";
import { Device, gemmRoute } from "../api/device.ts";
import { dequantizeF64 } from "../reference/gemm.ts";
import { FORMAT_IDS, type QuantFormat } from "../quant/formats.ts";
import { quantize } from "../quant/quantize.ts";

const HELP = `usage: metal-marlin selftest [--backend metal|metal-sim] [--json]`;

interface Row {
  kernel: string;
  family: string;
  format: QuantFormat;
  m: number;
  n: number;
  k: number;
  maxErr: number;
  maxBound: number;
  ok: boolean;
}

const CASES: { m: number; format: QuantFormat; gs: number; splitK?: number }[] = [
  { m: 1, format: "fp4", gs: 32 },
  { m: 1, format: "int4", gs: 128 },
  { m: 5, format: "int4-sym", gs: 64 },
  { m: 3, format: "fp4", gs: 256, splitK: 3 },
  { m: 33, format: "int4", gs: 32 },
  { m: 17, format: "fp4", gs: 128 },
];

function data(len: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: len }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296 - 0.5) * 2 * scale;
  });
}

function runOn(
  dev: Device,
  m: number,
  k: number,
  q: ReturnType<typeof quantize>,
  a: Float16Array,
  splitK?: number,
) {
  const w = dev.upload(q);
  const at = dev.tensor(a, [m, k]);
  const out = dev.gemm(at, w, splitK ? { splitK } : {});
  return Float64Array.from(out.toArray() as Float16Array);
}

/** Runs `selftest`; returns the exit code (1 when any family is out of tolerance). */
export function selftestCommand(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      backend: { type: "string", default: "metal" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.backend !== "metal" && values.backend !== "metal-sim") {
    console.error(`selftest: --backend must be "metal" or "metal-sim", got "${values.backend}"\n${HELP}`);
    return 2;
  }
  const target = Device.open({ backend: values.backend });
  const cpu = Device.open({ backend: "cpu" });
  const rows: Row[] = [];
  try {
    const k = 512, n = 48;
    for (const [i, c] of CASES.entries()) {
      const q = quantize(data(k * n, 11 + i, 0.05), { k, n, format: c.format, groupSize: c.gs });
      const a = Float16Array.from(data(c.m * k, 101 + i, 1));
      const route = gemmRoute(target, {
        m: c.m,
        n,
        k,
        format: FORMAT_IDS[c.format],
        groupSize: c.gs,
        splitK: c.splitK,
      });
      const got = runOn(target, c.m, k, q, a, c.splitK);
      const want = runOn(cpu, c.m, k, q, a, c.splitK);
      const wd = dequantizeF64(q);
      let maxErr = 0, maxBound = 0, ok = true;
      for (let r = 0; r < c.m; r++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < k; t++) s += Math.abs(a[r * k + t] * wd[t * n + j]);
          const x = got[r * n + j], y = want[r * n + j];
          // Each side is within the policy bound of the exact value, so they differ by at most twice it.
          const bound = 2 * ((k + 64) * 2 ** -24 * s + 2 ** -11 * Math.abs(y) + 2 ** -24) +
            2 ** -11 * Math.abs(y);
          const err = Math.abs(x - y);
          if (!(err <= bound)) ok = false;
          maxErr = Math.max(maxErr, err);
          maxBound = Math.max(maxBound, bound);
        }
      }
      rows.push({
        kernel: route.kernel,
        family: route.kind,
        format: c.format,
        m: c.m,
        n,
        k,
        maxErr,
        maxBound,
        ok,
      });
    }
  } finally {
    target.dispose();
    cpu.dispose();
  }
  const where = `${target.backend} (${
    values.backend === "metal-sim" ? "simulated Metal driver" : "Metal GPU"
  })`;
  if (values.json) console.log(JSON.stringify({ ran: where, against: "cpu", rows }, null, 2));
  else {
    console.log(`selftest: each kernel ran on ${where} and on cpu (CPU shader runtime), same inputs`);
    for (const r of rows) {
      console.log(
        `${r.ok ? "ok  " : "FAIL"} ${r.kernel.padEnd(24)} ${r.family.padEnd(7)} M=${r.m} N=${r.n} K=${r.k} ` +
          `max |${values.backend} - cpu| = ${r.maxErr.toExponential(2)} (bound ${
            r.maxBound.toExponential(2)
          })`,
      );
    }
  }
  const failed = rows.filter((r) => !r.ok).length;
  console.log(`selftest: ${rows.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}
