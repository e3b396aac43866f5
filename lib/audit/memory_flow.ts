// Abstract interpretation of one kernel for the memory audit: walks the body (inlining helper calls),
// tracks how each local depends on the lane, loop counters and loaded data, and records every
// device/constant buffer access with its lane stride in bytes (AccessRecorder, memory_access.ts).
import { BodyParser, type Expr, type Stmt } from "./memory_ast.ts";
import { AccessRecorder, type Frame, type RawAccess } from "./memory_access.ts";
import type { FuncDecl } from "../msl/decls.ts";
import { lex } from "../msl/source.ts";
import { splitArgs } from "../msl/tokens.ts";
import { kernelParamValue } from "./memory_classify.ts";
import * as V from "./memory_values.ts";

export type { Classification } from "./memory_classify.ts";
export type { RawAccess } from "./memory_access.ts";

/** Everything shared across kernels: helper functions, type names, object-like macros. */
export interface Program {
  helpers: Map<string, FuncDecl[]>;
  typeNames: Set<string>;
  macros: Map<string, string>;
}

const UNIFORM_FNS =
  /^(simd_(sum|max|min|product|and|or|xor|broadcast|broadcast_first|all|any|ballot)|quad_broadcast|threadgroup_barrier|simdgroup_barrier)$/;
const LINEAR_FNS =
  /^(min|max|clamp|select|as_type|int|uint|short|ushort|long|ulong|float|half|bfloat|char|uchar|size_t)$/;

const astCache = new WeakMap<FuncDecl, Stmt>();

export class KernelAnalyzer extends AccessRecorder {
  private branch = 0;
  private stack: FuncDecl[] = [];
  private macroCache = new Map<string, V.Num>();

  constructor(private prog: Program) {
    super();
  }

  /** Analyzes kernel `def`, with parameter types and template arguments from `inst` when given. */
  run(def: FuncDecl, inst: FuncDecl | null): void {
    const fr = this.frame(def, inst?.templateArgs ?? null, "");
    def.params.forEach((p, i) => {
      const typed = inst?.params[i] ?? p;
      fr.env.set(p.name, {
        v: kernelParamValue(p, typed, this.subst(typed.baseType, fr)),
        depth: 0,
        branch: 0,
      });
    });
    this.exec(this.ast(def), fr);
  }

  private frame(fn: FuncDecl, targs: string[] | null, chain: string): Frame {
    const fr: Frame = { fn, env: new Map(), types: new Map(), consts: new Map(), rets: [], chain };
    (fn.templateParams ?? []).forEach((tp, i) => {
      const arg = targs?.[i];
      if (arg === undefined) return;
      if (tp.type) fr.types.set(tp.name, arg.replace(/\s/g, ""));
      else {
        const c = this.constText(arg).c;
        if (c !== undefined) fr.consts.set(tp.name, c);
      }
    });
    return fr;
  }

  private ast(fn: FuncDecl): Stmt {
    let s = astCache.get(fn);
    if (!s) {
      const [a, b] = fn.body!;
      s = new BodyParser(fn.lexed.tokens, a + 1, b, this.prog.typeNames).block();
      astCache.set(fn, s);
    }
    return s;
  }

  private constText(text: string): V.Num {
    const lx = lex(text);
    const e = new BodyParser(lx.tokens, 0, lx.tokens.length, this.prog.typeNames).expr();
    const fn = { lexed: lx, file: "", name: "#macro" } as FuncDecl;
    return V.toNum(this.eval(e, this.frame(fn, null, "#")));
  }

  // ---- statements ----
  private exec(s: Stmt, fr: Frame): void {
    switch (s.k) {
      case "block":
        for (const x of s.body) this.exec(x, fr);
        return;
      case "decl": {
        const tg = s.type.includes("threadgroup");
        for (const v of s.vars) {
          const val = tg ? V.dataVal() : v.init ? this.eval(v.init, fr) : V.uni();
          fr.env.set(v.name, { v: val, depth: this.loops.length, branch: this.branch });
        }
        return;
      }
      case "expr":
        this.eval(s.e, fr);
        return;
      case "if":
        this.eval(s.c, fr);
        this.branch++;
        this.exec(s.a, fr);
        if (s.b) this.exec(s.b, fr);
        this.branch--;
        return;
      case "for":
        return this.loop(s.init, s.c, s.step, s.body, s.at, fr);
      case "while":
        return this.loop(null, s.c, null, s.body, s.at, fr);
      case "ret":
        if (s.e) fr.rets.push(this.eval(s.e, fr));
        return;
      case "nop":
        return;
    }
  }

  // Loop counters become symbols: `for (k = k0; ...; k += s)` gives k = k0 + 1*[k], step s. The body
  // runs twice so values carried around the loop reach their fixpoint before accesses are final.
  private loop(
    init: Stmt | null,
    c: Expr | null,
    step: Expr | null,
    body: Stmt,
    at: number,
    fr: Frame,
  ): void {
    if (init) this.exec(init, fr);
    const id = `${fr.chain}${fr.fn.file}@${at}`;
    let counter: string | null = null;
    if (init?.k === "decl" && init.vars.length === 1) counter = init.vars[0].name;
    else if (init?.k === "expr" && init.e.k === "asg" && init.e.l.k === "id") counter = init.e.l.name;
    let stepC: V.Coef | null = null;
    if (step && counter) {
      if ((step.k === "post" || step.k === "un") && step.e.k === "id" && step.e.name === counter) {
        stepC = step.op === "--" ? -1 : step.op === "++" ? 1 : null;
      } else if (step.k === "asg" && step.l.k === "id" && step.l.name === counter) {
        const r = V.toNum(this.eval(step.r, fr));
        stepC = step.op === "+="
          ? (r.c ?? "sym")
          : step.op === "-="
          ? (r.c !== undefined ? -r.c : "sym")
          : "sym";
      }
    }
    this.loops.push({ id, step: stepC ?? "sym" });
    if (counter && stepC !== null) {
      const e = fr.env.get(counter);
      const base = e ? V.toNum(e.v) : V.uni();
      const sym: V.Num = { ...V.uni(), loops: new Map([[id, 1]]) };
      fr.env.set(counter, {
        v: V.add({ ...base, c: undefined }, sym),
        depth: this.loops.length,
        branch: this.branch,
      });
    }
    for (let pass = 0; pass < 2; pass++) {
      if (c) this.eval(c, fr);
      this.exec(body, fr);
      if (step && stepC === null) this.eval(step, fr);
    }
    this.loops.pop();
  }

  // ---- expressions ----
  private eval(e: Expr, fr: Frame): V.Val {
    switch (e.k) {
      case "num":
        return Number.isNaN(e.v) ? V.uni() : V.konst(e.v);
      case "id":
        return this.lookup(e.name, fr);
      case "un": {
        if (e.op === "*") return this.deref(e.e, fr, "load", e.at);
        if (e.op === "&") return this.address(e.e, fr);
        if (e.op === "++" || e.op === "--") {
          return this.assign(e.e, e.op === "++" ? "+=" : "-=", V.konst(1), fr);
        }
        const v = V.toNum(this.eval(e.e, fr));
        if (e.op === "-") return { ...V.scale(v, -1), c: v.c === undefined ? undefined : -v.c };
        return e.op === "+" ? v : V.opaque([v]);
      }
      case "post":
        return this.assign(e.e, e.op === "++" ? "+=" : "-=", V.konst(1), fr);
      case "bin": {
        const l = this.eval(e.l, fr);
        const r = this.eval(e.r, fr);
        return this.binop(e.op, l, r, fr);
      }
      case "asg":
        return this.assign(e.l, e.op, this.eval(e.r, fr), fr);
      case "tern": {
        const c = V.toNum(this.eval(e.c, fr));
        const v = V.joinVal(this.eval(e.a, fr), this.eval(e.b, fr));
        if (v.kind !== "num") return v;
        const sel = c.lane !== 0 || c.laneNL;
        return { ...v, laneNL: v.laneNL || (sel && v.lane === 0), data: v.data || c.data };
      }
      case "call":
        return this.call(e, fr);
      case "idx": {
        const o = this.eval(e.o, fr);
        const i = V.toNum(this.eval(e.i, fr));
        if (o.kind === "ptr") return this.access(this.offset(o, i, fr), o, "load", e, fr);
        return o.kind === "vec" ? V.toNum(o) : o;
      }
      case "mem": {
        const o = this.eval(e.o, fr);
        if (o.kind === "ptr") return this.access(o.off, o, "load", e, fr);
        if (o.kind === "vec") {
          const comps = [...e.name].map((ch) =>
            o.comps[{ r: "x", g: "y", b: "z", a: "w" }[ch] ?? ch] ?? V.uni()
          );
          return comps.length === 1 ? comps[0] : comps.reduce(V.join);
        }
        return o;
      }
      case "cast": {
        const v = this.eval(e.e, fr);
        if (!e.type.includes("*") || v.kind !== "ptr") return v;
        const base = e.type.filter((t) =>
          !/^(const|device|constant|thread|threadgroup|volatile|\*)$/.test(t)
        );
        return { ...v, elem: this.subst(base.join(""), fr) };
      }
      case "list":
        return e.items.map((x) => this.eval(x, fr)).reduce(V.joinVal, V.uni());
      case "other":
        return V.uni();
    }
  }

  private lookup(name: string, fr: Frame): V.Val {
    const e = fr.env.get(name);
    if (e) return e.v;
    const c = fr.consts.get(name);
    if (c !== undefined) return V.konst(c);
    if (name === "true" || name === "false") return V.konst(name === "true" ? 1 : 0);
    const m = this.prog.macros.get(name);
    if (m !== undefined) {
      if (!this.macroCache.has(name)) {
        this.macroCache.set(name, V.uni()); // guards self-referencing macros
        this.macroCache.set(name, this.constText(m));
      }
      return this.macroCache.get(name)!;
    }
    return V.uni();
  }

  private offset(p: V.Ptr, i: V.Num, fr: Frame): V.Num {
    const b = this.bytes(p.elem, fr) ?? 1;
    return V.add(p.off, V.scale({ ...i, c: undefined }, b));
  }

  private binop(op: string, l: V.Val, r: V.Val, fr: Frame): V.Val {
    if ((op === "+" || op === "-") && l.kind === "ptr") {
      return { ...l, off: this.offset(l, op === "-" ? V.scale(V.toNum(r), -1) : V.toNum(r), fr) };
    }
    if (op === "+" && r.kind === "ptr") return { ...r, off: this.offset(r, V.toNum(l), fr) };
    return op === "," ? r : V.arith(op, V.toNum(l), V.toNum(r));
  }

  private assign(l: Expr, op: string, r: V.Val, fr: Frame): V.Val {
    if (l.k === "id") {
      const e = fr.env.get(l.name);
      const old = e?.v ?? V.uni();
      let v = op === "=" ? r : this.binop(op.slice(0, -1), old, r, fr);
      const depth = e?.depth ?? 0;
      if (op !== "=" && this.loops.length > depth && (op === "+=" || op === "-=")) {
        // Accumulated across iterations of the loop that encloses this update but not the variable.
        const sym: V.Num = { ...V.uni(), loops: new Map([[this.loops[depth].id, 1]]) };
        const inc = V.mul(V.toNum(r), sym);
        v = this.binop(op.slice(0, -1), old, inc, fr);
      }
      const joinOld = e !== undefined &&
        (this.loops.length > e.depth || this.branch > e.branch || op !== "=");
      fr.env.set(l.name, { v: joinOld ? V.joinVal(old, v) : v, depth, branch: e?.branch ?? 0 });
      return v;
    }
    const kind = op === "=" ? "store" : "load+store";
    if (l.k === "idx") {
      const o = this.eval(l.o, fr);
      const i = V.toNum(this.eval(l.i, fr));
      if (o.kind === "ptr") this.access(this.offset(o, i, fr), o, kind, l, fr);
      else if (l.o.k === "id") this.assign(l.o, "|=", r, fr); // element of a local array: join into it
      return r;
    }
    if (l.k === "mem") {
      const o = this.eval(l.o, fr);
      if (o.kind === "ptr") this.access(o.off, o, kind, l, fr);
      return r;
    }
    if (l.k === "un" && l.op === "*") this.deref(l.e, fr, kind, l.at);
    return r;
  }

  private deref(e: Expr, fr: Frame, kind: RawAccess["kind"], at: number): V.Val {
    const p = this.eval(e, fr);
    if (p.kind !== "ptr") return V.toNum(p);
    return this.access(p.off, p, kind, { k: "other", at }, fr);
  }

  private address(e: Expr, fr: Frame): V.Val {
    if (e.k === "idx") {
      const o = this.eval(e.o, fr);
      const i = V.toNum(this.eval(e.i, fr));
      if (o.kind === "ptr") return { ...o, off: this.offset(o, i, fr) };
      return o;
    }
    return this.eval(e, fr);
  }

  private call(e: Extract<Expr, { k: "call" }>, fr: Frame): V.Val {
    const name = e.f.k === "id" ? e.f.name : null;
    if (name === null) this.eval(e.f, fr);
    const args = e.args.map((a) => this.eval(a, fr));
    if (name === null) return V.opaque(args.map(V.toNum));
    const helper = this.helper(name, args.length);
    if (helper) return this.inline(helper, e, args, fr);
    if (name.startsWith("atomic_") && args[0]?.kind === "ptr") {
      return this.access(
        args[0].off,
        args[0],
        name.includes("load") ? "load" : name.includes("store") ? "store" : "load+store",
        e,
        fr,
      );
    }
    if ((name === "simdgroup_load" || name === "simdgroup_store") && args[1]?.kind === "ptr") {
      this.blockAccess(
        args[1],
        name === "simdgroup_load" ? "load" : "store",
        V.toNum(args[2] ?? V.konst(8)),
        e,
        fr,
      );
      return V.uni();
    }
    const nums = args.map(V.toNum);
    if (UNIFORM_FNS.test(name)) return V.uni();
    if (LINEAR_FNS.test(name) || this.prog.typeNames.has(name) || V.sizeOf(name) !== null) {
      return nums.reduce(V.join, V.uni());
    }
    return V.opaque(nums);
  }

  private helper(name: string, arity: number): FuncDecl | null {
    const cands = (this.prog.helpers.get(name) ?? []).filter((f) => f.body !== null);
    return cands.find((f) => f.params.length === arity) ?? cands[0] ?? null;
  }

  private inline(fn: FuncDecl, e: Extract<Expr, { k: "call" }>, args: V.Val[], fr: Frame): V.Val {
    if (this.stack.includes(fn) || this.stack.length >= 8) return V.opaque(args.map(V.toNum));
    const targs = e.targs.length > 0 ? splitArgs(e.targs).map((t) => this.substConsts(t, fr)) : null;
    const callee = this.frame(fn, targs, `${fr.chain}${fr.fn.file}@${e.at}>`);
    fn.params.forEach((p, i) => {
      const a = args[i] ?? V.uni();
      const v = a.kind === "ptr" && p.pointer && !/^[A-Z]\w*$/.test(p.baseType)
        ? { ...a, elem: this.subst(p.baseType, callee) }
        : a;
      callee.env.set(p.name, { v, depth: this.loops.length, branch: this.branch });
    });
    this.stack.push(fn);
    this.exec(this.ast(fn), callee);
    this.stack.pop();
    return callee.rets.length ? callee.rets.reduce(V.joinVal) : V.uni();
  }

  // Template arguments at a call site name the caller's template parameters (`gemm_zero<FMT>`).
  private substConsts(t: string, fr: Frame): string {
    const c = fr.consts.get(t.trim());
    return c !== undefined ? String(c) : fr.types.get(t.trim()) ?? t;
  }
}
