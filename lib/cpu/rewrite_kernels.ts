// Finds the kernels of one MSL file (definitions and explicit template instantiations), parses
// their parameter lists into reflection, and prepares the argument expressions of each entry.

import { joinToks, type Tok } from "./rewrite_tokens.ts";
import { type AttrItem, attrItems, type Scan, splitTopLevel } from "./rewrite_scan.ts";

/** One `[[buffer(i)]]` parameter. typeName is the pointee without address space or cv qualifiers. */
export interface BufferReflection {
  index: number;
  kind: "device" | "constant";
  access: "read" | "read_write";
  typeName: string;
  argName: string;
  line: number;
  /** Declared as a reference (`constant P& p`) rather than a pointer. */
  byRef: boolean;
}

/** What the host needs to know about one kernel entry point. */
export interface KernelReflection {
  hostName: string;
  /** Function called by the entry, with template arguments, e.g. `gemm<64, 32>`. */
  functionName: string;
  line: number;
  buffers: BufferReflection[];
  threadgroupArgs: { index: number; typeName: string; argName: string }[];
  /** Position attributes by canonical name (dispatch_threads_per_threadgroup -> threads_per_threadgroup). */
  attributes: { attr: string; typeName: string; argName: string }[];
  maxThreadsPerThreadgroup: number;
}

/** A kernel plus what the generated tail needs: the file it was declared in and the call arguments. */
export interface KernelSite {
  refl: KernelReflection;
  file: string;
  callArgs: string[];
  /** Called function without template arguments, namespace-qualified (`detail::gemm`). */
  callee: string;
  /** Explicit template arguments as written (`<half, 64>`), "" when none. */
  templateArgs: string;
  /** Token index of the body's `{` in the file's Scan; -1 for an explicit instantiation. */
  bodyAt: number;
  /** C++ constant expression for static_tg_bytes (set by rewrite_tgbytes.ts), and why it is 0 if unknown. */
  tgBytes?: string;
  tgNote?: string;
}

/** MSL position attributes -> the mm_rt_lane field holding the value. */
export const POSITION_FIELDS: ReadonlyMap<string, string> = new Map([
  ["thread_position_in_grid", "thread_position_in_grid"],
  ["threadgroup_position_in_grid", "threadgroup_position_in_grid"],
  ["thread_position_in_threadgroup", "thread_position_in_threadgroup"],
  ["threads_per_threadgroup", "threads_per_threadgroup"],
  ["dispatch_threads_per_threadgroup", "threads_per_threadgroup"],
  ["threadgroups_per_grid", "threadgroups_per_grid"],
  ["threads_per_grid", "threads_per_grid"],
  ["thread_index_in_threadgroup", "thread_index_in_threadgroup"],
  ["simdgroup_index_in_threadgroup", "simdgroup_index_in_threadgroup"],
  ["thread_index_in_simdgroup", "thread_index_in_simdgroup"],
  ["simdgroups_per_threadgroup", "simdgroups_per_threadgroup"],
  ["threads_per_simdgroup", "threads_per_simdgroup"],
]);

const QUALIFIERS = new Set(["device", "constant", "threadgroup", "thread", "const", "volatile"]);

/** Every kernel entry point declared in the scanned file, in source order. */
export function findKernels(s: Scan): KernelSite[] {
  const seen = new Set<number>();
  const out: KernelSite[] = [];
  for (let i = 0; i < s.t.length; i++) {
    if (s.scope[i] === "function") continue;
    const isKw = s.t[i].kind === "ident" && s.t[i].text === "kernel" && isQualifierUse(s, i);
    const isAttr = s.isAttr(i) && attrItems(s, i, s.attrEnd(i)).some((a) => a.name === "kernel");
    if (!isKw && !isAttr) continue;
    const st = s.statementStart(i, false);
    if (seen.has(st)) continue;
    seen.add(st);
    const k = parseKernelHead(s, st);
    if (k) out.push(k);
  }
  return out;
}

/** `kernel` used as the function qualifier: the next token past any attributes names a type. */
export function isQualifierUse(s: Scan, i: number): boolean {
  let k = i + 1;
  while (s.isAttr(k)) k = s.attrEnd(k) + 1;
  return s.t[k]?.kind === "ident";
}

// Parses `[template <...> | template] attrs/kernel void name[<args>](params) attrs {|;` at st.
// Returns undefined for declarations that are not entry points (template definitions, prototypes).
function parseKernelHead(s: Scan, st: number): KernelSite | undefined {
  let k = st;
  let templateDef = false, instantiation = false;
  if (s.is(k, "template")) {
    if (s.is(k + 1, "<")) {
      templateDef = true;
      k = s.closeAngle(k + 1) + 1;
    } else {
      instantiation = true;
      k++;
    }
  }
  const attrs: AttrItem[] = [];
  const takeAttrs = (): void => {
    for (;;) {
      if (s.isAttr(k)) {
        const e = s.attrEnd(k);
        attrs.push(...attrItems(s, k, e));
        k = e + 1;
      } else if (/^(kernel|static|inline)$/.test(s.t[k]?.text ?? "") && s.t[k].kind === "ident") {
        if (s.t[k].text === "kernel") attrs.push({ name: "kernel", args: undefined, tok: s.t[k] });
        k++;
      } else return;
    }
  };
  takeAttrs();
  if (!s.is(k, "void")) {
    throw s.error(
      s.t[k],
      "a kernel must return void and list its parameters (decltype instantiations are not supported)",
    );
  }
  k++;
  let name = "";
  let nameTok: Tok | undefined;
  while (s.t[k]?.kind === "ident" || s.is(k, "::")) {
    if (s.t[k].kind === "ident") nameTok = s.t[k];
    name += s.t[k++].text;
  }
  if (!nameTok) throw s.error(s.t[k], "expected the kernel name");
  const nsPrefix = s.ns[k - 1];
  const callee = nsPrefix + name;
  let templateArgs = "";
  if (s.is(k, "<")) {
    const e = s.closeAngle(k);
    templateArgs = joinToks(s.t.slice(k, e + 1));
    name += templateArgs;
    k = e + 1;
  }
  if (!s.is(k, "(")) throw s.error(s.t[k], `expected '(' after kernel name ${name}`);
  const pc = s.close(k);
  const params = splitTopLevel(s, k + 1, pc);
  k = pc + 1;
  takeAttrs();
  const hasBody = s.is(k, "{");
  if (!hasBody && !s.is(k, ";")) throw s.error(s.t[k], `expected '{' or ';' after the parameters of ${name}`);
  if (templateDef || (!instantiation && !hasBody)) return undefined;
  if (instantiation && hasBody) throw s.error(s.t[st], "an explicit instantiation cannot have a body");

  let hostName = nameTok.text;
  let maxThreads = 1024;
  for (const a of attrs) {
    if (a.name === "host_name") {
      const str = a.args?.length === 1 && a.args[0].kind === "string" ? a.args[0].text : undefined;
      if (!str) throw s.error(a.tok, "host_name needs one string literal");
      hostName = str.slice(1, -1);
    } else if (a.name === "max_total_threads_per_threadgroup") {
      maxThreads = intArg(s, a);
    }
  }
  if (instantiation && !attrs.some((a) => a.name === "host_name")) {
    throw s.error(nameTok, `explicit kernel instantiation ${name} needs [[host_name("...")]]`);
  }
  const refl: KernelReflection = {
    hostName,
    functionName: nsPrefix + name,
    line: nameTok.line,
    buffers: [],
    threadgroupArgs: [],
    attributes: [],
    maxThreadsPerThreadgroup: maxThreads,
  };
  const callArgs = params.map(([a, b]) => parseParam(s, a, b, refl));
  refl.buffers.sort((x, y) => x.index - y.index);
  refl.threadgroupArgs.sort((x, y) => x.index - y.index);
  return { refl, file: s.file, callArgs, callee, templateArgs, bodyAt: hasBody ? k : -1 };
}

// Reads an integer attribute argument such as buffer(3) or max_total_threads_per_threadgroup(256).
function intArg(s: Scan, a: AttrItem): number {
  const t = a.args?.length === 1 ? a.args[0] : undefined;
  const m = t?.kind === "number" ? /^(0[xX][0-9a-fA-F]+|\d+)[uU]?$/.exec(t.text) : null;
  if (!m) throw s.error(a.tok, `${a.name}(...) needs an integer literal`);
  return Number(m[1]);
}

// One kernel parameter: records reflection and returns the C++ expression the entry passes for it.
function parseParam(s: Scan, a: number, b: number, refl: KernelReflection): string {
  const decl: Tok[] = [];
  const attrs: AttrItem[] = [];
  for (let k = a; k < b; k++) {
    if (s.isAttr(k)) {
      const e = s.attrEnd(k);
      attrs.push(...attrItems(s, k, e));
      k = e;
    } else decl.push(s.t[k]);
  }
  const first = s.t[a];
  const nameTok = decl[decl.length - 1];
  if (!nameTok || nameTok.kind !== "ident" || decl.length < 2) {
    throw s.error(first, `kernel parameter '${joinToks(decl)}' needs a type and a name`);
  }
  const typeToks = decl.slice(0, -1);
  const argName = nameTok.text;
  if (attrs.length !== 1) {
    throw s.error(
      first,
      attrs.length === 0
        ? `kernel parameter '${argName}' has no attribute ([[buffer(i)]], [[threadgroup(i)]] or a position attribute)`
        : `kernel parameter '${argName}' has more than one attribute`,
    );
  }
  const attr = attrs[0];
  const has = (w: string): boolean => typeToks.some((t) => t.kind === "ident" && t.text === w);
  const refIdx = typeToks.findIndex((t) => t.text === "*" || t.text === "&");
  const byRef = refIdx >= 0 && typeToks[refIdx].text === "&";
  const pointee = refIdx >= 0 ? typeToks.slice(0, refIdx) : typeToks;
  const typeName = joinToks(pointee.filter((t) => !QUALIFIERS.has(t.text)));
  // A reference is passed by dereferencing a pointer cast of the same written type.
  const cast = (src: string): string =>
    byRef ? `*(${joinToks(typeToks.filter((t) => t.text !== "&"))}*)${src}` : `(${joinToks(typeToks)})${src}`;

  if (attr.name === "buffer" || attr.name === "threadgroup") {
    const index = intArg(s, attr);
    if (refIdx < 0) {
      throw s.error(
        first,
        `[[${attr.name}(${index})]] parameter '${argName}' must be a pointer or reference`,
      );
    }
    if (attr.name === "threadgroup") {
      if (!has("threadgroup")) {
        throw s.error(
          first,
          `[[threadgroup(${index})]] parameter '${argName}' needs the threadgroup address space`,
        );
      }
      if (refl.threadgroupArgs.some((x) => x.index === index)) {
        throw s.error(first, `threadgroup index ${index} used twice`);
      }
      refl.threadgroupArgs.push({ index, typeName, argName });
      return cast(`mm_lane->threadgroup_args[${index}]`);
    }
    const kind = has("device") ? "device" : has("constant") ? "constant" : undefined;
    if (!kind) {
      throw s.error(
        first,
        `[[buffer(${index})]] parameter '${argName}' needs the device or constant address space`,
      );
    }
    if (refl.buffers.some((x) => x.index === index)) throw s.error(first, `buffer index ${index} used twice`);
    const constPointee = pointee.some((t) => t.text === "const");
    refl.buffers.push({
      index,
      kind,
      access: kind === "constant" || constPointee ? "read" : "read_write",
      typeName,
      argName,
      line: nameTok.line,
      byRef,
    });
    return cast(`mm_lane->buffers[${index}]`);
  }
  const field = POSITION_FIELDS.get(attr.name);
  if (!field) throw s.error(attr.tok, `unknown kernel parameter attribute [[${attr.name}]] on '${argName}'`);
  if (attr.args) throw s.error(attr.tok, `[[${attr.name}]] takes no arguments`);
  refl.attributes.push({ attr: field, typeName, argName });
  return `::mm_shim::attr<${typeName}>(mm_lane->${field})`;
}
