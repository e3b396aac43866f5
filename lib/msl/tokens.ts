// Token-level helpers over the lexer's tokens (lexer.ts): bracket and template-list matching and turning
// token runs back into readable text. Shared by the declaration finders, the audit and the lint.
import type { Token } from "./lexer.ts";

/** Index of the token closing the bracket opened at `open` (`(`, `[`, `{`), or tokens.length. */
export function matching(tokens: Token[], open: number): number {
  const o = tokens[open].text;
  const close = o === "(" ? ")" : o === "[" ? "]" : "}";
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i].text;
    if (t === o) depth++;
    else if (t === close && --depth === 0) return i;
  }
  return tokens.length;
}

/** Index just past the `>` closing template arguments opened at `open` (`<`), or -1 if it is no
 * template argument list (a comparison). `>>` counts as two closers. */
export function templateEnd(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i].text;
    if (t === "<") depth++;
    else if (t === ">") depth--;
    else if (t === ">>") depth -= 2;
    else if (t === "(" || t === "[") i = matching(tokens, i);
    else if (t === ";" || t === "{" || t === "}" || t === "&&" || t === "||" || t === ")" || t === "]") {
      return -1;
    }
    if (depth <= 0) return depth === 0 ? i + 1 : -1;
  }
  return -1;
}

/** Reassembles tokens as readable source text (for report expressions). */
export function tokensText(tokens: Token[], from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) {
    const t = tokens[i].text;
    const prev = i > from ? tokens[i - 1] : undefined;
    const tight = !prev || /^[.([\]]$|^->$|^::$/.test(t) || /^[.([]$|^->$|^::$/.test(prev.text) ||
      t === ")" || t === "," || (t === "[" && prev.kind === "ident");
    s += (tight ? "" : " ") + t;
  }
  return s;
}

/** Splits template-argument tokens at top-level commas: ["half", ",", "4"] -> ["half", "4"]. */
export function splitArgs(targs: string[]): string[] {
  const out: string[] = [];
  let cur = "";
  let depth = 0;
  for (const t of targs) {
    if (t === "<") depth++;
    if (t === ">") depth--;
    if (t === "," && depth === 0) (out.push(cur), cur = "");
    else cur += (cur ? " " : "") + t;
  }
  if (cur) out.push(cur);
  return out;
}

/** The source text of one line, rebuilt from its tokens. */
export function lineText(tokens: Token[], line: number): string {
  const a = tokens.findIndex((t) => t.line === line);
  let b = a;
  while (b >= 0 && b < tokens.length && tokens[b].line === line) b++;
  return a < 0 ? "" : tokensText(tokens, a, b);
}
