// `metal-marlin profile`: the trace-mode memory profile of a shipped GEMM at a shape, or of any kernel
// of a .metal file with buffers described on the command line. Also the helper bench/trace.ts and the
// bounds test use to trace one GEMM call.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import process from "node:process";
import { Device } from "../api/device.ts";
import { dispatchProgress } from "../runtime/progress.ts";
import { type DType, isDType } from "../runtime/dtype.ts";
import { InvalidArgumentError } from "../runtime/errors.ts";
import { isQuantFormat, QUANT_FORMATS, type QuantFormat } from "../quant/formats.ts";
import type { QuantizedMatrix } from "../quant/types.ts";
import type { TraceReport } from "../runtime/trace.ts";

/** One traced GEMM call's shape. */
export interface GemmShape {
  m: number;
  n: number;
  k: number;
  format: QuantFormat;
  groupSize: number;
  /** 0 = routing decides (default). */
  splitK?: number;
  /** Activation dtype. Default "f16". */
  act?: "f16" | "bf16";
}

/**
 * A synthetic quantized weight: deterministic random codes, scale 1/64 (zero point 8 for int4, bias
 * -1/8 for int4-affine; E8M0 2^-6, E4M3 1/64 with tensor scale 1). The access pattern of a kernel does
 * not depend on the values, and this skips quantizing a big matrix.
 */
export function syntheticWeight(
  k: number,
  n: number,
  format: QuantFormat,
  groupSize: number,
): QuantizedMatrix {
  const kp = Math.ceil(k / groupSize) * groupSize;
  const np = Math.ceil(n / 8) * 8;
  const packed = new Uint32Array((kp / 8) * np);
  let s = 0x9e3779b9;
  for (let i = 0; i < packed.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    packed[i] = s >>> 0;
  }
  const groups = (kp / groupSize) * np;
  const byte = format === "mxfp4" || format === "nvfp4";
  const q: QuantizedMatrix = {
    format,
    k,
    n,
    kp,
    np,
    groupSize,
    batch: undefined,
    layout: "nk",
    packed,
    scaleDtype: format === "mxfp4" ? "e8m0" : format === "nvfp4" ? "e4m3" : "f16",
    // E8M0 121 = 2^-6; E4M3 0x08 = 2^-6 (exponent 1, mantissa 0)
    scales: byte
      ? new Uint8Array(groups).fill(format === "mxfp4" ? 121 : 0x08)
      : new Float16Array(groups).fill(1 / 64),
    zeros: format === "int4" ? new Uint8Array(groups).fill(8) : undefined,
  };
  if (format === "int4-affine") return { ...q, biases: new Float16Array(groups).fill(-1 / 8) };
  return format === "nvfp4" ? { ...q, tensorScale: 1 } : q;
}

/** Traces one dev.gemm call at `shape` on a trace-mode device (opened and closed here if not given). */
export function traceGemm(shape: GemmShape, device?: Device): TraceReport {
  const dev = device ?? Device.open({ backend: "cpu", instrument: "trace" });
  try {
    using w = dev.upload(syntheticWeight(shape.k, shape.n, shape.format, shape.groupSize));
    const a = new Float16Array(shape.m * shape.k);
    for (let i = 0; i < a.length; i++) a[i] = ((i * 37) % 101) / 101 - 0.5;
    // bf16 activations: the same values' bits (exact here: i/101 - 0.5 rounds, but any bits will do)
    using ta = shape.act === "bf16"
      ? dev.tensor(Uint16Array.from(a, (v) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16), [
        shape.m,
        shape.k,
      ], "bf16")
      : dev.tensor(a, [shape.m, shape.k]);
    return dev.trace(() => {
      dev.gemm(ta, w, { splitK: shape.splitK ?? 0 }).dispose();
    });
  } finally {
    if (!device) dev.dispose();
  }
}

const HELP = `usage:
  metal-marlin profile gemm --m 1 --n 4096 --k 4096 [--format fp4] [--group-size 128] [--split-k 0] [--json]
  metal-marlin profile <file.metal> <kernel> --grid X[,Y,Z] --threadgroup X[,Y,Z] --arg SPEC ... [--json]
    --arg (one per [[buffer(i)]], in index order):
      DTYPE:COUNT      a tensor of COUNT elements (f16 f32 i32 u32 u16 u8 i16 i8), filled with i % 251
      DTYPE=V1,V2,...  inline constant bytes (e.g. u32=1000 for a size argument)
Prints, per dispatch and per .metal line with device loads or stores: requests (one per simdgroup
execution), mean 32-byte sectors per request, the ideal (fewest sectors holding the bytes touched),
mean 128-byte lines per request and bytes. Runs on the CPU shader runtime (trace mode), not on a GPU.
A dispatch that runs over --progress-after milliseconds (default 1000) draws a progress line on stderr
when it is a terminal, or always with --progress.`;

const dims = (s: string): number[] => s.split(",").map((x) => Number(x.trim()));

const ARRAYS: Record<string, new (n: number) => ArrayBufferView & { [i: number]: number; length: number }> = {
  f16: Float16Array,
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
  u16: Uint16Array,
  u8: Uint8Array,
  i16: Int16Array,
  i8: Int8Array,
};

function profileKernel(
  dev: Device,
  file: string,
  kernel: string,
  grid: number[],
  tg: number[],
  specs: string[],
) {
  const lib = dev.compile(readFileSync(file, "utf8"), { name: basename(file) });
  const k = lib.kernel(kernel);
  const args = specs.map((spec) => {
    const inline = /^(\w+)=(.*)$/.exec(spec);
    const tensor = /^(\w+):(\d+)$/.exec(spec);
    const dtype = (inline ?? tensor)?.[1] ?? "";
    if (!(dtype in ARRAYS) || (!inline && !tensor)) {
      throw new InvalidArgumentError(`profile: bad --arg "${spec}" (see --help)`, "profile");
    }
    if (inline) {
      const vals = inline[2].split(",").map(Number);
      const arr = new ARRAYS[dtype](vals.length);
      vals.forEach((v, i) => (arr[i] = v));
      return arr;
    }
    const n = Number(tensor![2]);
    const arr = new ARRAYS[dtype](n);
    for (let i = 0; i < n; i++) arr[i] = i % 251;
    if (!isDType(dtype as DType)) {
      throw new InvalidArgumentError(`profile: unknown dtype ${dtype}`, "profile");
    }
    return dev.tensor(arr as never);
  });
  return dev.trace(() => k.dispatch({ grid, threadgroupSize: tg, args }));
}

/** Entry of the CLI's COMMANDS table. Returns the exit code. */
export function profileCommand(argv: string[]): number {
  const { values, positionals } = parse(argv);
  if (values.help || positionals.length === 0) {
    (values.help ? console.log : console.error)(HELP);
    return values.help ? 0 : 2;
  }
  const afterMs = Number(values["progress-after"]);
  if (!Number.isInteger(afterMs) || afterMs < 0 || afterMs > 0xffffffff) {
    console.error(
      `profile: --progress-after must be a whole number of milliseconds, got "${values["progress-after"]}"`,
    );
    return 2;
  }
  const progress = values.progress || process.stderr.isTTY === true;
  if (progress) dispatchProgress("profile", { mode: "instrument", afterMs });
  try {
    return profileRun(values, positionals);
  } finally {
    if (progress) dispatchProgress(null, { mode: "instrument" });
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      m: { type: "string", default: "1" },
      n: { type: "string", default: "4096" },
      k: { type: "string", default: "4096" },
      format: { type: "string", default: "fp4" },
      "group-size": { type: "string", default: "128" },
      "split-k": { type: "string", default: "0" },
      grid: { type: "string", default: "1" },
      threadgroup: { type: "string", default: "32" },
      arg: { type: "string", multiple: true, default: [] },
      json: { type: "boolean", default: false },
      progress: { type: "boolean", default: false },
      "progress-after": { type: "string", default: "1000" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

function profileRun(values: ReturnType<typeof parse>["values"], positionals: string[]): number {
  let report: TraceReport;
  if (positionals[0] === "gemm" && positionals.length === 1) {
    const format = values.format;
    if (!isQuantFormat(format)) {
      console.error(`profile: unknown format "${format}"; expected one of ${QUANT_FORMATS.join(", ")}`);
      return 2;
    }
    report = traceGemm({
      m: Number(values.m),
      n: Number(values.n),
      k: Number(values.k),
      format,
      groupSize: Number(values["group-size"]),
      splitK: Number(values["split-k"]),
    });
  } else if (positionals.length === 2) {
    using dev = Device.open({ backend: "cpu", instrument: "trace" });
    report = profileKernel(
      dev,
      positionals[0],
      positionals[1],
      dims(values.grid),
      dims(values.threadgroup),
      values.arg,
    );
  } else {
    console.error(HELP);
    return 2;
  }
  console.log(values.json ? JSON.stringify(report, null, 2) : report.table());
  return 0;
}

/** Shapes bench/trace.ts profiles (one per GEMM family; each routes to the kernel named). */
export const TRACE_BENCH_SHAPES: readonly (Omit<GemmShape, "format" | "groupSize"> & { family: string })[] = [
  { family: "gemv", m: 1, n: 4096, k: 4096 },
  { family: "gemm_small", m: 8, n: 2048, k: 2048 },
  { family: "gemm_splitk", m: 4, n: 256, k: 8192, splitK: 8 },
  { family: "gemm_tiled", m: 128, n: 512, k: 1024 },
];

/** Trace figures of one dispatch, as bench/trace.ts records them and the bounds test checks them. */
export interface DispatchSummary {
  kernel: string;
  /** 32 x sectors of every request (read + write). */
  bytesMoved: number;
  /** Distinct bytes read + written: what any kernel must move. */
  minimalBytes: number;
  movedOverMinimal: number;
  /** Hot-loop loads: load lines whose request count is at least 10% of the busiest load line's. */
  hotLoads: { line: string; requests: number; sectorsPerRequest: number; ideal: number }[];
  /** Largest sectorsPerRequest / ideal among the hot loads (1 = every hot load is as tight as it can be). */
  worstHotRatio: number;
  worstHotLine: string;
}

/** Summarizes one traced dispatch (see DispatchSummary). */
export function summarizeDispatch(d: TraceReport["dispatches"][number]): DispatchSummary {
  const loads = d.lines.filter((l) => l.kind === "load");
  const busiest = Math.max(0, ...loads.map((l) => l.requests));
  const hotLoads = loads.filter((l) => l.requests >= busiest / 10).map((l) => ({
    line: `${l.file}:${l.line}`,
    requests: l.requests,
    sectorsPerRequest: l.sectorsPerRequest,
    ideal: l.idealSectorsPerRequest,
  }));
  let worstHotRatio = 0, worstHotLine = "";
  for (const h of hotLoads) {
    const r = h.ideal > 0 ? h.sectorsPerRequest / h.ideal : 0;
    if (r > worstHotRatio) [worstHotRatio, worstHotLine] = [r, h.line];
  }
  const minimalBytes = d.minimalBytesRead + d.minimalBytesWritten;
  return {
    kernel: d.kernel,
    bytesMoved: d.bytesMoved,
    minimalBytes,
    movedOverMinimal: minimalBytes ? d.bytesMoved / minimalBytes : 0,
    hotLoads,
    worstHotRatio,
    worstHotLine,
  };
}
