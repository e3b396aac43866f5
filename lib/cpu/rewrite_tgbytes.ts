// static_tg_bytes of each kernel, computed by the C++ compiler: after a kernel definition that declares
// threadgroup arrays the rewriter appends (on the line of its closing brace, so line mapping holds)
//   template <same params> struct mm_tg_bytes_fn { static constexpr ::uint32_t value = sizeof(T[..]) + ...; };
// or, for a plain kernel, `constexpr ::uint32_t mm_tg_bytes_fn = ...;`, and the generated table names it.

import { joinToks, type Tok } from "./rewrite_tokens.ts";
import { attrItems, type Scan } from "./rewrite_scan.ts";
import type { KernelSite } from "./rewrite_kernels.ts";

/** One declarator of a rewritten `threadgroup T name dims;` (token index of `threadgroup`, T and dims). */
export interface TgDecl {
  at: number;
  type: Tok[];
  dims: Tok[];
}

/** One kernel definition (template or not) at file or namespace scope. */
export interface TgDef {
  file: string;
  /** Token index of the body's `{`. */
  bodyAt: number;
  /** Namespace-qualified written name, e.g. `detail::gemm`. */
  key: string;
  /** `template <...>` head, "" for a plain function. */
  templateHead: string;
  /** An explicit specialization (`template <>` or `fn<A>(...)`): its bytes are not computed. */
  specialization: boolean;
  /** File-scope name of the byte count (`::ns::mm_tg_bytes_fn`); undefined when it declares no arrays. */
  ref?: string;
  /** Why the byte count cannot be named outside the body (dims use function-local names). */
  problem?: string;
}

const NOT_A_TYPE = new Set([
  "return",
  "case",
  "goto",
  "else",
  "throw",
  "new",
  "delete",
  "sizeof",
  "do",
  "co_return",
  "co_yield",
]);

/**
 * Finds the kernel definitions of one scanned file, appends the byte-count declaration after each one
 * with threadgroup arrays (via `insert`), and returns them. `names` keeps emitted names unique per scope.
 */
export function tgBytesDefs(
  s: Scan,
  decls: readonly TgDecl[],
  names: Map<string, number>,
  insert: (offset: number, text: string) => void,
): TgDef[] {
  const out: TgDef[] = [];
  for (let i = 0; i + 1 < s.t.length; i++) {
    if (!s.is(i, "{") || s.scope[i] === "function" || s.scope[i + 1] !== "function") continue;
    const close = s.close(i);
    const def = defHead(s, i);
    if (def) {
      const mine = decls.filter((d) => d.at > i && d.at < close);
      if (mine.length > 0 && !def.out.specialization) {
        const base = `mm_tg_bytes_${def.written.replace(/::/g, "_")}`;
        const n = (names.get(s.ns[i] + base) ?? 0) + 1;
        names.set(s.ns[i] + base, n);
        const id = n === 1 ? base : `${base}_${n}`;
        const local = localNames(s, def.paren, close);
        const used = mine.flatMap((d) => [...d.type, ...d.dims]).filter((x, k, all) =>
          x.kind === "ident" && local.has(x.text) && !(k > 0 && /^(::|\.|->)$/.test(all[k - 1].text))
        );
        if (used.length > 0) {
          const list = [...new Set(used.map((x) => x.text))].join(", ");
          def.out.problem = `threadgroup array sizes use names local to ${def.written} (${list})`;
        } else {
          const sum = mine.map((d) => `sizeof(${joinToks(d.type)}${joinToks(d.dims)})`).join(" + ");
          const value = `::uint32_t(${sum})`;
          insert(
            s.t[close].end,
            def.out.templateHead
              ? ` ${def.out.templateHead} struct ${id} { static constexpr ::uint32_t value = ${value}; };`
              : ` constexpr ::uint32_t ${id} = ${value};`,
          );
          def.out.ref = `::${s.ns[i]}${id}`;
        }
      }
      out.push(def.out);
    }
    i = close;
  }
  return out;
}

// Parses the head of the function whose body opens at `open`; undefined unless it is a kernel with a
// plain (possibly qualified) name.
function defHead(
  s: Scan,
  open: number,
): { out: TgDef; written: string; paren: [number, number] } | undefined {
  let p = open - 1;
  while (p >= 0 && /^(const|noexcept|override|final|mutable|volatile)$/.test(s.t[p].text)) p--;
  if (!s.is(p, ")")) return undefined;
  const st = s.statementStart(open, false);
  let k = st, templateHead = "", specialization = false;
  if (s.is(k, "template") && s.is(k + 1, "<")) {
    const e = s.closeAngle(k + 1);
    templateHead = joinToks(s.t.slice(k, e + 1));
    specialization = e === k + 2;
    k = e + 1;
  }
  let po = -1, isKernel = false;
  for (; k < p; k++) {
    if (s.isAttr(k)) {
      const e = s.attrEnd(k);
      if (attrItems(s, k, e).some((a) => a.name === "kernel")) isKernel = true;
      k = e;
    } else if (s.t[k].kind === "ident" && s.t[k].text === "kernel") isKernel = true;
    else if (s.is(k, "(") && s.close(k) === p) {
      po = k;
      break;
    }
  }
  if (po < 0 || !isKernel) return undefined;
  let n = po - 1;
  if (s.is(n, ">")) { // `fn<A>(...)`: an explicit specialization
    specialization = true;
    for (let depth = 0; n > st; n--) {
      if (s.is(n, ">")) depth++;
      else if (s.is(n, "<") && --depth === 0) break;
    }
    n--;
  }
  if (s.t[n]?.kind !== "ident" || n <= st) return undefined;
  let written = s.t[n].text;
  for (; s.is(n - 1, "::") && s.t[n - 2]?.kind === "ident"; n -= 2) {
    written = `${s.t[n - 2].text}::${written}`;
  }
  if (s.is(n - 1, "::")) return undefined; // `::f`: spelled from the global scope
  return {
    out: { file: s.file, bodyAt: open, key: s.ns[open] + written, templateHead, specialization },
    written,
    paren: [po, p],
  };
}

// Names declared in the parameter list or body (tokens paren[0]..close): an identifier followed by
// = { ; [ , : ) and preceded, back to ( { } ; , : ] or a directive, only by type-like tokens.
function localNames(s: Scan, paren: [number, number], close: number): Set<string> {
  const names = new Set<string>();
  for (let k = paren[0] + 1; k < close; k++) {
    const x = s.t[k];
    if (x.kind !== "ident" || !/^[={;\[,:)]$/.test(s.t[k + 1]?.text ?? "")) continue;
    if (s.t[k + 1].kind !== "punct") continue;
    let j = k - 1, types = 0;
    for (; j > paren[0] - 1; j--) {
      const y = s.t[j];
      if (y.kind === "pp" || (y.kind === "punct" && /^[({};,:\]]$/.test(y.text))) break;
      if (y.kind === "ident") {
        if (NOT_A_TYPE.has(y.text)) {
          types = 0;
          break;
        }
        types++;
      } else if (y.text === ">") {
        let depth = 0;
        for (; j > paren[0]; j--) {
          if (s.is(j, ">")) depth++;
          else if (s.is(j, "<") && --depth === 0) break;
          else if (s.is(j, ";") || s.is(j, "{") || s.is(j, "}")) break;
        }
        if (!s.is(j, "<") || s.t[j - 1]?.kind !== "ident") {
          types = 0;
          break;
        }
      } else if (!/^(::|\*|&)$/.test(y.text)) {
        types = 0;
        break;
      }
    }
    if (types > 0) names.add(x.text);
  }
  return names;
}

/** Sets site.tgBytes / tgNote from the definitions of every file of the module. */
export function resolveTgBytes(site: KernelSite, defs: readonly TgDef[]): void {
  const unknown = (why: string): void => {
    site.tgBytes = "0u";
    site.tgNote = `static_tg_bytes unknown: ${why}`;
  };
  site.tgBytes = "0u";
  if (site.bodyAt >= 0) {
    const d = defs.find((x) => x.file === site.file && x.bodyAt === site.bodyAt);
    if (!d) return unknown("definition not parsed");
    if (d.problem) return unknown(d.problem);
    if (d.ref) site.tgBytes = d.ref;
    return;
  }
  const cands = defs.filter((x) => x.key === site.callee && (x.templateHead !== "" || x.specialization));
  if (cands.length === 0) {
    return unknown(`no kernel template definition of ${site.callee} seen by the rewriter`);
  }
  if (cands.every((x) => !x.ref && !x.problem && !x.specialization)) return;
  if (cands.length > 1) {
    return unknown(`${site.callee} has ${cands.length} template definitions or specializations`);
  }
  const d = cands[0];
  if (d.specialization) return unknown(`${site.callee} is an explicit specialization`);
  if (d.problem) return unknown(d.problem);
  if (site.templateArgs === "") {
    return unknown(`template arguments of ${site.callee} are deduced, not written`);
  }
  site.tgBytes = `${d.ref}${site.templateArgs}::value`;
}
