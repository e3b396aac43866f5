// Static memory-access audit of Metal kernels (issue 5, deliverable 5). It reads .metal sources, finds
// every kernel (including [[host_name]] template instantiations), and classifies each device/constant
// buffer access by how the addresses of the 32 lanes of one simdgroup relate:
//
//   coalesced              consecutive lanes touch consecutive elements: the lane stride in bytes is
//                          at most the access width (x[k * N + n] with n = lane; float4 p[lane]).
//   strided                the lane stride exceeds the access width (in[tid * 33], x[lane * K + k]).
//   sequential-per-thread  strided across lanes, but inside a loop each lane walks its own contiguous
//                          run (a[row * K + k] in a k-loop with row following the lane): caches may
//                          absorb it, so it ranks below strided.
//   scattered              the index depends on a value loaded from memory (in[idx[tid]]).
//   broadcast              every lane uses the same address (in[0], in[params.k]).
//
// Assumptions: a thread-position vector's x follows the lane and y/z are simdgroup-uniform (threadgroup
// x extent a multiple of 32); a run-time divisor is large (lane / N is uniform, lane % N follows the lane).
import { InvalidArgumentError } from "../runtime/errors.ts";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { findFunctions, type FuncDecl } from "../msl/decls.ts";
import { type Classification, KernelAnalyzer, type Program, type RawAccess } from "./memory_flow.ts";
import { lex } from "../msl/source.ts";

export type { Classification, RawAccess } from "./memory_flow.ts";

/** How bad an access is for bandwidth: high (strided/scattered in a loop), medium, info (broadcast), none. */
export type Severity = "high" | "medium" | "info" | "none";
/** The seed's finding categories; null for coalesced and broadcast accesses. */
export type Category = "scale-buffer strided access" | "general strided" | "scattered/indirect" | null;

/** One classified access of one kernel, at a .metal/.h line. */
export interface AuditAccess extends RawAccess {
  /** Kernel (host name) the access belongs to. */
  kernel: string;
  /** Finding category, null for coalesced and broadcast accesses. */
  category: Category;
  /** How much the access costs bandwidth. */
  severity: Severity;
}

/** One kernel (one host name for template instantiations). */
export interface AuditKernel {
  /** Host name of the kernel. */
  name: string;
  /** C++/MSL function implementing it (the template for instantiations). */
  function: string;
  /** File defining the function. */
  file: string;
  /** 1-based line of the function in `file`. */
  line: number;
  /** The `[[buffer(i)]]` parameters: index, name, address space and element type. */
  buffers: { index: number; name: string; space: string; elementType: string }[];
  /** Every classified buffer access, in source order. */
  accesses: AuditAccess[];
  /** Accesses per classification. */
  counts: Record<Classification, number>;
  /** Worst severity among the accesses. */
  worst: Severity;
  /** Priority score: 100 per high and 10 per medium finding. */
  score: number;
}

/** The audit result; JSON.stringify(report) gives the full machine-readable report. */
export interface AuditReport {
  /** Files audited (names relative to the shader directory, or as given). */
  files: string[];
  /** Every kernel found, with its classified accesses. */
  kernels: AuditKernel[];
  /** Kernels with findings, worst first (by score: 100 per high, 10 per medium finding). */
  priority: { kernel: string; worst: Severity; score: number; high: number; medium: number }[];
  /** Plain-text summary: the priority list and the worst findings. */
  summary(): string;
}

/** Inputs: explicit sources, or a directory of .metal/.h files (default: the package's shaders/). */
export interface AuditOptions {
  /** Sources to audit by name; wins over `dir`. */
  sources?: { name: string; source: string }[];
  /** Directory of .metal/.h files to audit (default: the package's shaders/). */
  dir?: string;
}

const SEVERITY_RANK: Record<Severity, number> = { high: 3, medium: 2, info: 1, none: 0 };
const SCALE_NAME = /scale|^s$|^sc$|^scl$/i;

function listSources(dir: string): { name: string; source: string }[] {
  const out: { name: string; source: string }[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(metal|h)$/.test(e)) {
        out.push({
          name: join(basename(dir), relative(dir, p)).replaceAll("\\", "/"),
          source: readFileSync(p, "utf8"),
        });
      }
    }
  };
  walk(dir);
  return out;
}

function judge(a: RawAccess, kernel: string): AuditAccess {
  const bad = a.classification === "strided" || a.classification === "sequential-per-thread" ||
    a.classification === "scattered";
  let category: Category = null;
  if (a.classification === "scattered") category = "scattered/indirect";
  else if (bad) {
    category = SCALE_NAME.test(a.buffer) || /scale/i.test(a.elementType)
      ? "scale-buffer strided access"
      : "general strided";
  }
  let severity: Severity = "none";
  if (a.classification === "sequential-per-thread") severity = "medium";
  else if (bad) severity = a.inLoop ? "high" : "medium";
  else if (a.classification === "broadcast") severity = "info";
  return { kernel, ...a, category, severity };
}

function kernelEntry(name: string, def: FuncDecl, inst: FuncDecl | null, prog: Program): AuditKernel {
  const an = new KernelAnalyzer(prog);
  an.run(def, inst);
  // A helper called from several places yields one entry per call chain: keep the worst per site.
  const bySite = new Map<string, AuditAccess>();
  for (const a of [...an.accesses.values()].map((x) => judge(x, name))) {
    const key = `${a.file}:${a.line}:${a.column}`;
    const old = bySite.get(key);
    if (!old || SEVERITY_RANK[a.severity] > SEVERITY_RANK[old.severity]) {
      bySite.set(key, old && old.kind !== a.kind ? { ...a, kind: "load+store" } : a);
    }
  }
  const accesses = [...bySite.values()]
    .sort((x, y) => x.file.localeCompare(y.file) || x.line - y.line || x.column - y.column);
  const counts: Record<Classification, number> = {
    coalesced: 0,
    strided: 0,
    "sequential-per-thread": 0,
    scattered: 0,
    broadcast: 0,
  };
  for (const a of accesses) counts[a.classification]++;
  const worst = accesses.reduce<Severity>(
    (w, a) => SEVERITY_RANK[a.severity] > SEVERITY_RANK[w] ? a.severity : w,
    "none",
  );
  const score = accesses.reduce(
    (s, a) => s + (a.severity === "high" ? 100 : a.severity === "medium" ? 10 : 0),
    0,
  );
  const params = (inst ?? def).params;
  const buffers = params.flatMap((p) => {
    const m = /buffer\((\d+)\)/.exec(p.attrs.join(" "));
    return m
      ? [{ index: Number(m[1]), name: p.name, space: p.addressSpace ?? "?", elementType: p.baseType }]
      : [];
  });
  return {
    name,
    function: def.name,
    file: def.file,
    line: def.line,
    buffers,
    accesses,
    counts,
    worst,
    score,
  };
}

/** Builds the program model (helpers, type names, macros) and the list of kernels to analyze. */
function collect(
  sources: { name: string; source: string }[],
): { prog: Program; kernels: [string, FuncDecl, FuncDecl | null][] } {
  const prog: Program = { helpers: new Map(), typeNames: new Set(), macros: new Map() };
  const all: FuncDecl[] = [];
  for (const s of sources) {
    const lx = lex(s.source);
    for (const [k, v] of lx.macros) prog.macros.set(k, v);
    lx.tokens.forEach((t, i) => {
      const next = lx.tokens[i + 1];
      if ((t.text === "struct" || t.text === "class" || t.text === "using") && next?.kind === "ident") {
        prog.typeNames.add(next.text);
      }
      if ((t.text === "typename" || t.text === "class") && next?.kind === "ident") {
        prog.typeNames.add(next.text);
      }
    });
    all.push(...findFunctions(lx, s.name));
  }
  for (const f of all) {
    if (!f.kernel && f.body) prog.helpers.set(f.name, [...(prog.helpers.get(f.name) ?? []), f]);
  }
  const kernels: [string, FuncDecl, FuncDecl | null][] = [];
  for (const def of all.filter((f) => f.kernel && f.body)) {
    const insts = all.filter((f) =>
      f.kernel && !f.body && f.name === def.name && (f.hostName || f.templateArgs)
    );
    if (def.templateParams && insts.length > 0) {
      for (const inst of insts) {
        kernels.push([inst.hostName ?? `${def.name}<${inst.templateArgs!.join(", ")}>`, def, inst]);
      }
    } else kernels.push([def.hostName ?? def.name, def, null]);
  }
  return { prog, kernels };
}

/** Statically audits the device-memory accesses of every kernel in `sources` (or `dir`, default the
 * package's shaders/ directory). Pure: reads files only when `sources` is not given. */
export function auditShaders(opts: AuditOptions = {}): AuditReport {
  if (opts.dir === undefined && opts.sources === undefined && !import.meta.url.startsWith("file:")) {
    throw new InvalidArgumentError(
      "auditShaders: the package's shaders/ are not on disk (imported from a URL); pass { dir } or { sources }",
      "auditShaders",
    );
  }
  const dir = opts.dir ?? fileURLToPath(new URL("../../shaders/", import.meta.url));
  const sources = opts.sources ?? listSources(dir.replace(/\/$/, ""));
  const { prog, kernels } = collect(sources);
  const entries = kernels.map(([name, def, inst]) => kernelEntry(name, def, inst, prog));
  const priority = entries.filter((k) => k.score > 0)
    .sort((a, b) =>
      SEVERITY_RANK[b.worst] - SEVERITY_RANK[a.worst] || b.score - a.score || a.name.localeCompare(b.name)
    )
    .map((k) => ({
      kernel: k.name,
      worst: k.worst,
      score: k.score,
      high: k.accesses.filter((a) => a.severity === "high").length,
      medium: k.accesses.filter((a) => a.severity === "medium").length,
    }));
  const report: AuditReport = {
    files: sources.map((s) => s.name),
    kernels: entries,
    priority,
    summary: () => summarize(report),
  };
  return report;
}

/** Human-readable summary: totals, then the priority kernels with their findings. */
export function summarize(r: AuditReport, maxKernels = 10): string {
  const all = r.kernels.flatMap((k) => k.accesses);
  const n = (c: Classification): number => all.filter((a) => a.classification === c).length;
  const lines = [
    `static memory-access audit: ${r.kernels.length} kernel(s) in ${r.files.length} file(s), ${all.length} access site(s)`,
    `  coalesced ${n("coalesced")}, broadcast ${n("broadcast")}, sequential-per-thread ${
      n("sequential-per-thread")
    }, ` +
    `strided ${n("strided")}, scattered ${n("scattered")}`,
  ];
  if (r.priority.length === 0) lines.push("priority kernels: none (no strided or scattered accesses)");
  else lines.push(`priority kernels (${r.priority.length}, worst first):`);
  for (const p of r.priority.slice(0, maxKernels)) {
    lines.push(`  ${p.kernel}: worst ${p.worst}, ${p.high} high, ${p.medium} medium`);
    const k = r.kernels.find((x) => x.name === p.kernel)!;
    for (const a of k.accesses.filter((x) => x.category !== null)) {
      lines.push(
        `    ${a.file}:${a.line}: ${a.severity} ${a.classification} (${a.category}) ${a.kind} ${a.expr} — ${a.reason}`,
      );
    }
  }
  if (r.priority.length > maxKernels) {
    lines.push(`  ... and ${r.priority.length - maxKernels} more kernel(s) in the JSON report`);
  }
  return lines.join("\n");
}
