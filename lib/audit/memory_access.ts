// Access records of the memory audit: the scope KernelAnalyzer walks a function body with, and
// AccessRecorder, its base, which turns one device/constant buffer access into a RawAccess with the
// access's classification and lane stride in bytes.
import type { Expr } from "./memory_ast.ts";
import { blockVerdict, type Classification, classify } from "./memory_classify.ts";
import type { FuncDecl } from "../msl/decls.ts";
import { lineText, tokensText } from "../msl/tokens.ts";
import * as V from "./memory_values.ts";

/** One buffer access site as seen from one kernel. */
export interface RawAccess {
  /** File of the access. */
  file: string;
  /** 1-based line of the access. */
  line: number;
  /** 1-based column of the access. */
  column: number;
  /** Name of the buffer parameter accessed. */
  buffer: string;
  /** Its `[[buffer(i)]]` index. */
  bufferIndex: number;
  /** Element type of the buffer as written in the source. */
  elementType: string;
  /** Bytes one lane moves per access, null when unknown. */
  accessBytes: number | null;
  /** Whether the access reads, writes or both (compound assignment). */
  kind: "load" | "store" | "load+store";
  /** The index expression as written. */
  expr: string;
  /** How neighbouring lanes' addresses relate. */
  classification: Classification;
  /** True when the access sits inside a loop. */
  inLoop: boolean;
  /** Byte distance between adjacent lanes' addresses ("symbolic" when it depends on run-time values, null when unknown). */
  laneStrideBytes: number | "symbolic" | null;
  /** Why the classifier chose the classification. */
  reason: string;
}

/** One local: its value, and the loop depth and branch nesting it was declared at. */
export interface Entry {
  v: V.Val;
  depth: number;
  branch: number;
}
/** One function being walked (the kernel or an inlined helper) and its local scope. */
export interface Frame {
  fn: FuncDecl;
  env: Map<string, Entry>;
  types: Map<string, string>;
  consts: Map<string, number>;
  rets: V.Val[];
  chain: string;
}

/** Base of KernelAnalyzer: the accesses found so far, the enclosing loops, and recording one access. */
export abstract class AccessRecorder {
  readonly accesses = new Map<string, RawAccess>();
  protected loops: { id: string; step: V.Coef }[] = [];

  protected subst(type: string, fr: Frame): string {
    return fr.types.get(type) ?? type;
  }

  protected bytes(elem: string, fr: Frame): number | null {
    return V.sizeOf(this.subst(elem, fr));
  }

  protected access(off: V.Num, p: V.Ptr, kind: RawAccess["kind"], e: Expr, fr: Frame): V.Val {
    const tokens = fr.fn.lexed.tokens;
    const tok = tokens[e.at] ?? tokens[0];
    const accessBytes = this.bytes(p.elem, fr);
    const line = tok?.line ?? 0;
    const obj = e.k === "idx" && e.o.k === "id" ? e.o.name : p.buf.name;
    const expr = e.k === "idx" ? `${obj}[${tokensText(tokens, e.at + 1, e.end)}]` : lineText(tokens, line);
    const [classification, reason, stride] = classify(off, accessBytes ?? 1, this.loops);
    const key = `${fr.chain}${fr.fn.file}@${e.at}`;
    const prev = this.accesses.get(key);
    this.accesses.set(key, {
      file: fr.fn.file,
      line,
      column: tok?.col ?? 0,
      buffer: p.buf.name,
      bufferIndex: p.buf.index,
      elementType: this.subst(p.elem, fr),
      accessBytes,
      kind: prev && prev.kind !== kind ? "load+store" : kind,
      expr,
      classification,
      inLoop: this.loops.length > 0,
      laneStrideBytes: stride,
      reason,
    });
    return V.loaded(off);
  }

  // simdgroup_load/store: one cooperative 8x8 block per simdgroup, 8 rows of 8 elements `ld` apart.
  protected blockAccess(p: V.Ptr, kind: RawAccess["kind"], ld: V.Num, e: Expr, fr: Frame): void {
    this.access(p.off, p, kind, e, fr);
    const key = `${fr.chain}${fr.fn.file}@${e.at}`;
    const a = this.accesses.get(key)!;
    if (a.classification === "scattered") return;
    const [cls, why] = blockVerdict(this.bytes(p.elem, fr) ?? 1, ld.c);
    this.accesses.set(key, { ...a, classification: cls, reason: why, laneStrideBytes: null });
  }
}
