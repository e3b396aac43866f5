// Expression and statement parser for MSL function bodies, just deep enough for the memory audit:
// it keeps token positions so each access can be reported at its .metal line.
import type { Token } from "../msl/lexer.ts";
import { matching, templateEnd } from "../msl/tokens.ts";
import { ASSIGN, BIN_PREC, DECL_QUALS, type Expr, type Stmt, TYPE_WORDS } from "./memory_syntax.ts";

export type { Expr, Stmt };

/** Parses tokens of one function body. Unknown constructs become `other`/`nop`, never errors. */
export class BodyParser {
  constructor(private t: Token[], private pos: number, private end: number, private typeNames: Set<string>) {}

  private peek(o = 0): string {
    return this.pos + o < this.end ? this.t[this.pos + o].text : "";
  }

  private isTypeName(s: string): boolean {
    return TYPE_WORDS.test(s) || this.typeNames.has(s) ||
      /^(packed_)?\w+[234](x[234])?$/.test(s) &&
        TYPE_WORDS.test(s.replace(/^packed_/, "").replace(/[234](x[234])?$/, ""));
  }

  /** Parses statements until the end of the range. */
  block(): Stmt {
    const body: Stmt[] = [];
    while (this.pos < this.end) body.push(this.stmt());
    return { k: "block", body };
  }

  stmt(): Stmt {
    const p = this.peek();
    if (p === "{") {
      const close = matching(this.t, this.pos);
      const inner = new BodyParser(this.t, this.pos + 1, Math.min(close, this.end), this.typeNames).block();
      this.pos = close + 1;
      return inner;
    }
    if (p === ";") return (this.pos++, { k: "nop" });
    if (p === "if") {
      this.pos++;
      const c = this.parenExpr();
      const a = this.stmt();
      let b: Stmt | null = null;
      if (this.peek() === "else") (this.pos++, b = this.stmt());
      return { k: "if", c, a, b };
    }
    if (p === "for") {
      const at = this.pos++;
      const close = matching(this.t, this.pos);
      const head = new BodyParser(this.t, this.pos + 1, close, this.typeNames);
      const init = head.peek() === ";" ? (head.pos++, null) : head.stmt();
      const c = head.peek() === ";" ? null : head.expr();
      if (head.peek() === ";") head.pos++;
      const step = head.pos < close ? head.expr() : null;
      this.pos = close + 1;
      return { k: "for", init, c, step, body: this.stmt(), at };
    }
    if (p === "while") {
      const at = this.pos++;
      const c = this.parenExpr();
      return { k: "while", c, body: this.stmt(), at };
    }
    if (p === "do") {
      const at = this.pos++;
      const body = this.stmt();
      if (this.peek() === "while") this.pos++;
      const c = this.parenExpr();
      this.skipSemi();
      return { k: "while", c, body, at };
    }
    if (p === "switch") {
      this.pos++;
      this.parenExpr();
      return this.stmt();
    }
    if (p === "case" || p === "default") {
      while (this.pos < this.end && this.peek() !== ":") this.pos++;
      this.pos++;
      return { k: "nop" };
    }
    if (p === "return") {
      this.pos++;
      const e = this.peek() === ";" ? null : this.expr();
      this.skipSemi();
      return { k: "ret", e };
    }
    if (
      ["break", "continue", "using", "typedef", "static_assert", "goto"].includes(p) ||
      (this.t[this.pos]?.kind === "ident" && this.peek(1) === ":" && this.peek(2) !== ":")
    ) {
      this.skipStatement();
      return { k: "nop" };
    }
    const decl = this.tryDecl();
    if (decl) return decl;
    const e = this.expr();
    this.skipSemi();
    return { k: "expr", e };
  }

  private skipSemi(): void {
    if (this.peek() === ";") this.pos++;
    else this.skipStatement();
  }

  private skipStatement(): void {
    while (this.pos < this.end && this.peek() !== ";") {
      const p = this.peek();
      if (p === "(" || p === "[" || p === "{") this.pos = matching(this.t, this.pos);
      this.pos++;
    }
    this.pos++;
  }

  private parenExpr(): Expr {
    if (this.peek() !== "(") return this.expr();
    const close = matching(this.t, this.pos);
    const e = new BodyParser(this.t, this.pos + 1, close, this.typeNames).expr();
    this.pos = close + 1;
    return e;
  }

  /** `quals* Type[<..>] [*&]* name [= init | {init} | (args) | [n]] (, name ...)* ;` */
  private tryDecl(): Stmt | null {
    const start = this.pos;
    let q = this.pos;
    const type: string[] = [];
    while (DECL_QUALS.has(this.t[q]?.text)) type.push(this.t[q++].text);
    if (this.t[q]?.kind !== "ident" || q >= this.end) return null;
    while (this.t[q + 1]?.text === "::" && this.t[q + 2]?.kind === "ident") q += 2; // metal::float4
    type.push(this.t[q++].text);
    if (this.t[q]?.text === "<") {
      const e = templateEnd(this.t, q);
      if (e < 0) return null;
      for (let k = q; k < e; k++) type.push(this.t[k].text);
      q = e;
    }
    while (["*", "&", "const"].includes(this.t[q]?.text)) type.push(this.t[q++].text);
    const nameTok = this.t[q];
    if (nameTok?.kind !== "ident" || q >= this.end) return null;
    const after = this.t[q + 1]?.text;
    if (!["=", ";", ",", "[", "{", "("].includes(after)) return null;
    // `f(x)` and `a * b` never get here: a declaration needs `Type name` (two names in a row or a `*`).
    this.pos = q;
    const vars: { name: string; init: Expr | null; array: boolean; at: number }[] = [];
    while (this.pos < this.end) {
      while (this.peek() === "*" || this.peek() === "&") this.pos++;
      const at = this.pos;
      const name = this.peek();
      this.pos++;
      let array = false;
      let init: Expr | null = null;
      while (this.peek() === "[") {
        array = true;
        this.pos = matching(this.t, this.pos) + 1;
      }
      if (this.peek() === "[" && this.peek(1) === "[") this.pos = matching(this.t, this.pos) + 1; // attribute
      if (this.peek() === "=") {
        this.pos++;
        init = this.assign();
      } else if (this.peek() === "{" || this.peek() === "(") {
        const open = this.pos;
        const close = matching(this.t, open);
        const args = this.argList(open, close);
        this.pos = close + 1;
        init = args.length === 1 ? args[0] : { k: "list", items: args, at: open };
      }
      vars.push({ name, init, array, at });
      if (this.peek() === ",") {
        this.pos++;
        continue;
      }
      break;
    }
    if (this.pos === start) return null;
    this.skipSemi();
    return { k: "decl", type, vars };
  }

  private argList(open: number, close: number): Expr[] {
    const args: Expr[] = [];
    const p = new BodyParser(this.t, open + 1, close, this.typeNames);
    while (p.pos < close) {
      args.push(p.assign());
      if (p.peek() === ",") p.pos++;
      else if (p.pos < close) p.pos++; // unparsable leftover: skip a token
    }
    return args;
  }

  expr(): Expr {
    let e = this.assign();
    while (this.peek() === ",") {
      this.pos++;
      const r = this.assign();
      e = { k: "bin", op: ",", l: e, r, at: r.at };
    }
    return e;
  }

  private assign(): Expr {
    const l = this.ternary();
    const op = this.peek();
    if (ASSIGN.has(op)) {
      const at = this.pos++;
      return { k: "asg", op, l, r: this.assign(), at };
    }
    return l;
  }

  private ternary(): Expr {
    const c = this.binary(1);
    if (this.peek() !== "?") return c;
    const at = this.pos++;
    const a = this.assign();
    if (this.peek() === ":") this.pos++;
    return { k: "tern", c, a, b: this.assign(), at };
  }

  private binary(min: number): Expr {
    let l = this.unary();
    for (;;) {
      const op = this.peek();
      const prec = BIN_PREC[op];
      if (prec === undefined || prec < min) return l;
      const at = this.pos++;
      const r = this.binary(prec + 1);
      l = { k: "bin", op, l, r, at };
    }
  }

  private unary(): Expr {
    const p = this.peek();
    const at = this.pos;
    if (["-", "+", "!", "~", "*", "&", "++", "--"].includes(p)) {
      this.pos++;
      return { k: "un", op: p, e: this.unary(), at };
    }
    if (p === "sizeof") {
      this.pos++;
      if (this.peek() === "(") this.pos = matching(this.t, this.pos) + 1;
      return { k: "other", at };
    }
    if (p === "(") {
      // C cast: `(device float4*)x`, `(uint)x`
      const close = matching(this.t, this.pos);
      const inner = this.t.slice(this.pos + 1, close).map((x) => x.text);
      const last = inner[inner.length - 1];
      const typeLike = inner.length > 0 && (last === "*" || last === "&" ||
        (inner.every((s) => DECL_QUALS.has(s) || this.isTypeName(s)) &&
          inner.some((s) => this.isTypeName(s))));
      if (
        typeLike && close + 1 < this.end && !/^[)\];,?:]$/.test(this.t[close + 1].text) &&
        !(this.t[close + 1].text in BIN_PREC)
      ) {
        this.pos = close + 1;
        return { k: "cast", type: inner, e: this.unary(), at };
      }
    }
    return this.postfix(this.primary());
  }

  private postfix(e: Expr): Expr {
    for (;;) {
      const p = this.peek();
      const at = this.pos;
      if (p === "[") {
        const close = matching(this.t, this.pos);
        const i = new BodyParser(this.t, this.pos + 1, close, this.typeNames).expr();
        this.pos = close + 1;
        e = { k: "idx", o: e, i, at, end: close };
      } else if (p === "(") {
        const close = matching(this.t, this.pos);
        const args = this.argList(this.pos, close);
        this.pos = close + 1;
        e = { k: "call", f: e, targs: [], args, at };
      } else if (p === "." || p === "->") {
        this.pos++;
        const name = this.peek();
        this.pos++;
        e = { k: "mem", o: e, name, arrow: p === "->", at };
      } else if (p === "++" || p === "--") {
        this.pos++;
        e = { k: "post", op: p, e, at };
      } else return e;
    }
  }

  private primary(): Expr {
    const tok = this.t[this.pos];
    const at = this.pos;
    if (!tok || this.pos >= this.end) return { k: "other", at };
    if (tok.text === "(") {
      const close = matching(this.t, this.pos);
      const e = new BodyParser(this.t, this.pos + 1, close, this.typeNames).expr();
      this.pos = close + 1;
      return e;
    }
    if (tok.text === "{") {
      const close = matching(this.t, this.pos);
      const items = this.argList(this.pos, close);
      this.pos = close + 1;
      return { k: "list", items, at };
    }
    if (tok.kind === "number") {
      this.pos++;
      const s = tok.text.replace(/[uUlLhHfF]+$/, "");
      const v = /^0x/i.test(s) ? parseInt(s, 16) : Number(s);
      return { k: "num", v: Number.isFinite(v) ? v : NaN, at };
    }
    if (tok.kind === "ident") {
      this.pos++;
      let name = tok.text;
      while (this.peek() === "::" && this.t[this.pos + 1]?.kind === "ident") {
        name = this.t[this.pos + 1].text; // metal::max -> max
        this.pos += 2;
      }
      if (this.peek() === "<") {
        const e = templateEnd(this.t, this.pos);
        if (e > 0 && ["(", "{", "::"].includes(this.t[e]?.text ?? "")) {
          const targs = this.t.slice(this.pos + 1, e - 1).map((x) => x.text);
          this.pos = e;
          if (this.peek() === "(" || this.peek() === "{") {
            const close = matching(this.t, this.pos);
            const args = this.argList(this.pos, close);
            this.pos = close + 1;
            if (/_cast$/.test(name)) return { k: "cast", type: targs, e: args[0] ?? { k: "other", at }, at };
            return { k: "call", f: { k: "id", name, at }, targs, args, at };
          }
        }
      }
      if (this.peek() === "{" && this.isTypeName(name)) {
        const close = matching(this.t, this.pos);
        const args = this.argList(this.pos, close);
        this.pos = close + 1;
        return { k: "call", f: { k: "id", name, at }, targs: [], args, at };
      }
      return { k: "id", name, at };
    }
    if (tok.kind === "string" || tok.kind === "char") {
      this.pos++;
      return { k: "other", at };
    }
    this.pos++; // stray punctuation
    return { k: "other", at };
  }
}
