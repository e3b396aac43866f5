// Trace mode reports: the native side counts, per code site of each dispatch, requests (one
// simdgroup executing one access), distinct 32-byte sectors and 128-byte lines, and bytes; this file
// maps sites to .metal lines (addr2line over the module's debug info) and renders the table.
import { execFileSync } from "node:child_process";
import { relative } from "node:path";
import { ROOT } from "../build/stamp.ts";
import { InvalidArgumentError } from "./errors.ts";
import { check } from "./internal.ts";
import type { Native } from "../ffi/native.ts";

/** One .metal line's device-memory accesses of one kind in one dispatch. */
export interface TraceLine {
  /** .metal file as named in #line (relative to the package root when inside it). */
  file: string;
  /** 1-based .metal line. */
  line: number;
  /**
   * Access kind: device-memory load, store or atomic, or "constant": a read of a `constant` argument
   * (a constant buffer or setBytes data), reported apart from device traffic and its byte totals.
   */
  kind: "load" | "store" | "atomic" | "constant";
  /** Simdgroup executions of the access (all 32 lanes' accesses at one site and occurrence = 1). */
  requests: number;
  /** Mean distinct 32-byte sectors per request. */
  sectorsPerRequest: number;
  /** Mean of ceil(distinct bytes / 32) per request: the fewest sectors that could hold them. */
  idealSectorsPerRequest: number;
  /** Mean distinct 128-byte lines per request. */
  linesPerRequest: number;
  /** Distinct bytes summed over requests. */
  bytes: number;
  /** Sectors summed over requests (bytes moved = 32 x sectors). */
  sectors: number;
}

/** Device-memory profile of one dispatch. Byte counts are bytes. */
export interface TraceDispatch {
  /** Kernel name. */
  kernel: string;
  /** Threadgroups per grid, [x, y, z]. */
  grid: number[];
  /** Threads per threadgroup, [x, y, z]. */
  threadgroup: number[];
  /** False when the dispatch failed part-way (the figures cover what ran). */
  ok: boolean;
  /** Bytes requested by loads (+ atomics), each request's distinct bytes counted once. */
  deviceBytesRead: number;
  /** Bytes requested by reads of `constant` arguments (parameter blocks, setBytes data): not device traffic. */
  constantBytesRead: number;
  /** Bytes requested by stores (+ atomics), each request's distinct bytes counted once. */
  deviceBytesWritten: number;
  /** Distinct bytes of the bound buffers read / written by the whole dispatch (the minimum to move). */
  minimalBytesRead: number;
  /** Distinct bytes of the bound buffers written by the whole dispatch. */
  minimalBytesWritten: number;
  /** 32 x sectors of all requests: what the memory system moves. */
  bytesMoved: number;
  /** Bytes read from threadgroup memory. */
  threadgroupBytesRead: number;
  /** Bytes written to threadgroup memory. */
  threadgroupBytesWritten: number;
  /** Per .metal line and access kind, in source order. */
  lines: TraceLine[];
}

interface RawSite {
  module: string;
  offset: string;
  kind: "load" | "store" | "atomic" | "constant";
  requests: number;
  sectors: number;
  ideal: number;
  lines: number;
  bytes: number;
}
interface RawDispatch {
  kernel: string;
  ok: boolean;
  grid: number[];
  threadgroup: number[];
  uniqueBytesRead: number;
  uniqueBytesWritten: number;
  threadgroupBytesRead: number;
  threadgroupBytesWritten: number;
  sites: RawSite[];
}

/** Dispatches traced by `Device.trace(fn)`, in dispatch order. */
export class TraceReport {
  /** Every traced dispatch, in dispatch order. */
  readonly dispatches: TraceDispatch[];
  /** Wraps already-built dispatch profiles (Device.trace() builds them). */
  constructor(dispatches: TraceDispatch[]) {
    this.dispatches = dispatches;
  }

  /** The dispatches of kernel `name`. */
  of(name: string): TraceDispatch[] {
    return this.dispatches.filter((d) => d.kernel === name);
  }

  /** Plain-text table: one block per dispatch, one row per .metal line and kind. */
  table(): string {
    return this.dispatches.map(formatDispatch).join("\n\n");
  }

  /** JSON form: `{ dispatches }`. */
  toJSON(): { dispatches: TraceDispatch[] } {
    return { dispatches: this.dispatches };
  }
}

/** Reads and clears the native trace buffer of a device opened in trace mode. */
export function takeRawTrace(native: Native, handle: number): string {
  const len = new BigUint64Array(1);
  let cap = 1 << 16;
  for (;;) {
    const buf = new Uint8Array(cap);
    const rc = native.fns.mm_trace_take(handle, buf, cap, len);
    const need = Number(len[0]);
    if (rc !== 0 && need > cap) {
      cap = need; // the native side kept the data for the retry
      continue;
    }
    check(native, rc, "trace");
    return new TextDecoder().decode(buf.subarray(0, Math.max(0, need - 1)));
  }
}

/** Parses the native JSON, maps sites to .metal lines and merges sites of one line and kind. */
export function buildReport(rawJson: string): TraceReport {
  const raw = JSON.parse(rawJson) as RawDispatch[];
  const where = symbolize(raw.flatMap((d) => d.sites));
  return new TraceReport(raw.map((d) => toDispatch(d, where)));
}

function toDispatch(d: RawDispatch, where: Map<string, { file: string; line: number }>): TraceDispatch {
  const byLine = new Map<string, TraceLine & { idealSum: number; lineSum: number }>();
  let read = 0, written = 0, sectors = 0, constant = 0;
  for (const s of d.sites) {
    const w = where.get(`${s.module}\0${s.offset}`) ?? { file: `${s.module}+${s.offset}`, line: 0 };
    const key = `${w.file}\0${w.line}\0${s.kind}`;
    let e = byLine.get(key);
    if (!e) {
      e = {
        file: w.file,
        line: w.line,
        kind: s.kind,
        requests: 0,
        sectorsPerRequest: 0,
        idealSectorsPerRequest: 0,
        linesPerRequest: 0,
        bytes: 0,
        sectors: 0,
        idealSum: 0,
        lineSum: 0,
      };
      byLine.set(key, e);
    }
    e.requests += s.requests;
    e.sectors += s.sectors;
    e.idealSum += s.ideal;
    e.lineSum += s.lines;
    e.bytes += s.bytes;
    if (s.kind === "constant") {
      constant += s.bytes;
      continue;
    }
    if (s.kind !== "store") read += s.bytes;
    if (s.kind !== "load") written += s.bytes;
    sectors += s.sectors;
  }
  const lines = [...byLine.values()].map(({ idealSum, lineSum, ...l }) => ({
    ...l,
    sectorsPerRequest: l.requests ? l.sectors / l.requests : 0,
    idealSectorsPerRequest: l.requests ? idealSum / l.requests : 0,
    linesPerRequest: l.requests ? lineSum / l.requests : 0,
  }));
  lines.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.kind.localeCompare(b.kind));
  return {
    kernel: d.kernel,
    grid: d.grid,
    threadgroup: d.threadgroup,
    ok: d.ok,
    deviceBytesRead: read,
    constantBytesRead: constant,
    deviceBytesWritten: written,
    minimalBytesRead: d.uniqueBytesRead,
    minimalBytesWritten: d.uniqueBytesWritten,
    bytesMoved: 32 * sectors,
    threadgroupBytesRead: d.threadgroupBytesRead,
    threadgroupBytesWritten: d.threadgroupBytesWritten,
    lines,
  };
}

// addr2line -i lists a site's inline chain innermost first; the first frame outside the shim is the
// kernel's own line (a vector copy or simdgroup_load happens inside shim code the kernel called).
function symbolize(sites: RawSite[]): Map<string, { file: string; line: number }> {
  const out = new Map<string, { file: string; line: number }>();
  const byModule = new Map<string, Set<string>>();
  for (const s of sites) {
    if (!s.module) continue;
    if (!byModule.has(s.module)) byModule.set(s.module, new Set());
    byModule.get(s.module)!.add(s.offset);
  }
  for (const [mod, set] of byModule) {
    const offsets = [...set];
    let text: string;
    try {
      text = execFileSync("addr2line", ["-i", "-a", "-e", mod, ...offsets], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        maxBuffer: 64 << 20,
      });
    } catch (e) {
      throw new InvalidArgumentError(
        `trace: addr2line (binutils) failed on ${mod}: ${e instanceof Error ? e.message : String(e)}`,
        "trace",
      );
    }
    const blocks = text.split(/^(?=0x[0-9a-f]+$)/m).filter((b) => b.trim() !== "");
    blocks.forEach((block, i) => {
      const frames = block.trim().split("\n").slice(1).map((l) => l.replace(/ \(discriminator \d+\)$/, ""));
      // Prefer a frame with a line: compiler-made code (e.g. reading a params struct) has line 0.
      const kernelFrames = frames.filter((f) => !f.includes("shim/mm_") && !f.startsWith("??"));
      const pick = kernelFrames.find((f) => !/:0$/.test(f)) ?? kernelFrames[0] ?? frames[0] ?? "??:0";
      const m = /^(.*):(\d+|\?)$/.exec(pick);
      let file = m ? m[1] : pick;
      if (file.startsWith(ROOT + "/")) file = relative(ROOT, file);
      out.set(`${mod}\0${offsets[i]}`, { file, line: m && m[2] !== "?" ? Number(m[2]) : 0 });
    });
  }
  return out;
}

const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));

function formatDispatch(d: TraceDispatch): string {
  const head =
    `${d.kernel}  grid [${d.grid.join(", ")}]  threadgroup [${d.threadgroup.join(", ")}]${
      d.ok ? "" : "  (failed)"
    }\n` +
    `  device read ${d.deviceBytesRead} B (minimal ${d.minimalBytesRead} B), written ${d.deviceBytesWritten} B ` +
    `(minimal ${d.minimalBytesWritten} B), moved ${d.bytesMoved} B in 32-byte sectors; ` +
    `constant read ${d.constantBytesRead} B; ` +
    `threadgroup read ${d.threadgroupBytesRead} B, written ${d.threadgroupBytesWritten} B`;
  const rows = [["line", "kind", "requests", "sectors/req", "ideal", "lines/req", "bytes"]];
  for (const l of d.lines) {
    rows.push([
      `${l.file}:${l.line}`,
      l.kind,
      String(l.requests),
      fmt(l.sectorsPerRequest),
      fmt(l.idealSectorsPerRequest),
      fmt(l.linesPerRequest),
      String(l.bytes),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const body = rows.map((r) =>
    "  " + r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  ")
  );
  return [head, ...body].join("\n");
}

/** Trace verdict of one line: what the measured sectors per request say about the access. */
export type TraceVerdict = "coalesced" | "broadcast" | "uncoalesced";

/**
 * broadcast: one sector per request holding at most 16 distinct bytes (the lanes share an address);
 * coalesced: sectors per request within 25% of the ideal; uncoalesced: anything worse.
 */
export function traceVerdict(l: TraceLine): TraceVerdict {
  if (l.sectorsPerRequest <= 1 && l.bytes / Math.max(1, l.requests) <= 16) return "broadcast";
  return l.sectorsPerRequest <= 1.25 * l.idealSectorsPerRequest ? "coalesced" : "uncoalesced";
}

/** Static classifications (lib/audit/memory.ts) that agree with each trace verdict. */
const AGREES: Record<TraceVerdict, readonly string[]> = {
  coalesced: ["coalesced"],
  broadcast: ["broadcast"],
  uncoalesced: ["strided", "scattered", "sequential-per-thread"],
};

/** One static finding next to the traced line it describes. */
export interface AuditComparison {
  /** Kernel name. */
  kernel: string;
  /** "file:line" of the access. */
  line: string;
  /** Access kind. */
  kind: "load" | "store";
  /** The static audit's classification (coalesced, strided, ...). */
  classification: string;
  /** What the trace measured for the line. */
  verdict: TraceVerdict;
  /** True when the classification matches the verdict. */
  agrees: boolean;
  /** Measured mean 32-byte sectors per request. */
  sectorsPerRequest: number;
  /** Fewest sectors per request that could hold the bytes accessed. */
  ideal: number;
}

/**
 * Compares the static audit's verdicts of `kernel` with one traced dispatch of it: every audited
 * access whose .metal line (and kind) the trace saw is matched; accesses the run never executed are
 * skipped. Returns the matched pairs and the agreement fraction (1 when nothing matched).
 */
export function compareWithAudit(
  d: TraceDispatch,
  accesses: readonly { file: string; line: number; kind: string; classification: string }[],
): { pairs: AuditComparison[]; agreement: number } {
  const base = (f: string): string => f.slice(f.lastIndexOf("/") + 1);
  const pairs: AuditComparison[] = [];
  const seen = new Set<string>();
  for (const a of accesses) {
    for (const kind of ["load", "store"] as const) {
      if (!a.kind.includes(kind)) continue;
      const key = `${base(a.file)}:${a.line}:${kind}:${a.classification}`;
      if (seen.has(key)) continue;
      const l = d.lines.find((x) => base(x.file) === base(a.file) && x.line === a.line && x.kind === kind);
      if (!l) continue;
      seen.add(key);
      const verdict = traceVerdict(l);
      pairs.push({
        kernel: d.kernel,
        line: `${base(a.file)}:${a.line}`,
        kind,
        classification: a.classification,
        verdict,
        agrees: AGREES[verdict].includes(a.classification),
        sectorsPerRequest: l.sectorsPerRequest,
        ideal: l.idealSectorsPerRequest,
      });
    }
  }
  const agreement = pairs.length ? pairs.filter((p) => p.agrees).length / pairs.length : 1;
  return { pairs, agreement };
}
