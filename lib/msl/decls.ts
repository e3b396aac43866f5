// Top-level declarations of an MSL file: functions (kernels, helpers, templates), their parameters and
// explicit kernel instantiations with [[host_name]], and the calls inside a token range. Shared by the
// memory audit and the MSL lint.
import { type AddressSpace, SPACES } from "./address_spaces.ts";
import type { Token } from "./lexer.ts";
import type { Lexed } from "./source.ts";
import { matching, templateEnd } from "./tokens.ts";

export type { AddressSpace };
const QUALIFIERS = new Set(["const", "volatile", "restrict", "__restrict", "typename", "struct", "metal"]);

/** One parameter of a function. `baseType` is the type without qualifiers, `*` or `&` (e.g. "half4"). */
export interface ParamDecl {
  name: string;
  baseType: string;
  addressSpace: AddressSpace | null;
  pointer: boolean;
  reference: boolean;
  attrs: string[];
  line: number;
  from: number;
  to: number;
}

/** A function definition, prototype or explicit instantiation found at file scope. */
export interface FuncDecl {
  name: string;
  file: string;
  lexed: Lexed;
  line: number;
  kernel: boolean;
  /** Template parameter names in order; `type` true for `typename T`/`class T`. Null if not a template. */
  templateParams: { name: string; type: boolean }[] | null;
  /** For an explicit instantiation `name<half, 64>(...)`: the argument texts. */
  templateArgs: string[] | null;
  hostName: string | null;
  params: ParamDecl[];
  /** Token indices of the body's `{` and `}`, or null for a prototype/instantiation. */
  body: [number, number] | null;
}

function splitTopLevel(tokens: Token[], from: number, to: number, sep = ","): [number, number][] {
  const parts: [number, number][] = [];
  let start = from;
  for (let i = from; i < to; i++) {
    const t = tokens[i].text;
    if (t === "(" || t === "[" || t === "{") i = matching(tokens, i);
    else if (t === "<") {
      const e = templateEnd(tokens, i);
      if (e > 0) i = e - 1;
    } else if (t === sep) {
      parts.push([start, i]);
      start = i + 1;
    }
  }
  if (to > start) parts.push([start, to]);
  return parts;
}

/** Parses one parameter from tokens [from, to). */
export function parseParam(tokens: Token[], from: number, to: number): ParamDecl {
  const attrs: string[] = [];
  const rest: Token[] = [];
  for (let i = from; i < to; i++) {
    if (tokens[i].text === "[" && tokens[i + 1]?.text === "[") {
      const close = matching(tokens, i);
      attrs.push(tokens.slice(i + 2, close - 1).map((t) => t.text).join(""));
      i = close;
      continue;
    }
    if (tokens[i].text === "=") break; // default argument
    rest.push(tokens[i]);
  }
  let addressSpace: AddressSpace | null = null;
  let pointer = false;
  let reference = false;
  const typeParts: string[] = [];
  let name = "";
  for (let k = 0; k < rest.length; k++) {
    const t = rest[k].text;
    if (SPACES.has(t)) addressSpace = (t.startsWith("threadgroup") ? "threadgroup" : t) as AddressSpace;
    else if (t === "*") pointer = true;
    else if (t === "&" || t === "&&") reference = true;
    else if (QUALIFIERS.has(t) || t === "::") continue;
    else if (k === rest.length - 1 && rest[k].kind === "ident" && typeParts.length > 0) name = t;
    else typeParts.push(t);
  }
  return {
    name,
    baseType: typeParts.join(""),
    addressSpace,
    pointer,
    reference,
    attrs,
    line: tokens[from]?.line ?? 0,
    from,
    to,
  };
}

function parseTemplateParams(tokens: Token[], open: number, end: number): { name: string; type: boolean }[] {
  return splitTopLevel(tokens, open + 1, end - 1).map(([a, b]) => {
    const first = tokens[a]?.text;
    let last = b - 1;
    for (let k = a; k < b; k++) if (tokens[k].text === "=") (last = k - 1, k = b);
    return { name: tokens[last]?.text ?? "", type: first === "typename" || first === "class" };
  });
}

/** Finds every file-scope function (kernel or helper), prototype and explicit instantiation. */
export function findFunctions(lexed: Lexed, file: string): FuncDecl[] {
  const tokens = lexed.tokens;
  const out: FuncDecl[] = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i].text;
    if (t === "namespace") {
      // `namespace x {` : keep scanning inside; the closing brace is skipped as a stray token.
      while (i < tokens.length && tokens[i].text !== "{" && tokens[i].text !== ";") i++;
      i++;
      continue;
    }
    if (t === "}" || t === ";") {
      i++;
      continue;
    }
    // One declaration: up to `;` or a function body.
    const start = i;
    let templateParams: FuncDecl["templateParams"] = null;
    let lastParen = -1;
    let nameIdx = -1;
    let templateArgs: string[] | null = null;
    let body: [number, number] | null = null;
    let isRecord = false;
    let j = i;
    for (; j < tokens.length; j++) {
      const x = tokens[j];
      if (x.text === "template" && tokens[j + 1]?.text === "<") {
        const e = templateEnd(tokens, j + 1);
        if (e > 0) {
          templateParams = parseTemplateParams(tokens, j + 1, e);
          j = e - 1;
        }
        continue;
      }
      if (x.text === "struct" || x.text === "class" || x.text === "enum" || x.text === "union") {
        isRecord = true;
      }
      if (x.text === "<" && lastParen < 0 && tokens[j - 1]?.kind === "ident") {
        const e = templateEnd(tokens, j);
        if (e > 0 && tokens[e]?.text === "(") {
          templateArgs = splitTopLevel(tokens, j + 1, e - 1).map(([a, b]) =>
            tokens.slice(a, b).map((q) => q.text).join(" ")
          );
          j = e - 1;
        }
        continue;
      }
      if (x.text === "[") {
        j = matching(tokens, j);
        continue;
      }
      if (x.text === "(") {
        if (lastParen < 0) {
          let k = j - 1;
          if (tokens[k]?.text === ">") {
            // name<...>( : walk back over the template argument list
            let depth = 0;
            for (; k >= start; k--) {
              if (tokens[k].text === ">") depth++;
              else if (tokens[k].text === "<" && --depth === 0) break;
            }
            k--;
          }
          nameIdx = k;
          lastParen = j;
        }
        j = matching(tokens, j);
        continue;
      }
      if (x.text === "=" && lastParen < 0) {
        // variable with initializer: skip to `;`
        while (j < tokens.length && tokens[j].text !== ";") {
          if (tokens[j].text === "{" || tokens[j].text === "(") j = matching(tokens, j);
          j++;
        }
        break;
      }
      if (x.text === "{") {
        const close = matching(tokens, j);
        if (lastParen >= 0 && !isRecord) body = [j, close];
        j = close;
        if (isRecord) {
          while (j < tokens.length && tokens[j].text !== ";") j++;
        }
        break;
      }
      if (x.text === ";") break;
    }
    if (lastParen >= 0 && !isRecord && nameIdx >= start && tokens[nameIdx].kind === "ident") {
      const declText = tokens.slice(start, lastParen);
      const attrs = declText.map((q) => q.text).join(" ");
      const host = /host_name\s*\(\s*"([^"]*)"/.exec(
        tokens.slice(start, lastParen).map((q) => q.kind === "string" ? q.text : q.text).join(" "),
      );
      const close = matching(tokens, lastParen);
      out.push({
        name: tokens[nameIdx].text,
        file,
        lexed,
        line: tokens[nameIdx].line,
        kernel: /(^|\s)kernel(\s|$)/.test(attrs),
        templateParams,
        templateArgs,
        hostName: host ? host[1] : null,
        params: splitTopLevel(tokens, lastParen + 1, close).map(([a, b]) => parseParam(tokens, a, b))
          .filter((p) => p.baseType !== "void" || p.pointer),
        body,
      });
    }
    i = Math.max(j + 1, start + 1);
  }
  return out;
}

/** Calls made inside [from, to): callee name and the token index of the name. */
export function findCalls(tokens: Token[], from: number, to: number): { name: string; at: number }[] {
  const calls: { name: string; at: number }[] = [];
  for (let i = from; i < to; i++) {
    const t = tokens[i];
    if (t.kind !== "ident" || tokens[i - 1]?.text === "." || tokens[i - 1]?.text === "->") continue;
    let k = i + 1;
    if (tokens[k]?.text === "<") {
      const e = templateEnd(tokens, k);
      if (e < 0) continue;
      k = e;
    }
    if (tokens[k]?.text === "(") calls.push({ name: t.text, at: i });
  }
  return calls;
}
