// Structure helpers over the significant tokens of one MSL file: bracket matching, `[[attribute]]`
// spans and the kind of scope (file, namespace, function body, other) each token sits in.

import { RewriteError, type Tok } from "./rewrite_tokens.ts";

/** Scope kinds; only "function" bodies may hold threadgroup declarations. */
export type ScopeKind = "file" | "namespace" | "function" | "other";

/** Significant tokens of one file (comments dropped, preprocessor lines kept as boundaries). */
export class Scan {
  readonly t: Tok[];
  readonly file: string;
  /** Comment tokens, kept apart so edits can avoid them. */
  readonly comments: Tok[];
  /** Kind of the innermost brace scope around token i. */
  readonly scope: ScopeKind[] = [];
  /** `a::b::` namespace prefix for token i (empty at file scope). */
  readonly ns: string[] = [];

  constructor(toks: readonly Tok[], file: string) {
    this.t = toks.filter((x) => x.kind !== "comment");
    this.comments = toks.filter((x) => x.kind === "comment");
    this.file = file;
    this.computeScopes();
  }

  error(tok: Tok | undefined, what: string): RewriteError {
    const last = this.t[this.t.length - 1];
    const at = tok ?? last;
    return new RewriteError(this.file, at?.line ?? 1, at?.col ?? 1, what);
  }

  is(i: number, text: string): boolean {
    const x = this.t[i];
    return x !== undefined && x.kind !== "string" && x.kind !== "char" && x.text === text;
  }

  /** Index of the bracket closing the `(`, `[` or `{` at i (all three kinds nest). */
  close(i: number): number {
    const open = "([{", shut = ")]}";
    const stack: string[] = [];
    for (let k = i; k < this.t.length; k++) {
      const x = this.t[k];
      if (x.kind !== "punct") continue;
      if (open.includes(x.text)) stack.push(shut[open.indexOf(x.text)]);
      else if (shut.includes(x.text)) {
        if (stack.pop() !== x.text) throw this.error(x, `unbalanced '${x.text}'`);
        if (stack.length === 0) return k;
      }
    }
    throw this.error(this.t[i], `'${this.t[i].text}' is never closed`);
  }

  /** Index of the `>` closing the template argument list opened by `<` at i. */
  closeAngle(i: number): number {
    let depth = 0;
    for (let k = i; k < this.t.length; k++) {
      const x = this.t[k].text;
      if (x === "(" || x === "[" || x === "{") k = this.close(k);
      else if (x === "<") depth++;
      else if (x === ">" && --depth === 0) return k;
      else if (x === ";" || x === "{" || x === "}") break;
    }
    throw this.error(this.t[i], "template argument list is never closed");
  }

  /** True when tokens i, i+1 open an attribute `[[`. */
  isAttr(i: number): boolean {
    return this.is(i, "[") && this.is(i + 1, "[");
  }

  /** Index of the second `]` of the attribute opened at i. */
  attrEnd(i: number): number {
    const e = this.close(i);
    if (!this.is(e - 1, "]") || this.close(i + 1) !== e - 1) {
      throw this.error(this.t[i], "malformed [[attribute]]");
    }
    return e;
  }

  /** True when token i begins a statement or declaration (after ; { } a directive, a label or an attribute). */
  atStatementStart(i: number, afterAttr = true): boolean {
    if (i === 0) return true;
    const p = this.t[i - 1];
    if (p.kind === "pp") return true;
    if (p.kind === "punct" && (p.text === ";" || p.text === "{" || p.text === "}" || p.text === ":")) {
      return true;
    }
    return afterAttr && p.text === "]" && this.is(i - 2, "]"); // after [[attr]]
  }

  /** Walks back from i to the first token of its statement (leading attributes included unless afterAttr). */
  statementStart(i: number, afterAttr = true): number {
    let k = i;
    while (k > 0 && !this.atStatementStart(k, afterAttr)) k--;
    return k;
  }

  private computeScopes(): void {
    const stack: { kind: ScopeKind; ns: string }[] = [{ kind: "file", ns: "" }];
    for (let i = 0; i < this.t.length; i++) {
      const top = stack[stack.length - 1];
      this.scope.push(top.kind);
      this.ns.push(top.ns);
      const x = this.t[i];
      if (x.kind !== "punct") continue;
      if (x.text === "{") stack.push(this.braceKind(i, top));
      else if (x.text === "}" && stack.length > 1) stack.pop();
    }
  }

  // What a `{` opens: blocks inside functions stay "function"; `) {` (after optional qualifiers)
  // is a function body; `namespace N {` a namespace; anything else (struct, enum, init list) "other".
  private braceKind(i: number, top: { kind: ScopeKind; ns: string }): { kind: ScopeKind; ns: string } {
    if (top.kind === "function") return top;
    let k = i - 1;
    while (k >= 0 && /^(const|noexcept|override|final|mutable|volatile)$/.test(this.t[k].text)) k--;
    if (this.is(k, ")")) return { kind: "function", ns: top.ns };
    let name = "";
    while (k >= 0 && (this.t[k].kind === "ident" || this.t[k].text === "::")) {
      if (this.t[k].text === "namespace") {
        return { kind: "namespace", ns: top.ns + (name ? `${name}::` : "") };
      }
      name = this.t[k].text + name;
      k--;
    }
    return { kind: "other", ns: top.ns };
  }
}

/** One item of an attribute list: `buffer(3)` -> { name: "buffer", args: [tokens of 3] }. */
export interface AttrItem {
  name: string;
  args: Tok[] | undefined;
  tok: Tok;
}

/** Parses the attribute spanning [i, end] into its comma-separated items. */
export function attrItems(s: Scan, i: number, end: number): AttrItem[] {
  const items: AttrItem[] = [];
  let k = i + 2;
  while (k < end - 1) {
    const first = s.t[k];
    let name = "";
    while (k < end - 1 && (s.t[k].kind === "ident" || s.is(k, "::"))) name += s.t[k++].text;
    if (name === "") throw s.error(first, `unexpected '${first.text}' in attribute`);
    let args: Tok[] | undefined;
    if (s.is(k, "(")) {
      const c = s.close(k);
      args = s.t.slice(k + 1, c);
      k = c + 1;
    }
    items.push({ name, args, tok: first });
    if (s.is(k, ",")) k++;
    else if (k !== end - 1) throw s.error(s.t[k], `unexpected '${s.t[k].text}' in attribute`);
  }
  return items;
}

/** Standard C++ attributes the rewriter keeps; every other `[[...]]` is MSL and is removed. */
export const STD_ATTRS = new Set([
  "maybe_unused",
  "likely",
  "unlikely",
  "fallthrough",
  "nodiscard",
  "deprecated",
  "noreturn",
]);

/** Splits tokens [from, to) at top-level commas (parentheses, brackets, braces and template angles nest). */
export function splitTopLevel(s: Scan, from: number, to: number): [number, number][] {
  const parts: [number, number][] = [];
  let start = from;
  let angle = 0;
  for (let k = from; k < to; k++) {
    const x = s.t[k].text;
    if (x === "(" || x === "[" || x === "{") k = s.close(k);
    else if (x === "<") angle++;
    else if (x === ">" && angle > 0) angle--;
    else if (x === "," && angle === 0) {
      parts.push([start, k]);
      start = k + 1;
    }
  }
  if (to > start) parts.push([start, to]);
  return parts;
}
