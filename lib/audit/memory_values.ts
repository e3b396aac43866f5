// Abstract values of the memory audit. An index is tracked as an affine form in the lane index: its
// coefficient per lane step (across consecutive lanes of a simdgroup), per loop counter, and whether a
// value loaded from memory flows in (data-dependent). Offsets behind pointers are kept in bytes.

/** A coefficient: a known number, or "sym" for a run-time (lane-uniform) factor such as `K`. */
export type Coef = number | "sym";

/** A scalar value. Its lane-dependent part is `lane * (L % seg) + hi * floor(L / seg)` for lane L of a
 * simdgroup (seg = 32: plainly `lane * L`); `laneNL` marks lane use that is not of that form. */
export interface Num {
  kind: "num";
  c?: number;
  lane: Coef;
  seg: number;
  hi: Coef;
  laneNL: boolean;
  loops: Map<string, Coef>;
  data: boolean;
}

/** The buffer behind a pointer: a kernel `[[buffer(i)]]` parameter. */
export interface BufInfo {
  name: string;
  index: number;
  space: "device" | "constant";
  elem: string;
}

/** A pointer into a device/constant buffer; `off` is the byte offset from the binding. */
export interface Ptr {
  kind: "ptr";
  buf: BufInfo;
  elem: string;
  off: Num;
}

/** A vector of per-component values (thread-position vectors: x follows the lane, y and z do not). */
export interface Vec {
  kind: "vec";
  comps: Record<string, Num>;
}

export type Val = Num | Ptr | Vec;

export const uni = (): Num => ({
  kind: "num",
  lane: 0,
  seg: 32,
  hi: 0,
  laneNL: false,
  loops: new Map(),
  data: false,
});
export const konst = (c: number): Num => ({ ...uni(), c });
export const laneVal = (): Num => ({ ...uni(), lane: 1 });
export const dataVal = (): Num => ({ ...uni(), data: true });

export function addCoef(x: Coef, y: Coef): Coef {
  if (x === 0) return y;
  if (y === 0) return x;
  return typeof x === "number" && typeof y === "number" ? x + y : "sym";
}

export function scaleCoef(x: Coef, s: Coef): Coef {
  if (x === 0 || s === 0) return 0;
  return typeof x === "number" && typeof s === "number" ? x * s : "sym";
}

function joinCoef(x: Coef, y: Coef): Coef {
  if (x === y) return x;
  if (x === 0) return y;
  if (y === 0) return x;
  return "sym";
}

function mergeLoops(
  a: Map<string, Coef>,
  b: Map<string, Coef>,
  f: (x: Coef, y: Coef) => Coef,
): Map<string, Coef> {
  const m = new Map(a);
  for (const [k, v] of b) m.set(k, f(m.get(k) ?? 0, v));
  for (const [k, v] of m) if (v === 0) m.delete(k);
  return m;
}

function fold(a: Num, b: Num, f: (x: number, y: number) => number): number | undefined {
  if (a.c === undefined || b.c === undefined) return undefined;
  const r = f(a.c, b.c);
  return Number.isFinite(r) ? r : undefined;
}

/** Scales every coefficient by `s` (a known constant or "sym"). */
export function scale(a: Num, s: Coef): Num {
  const loops = new Map<string, Coef>();
  for (const [k, v] of a.loops) loops.set(k, scaleCoef(v, s));
  return {
    kind: "num",
    lane: scaleCoef(a.lane, s),
    seg: a.seg,
    hi: scaleCoef(a.hi, s),
    laneNL: a.laneNL,
    loops,
    data: a.data,
  };
}

const hasLane = (a: Num): boolean => a.lane !== 0 || a.hi !== 0;

// Brings two values to a common run length: a value with longer runs steps by lane * seg per run.
function common(a: Num, b: Num, f: (x: Coef, y: Coef) => Coef): { lane: Coef; seg: number; hi: Coef } {
  if (!hasLane(b)) return { lane: f(a.lane, 0), seg: a.seg, hi: f(a.hi, 0) };
  if (!hasLane(a)) return { lane: f(0, b.lane), seg: b.seg, hi: f(0, b.hi) };
  const seg = Math.min(a.seg, b.seg);
  const hiOf = (x: Num): Coef => x.seg === seg ? x.hi : scaleCoef(x.lane, seg);
  return { lane: f(a.lane, b.lane), seg, hi: seg === 32 ? 0 : f(hiOf(a), hiOf(b)) };
}

export function add(a: Num, b: Num, sign = 1): Num {
  return {
    kind: "num",
    c: fold(a, b, (x, y) => x + sign * y),
    ...common(a, scale(b, sign), addCoef),
    laneNL: a.laneNL || b.laneNL,
    loops: mergeLoops(a.loops, scale(b, sign).loops, addCoef),
    data: a.data || b.data,
  };
}

export function join(a: Num, b: Num): Num {
  return {
    kind: "num",
    c: a.c === b.c ? a.c : undefined,
    ...common(a, b, joinCoef),
    laneNL: a.laneNL || b.laneNL,
    loops: mergeLoops(a.loops, b.loops, joinCoef),
    data: a.data || b.data,
  };
}

const varies = (a: Num): boolean => hasLane(a) || a.laneNL;

export function mul(a: Num, b: Num): Num {
  if (a.c !== undefined) return { ...scale(b, a.c), c: fold(a, b, (x, y) => x * y) };
  if (b.c !== undefined) return scale(a, b.c);
  // Product of two run-time values: coefficients become symbolic; lane x lane is non-affine.
  const r = join(scale(a, "sym"), scale(b, "sym"));
  if (varies(a) && varies(b)) r.laneNL = true;
  return r;
}

/** `a / b` and `a >> b`. A run-time divisor is assumed large (rows of a matrix), so lane/K is taken
 * as lane-uniform across a simdgroup: `(tid / N) * N + tid % N` stays coalesced. */
export function div(a: Num, b: Num, shift = false): Num {
  if (b.c !== undefined && b.c !== 0) {
    const d = shift ? 2 ** b.c : b.c;
    const c = fold(a, b, (x, y) => shift ? x >> y : Math.trunc(x / y));
    const q = runOf(a, d);
    // Simdgroups start at multiples of 32 lanes, so L / q is uniform for q % 32 == 0 and steps once
    // per run of q lanes for q dividing 32.
    if (q !== null && q % 32 === 0) return { ...scale(a, 1 / d), c, lane: 0, seg: 32, hi: 0 };
    if (q !== null && 32 % q === 0) return { ...scale(a, 1 / d), c, lane: 0, seg: q, hi: 1 };
    return { ...scale(a, 1 / d), c };
  }
  return { ...uni(), data: a.data || b.data, laneNL: varies(b), loops: scale(a, "sym").loops };
}

/** `a % b` and `a & mask`: the lane keeps stepping by its coefficient inside each period. */
export function mod(a: Num, b: Num, f: (x: number, y: number) => number, period?: number): Num {
  const r = { ...a, c: fold(a, b, f), data: a.data || b.data, laneNL: a.laneNL || varies(b) };
  const q = period === undefined ? null : runOf(a, period);
  if (q !== null && q < 32 && 32 % q === 0) return { ...r, seg: q, hi: 0 };
  return r;
}

// For a = l * L (plain lane multiple), the number of lanes per period d of l * L; else null.
function runOf(a: Num, d: number): number | null {
  if (a.seg !== 32 || a.hi !== 0 || typeof a.lane !== "number" || a.lane <= 0 || !Number.isInteger(a.lane)) {
    return null;
  }
  const q = d / a.lane;
  return Number.isInteger(q) && q >= 1 ? q : null;
}

/** Comparisons and logic: the result is lane-varying but not affine. */
export function compare(a: Num, b: Num, f: (x: number, y: number) => number): Num {
  return {
    kind: "num",
    c: fold(a, b, f),
    lane: 0,
    seg: 32,
    hi: 0,
    laneNL: varies(a) || varies(b),
    loops: mergeLoops(a.loops, b.loops, joinCoef),
    data: a.data || b.data,
  };
}

/** A non-linear function of lane-varying inputs (abs, sqrt, unknown calls). */
export function opaque(args: Num[]): Num {
  const r = args.reduce(join, uni());
  if (varies(r)) return { ...r, lane: 0, seg: 32, hi: 0, laneNL: true };
  return r;
}

/** The value a load returns: lane-uniform if every lane reads the same address, else per-lane data. */
export function loaded(off: Num): Num {
  return off.data || varies(off) ? dataVal() : uni();
}

export function toNum(v: Val): Num {
  if (v.kind === "num") return v;
  if (v.kind === "vec") return Object.values(v.comps).reduce(join, uni());
  return { ...v.off, c: undefined };
}

export function joinVal(a: Val, b: Val): Val {
  if (a.kind === "ptr" && b.kind === "ptr" && a.buf === b.buf) return { ...a, off: join(a.off, b.off) };
  if (a.kind === "ptr") return a;
  if (b.kind === "ptr") return b;
  if (a.kind === "vec" && b.kind === "vec") {
    const comps: Record<string, Num> = {};
    for (const k of new Set([...Object.keys(a.comps), ...Object.keys(b.comps)])) {
      comps[k] = join(a.comps[k] ?? uni(), b.comps[k] ?? uni());
    }
    return { kind: "vec", comps };
  }
  return join(toNum(a), toNum(b));
}

const SCALAR_BYTES: Record<string, number> = {
  bool: 1,
  char: 1,
  uchar: 1,
  int8_t: 1,
  uint8_t: 1,
  short: 2,
  ushort: 2,
  half: 2,
  bfloat: 2,
  int16_t: 2,
  uint16_t: 2,
  int: 4,
  uint: 4,
  float: 4,
  int32_t: 4,
  uint32_t: 4,
  long: 8,
  ulong: 8,
  double: 8,
  atomic_uint: 4,
  atomic_int: 4,
  atomic_float: 4,
  int64_t: 8,
  uint64_t: 8,
};

/** Size in bytes of an MSL type in a buffer (3-vectors take 4 slots, packed ones 3), or null. */
export function sizeOf(type: string): number | null {
  const t = type.replace(/^(metal::)?/, "").replace(/\s/g, "");
  if (SCALAR_BYTES[t] !== undefined) return SCALAR_BYTES[t];
  const atomic = /^atomic<(\w+)>$/.exec(t);
  if (atomic) return SCALAR_BYTES[atomic[1]] ?? null;
  const v = /^(packed_)?([a-z]+)([234])$/.exec(t) ?? /^()vec<(\w+),([234])>$/.exec(t);
  if (v && SCALAR_BYTES[v[2]] !== undefined) {
    const n = Number(v[3]);
    return SCALAR_BYTES[v[2]] * (n === 3 && !v[1] ? 4 : n);
  }
  const m = /^([a-z]+)([234])x([234])$/.exec(t);
  if (m && SCALAR_BYTES[m[1]] !== undefined) {
    return SCALAR_BYTES[m[1]] * Number(m[2]) * (m[3] === "3" ? 4 : Number(m[3]));
  }
  return null;
}

const COMPARE: Record<string, (x: number, y: number) => boolean> = {
  "<": (x, y) => x < y,
  ">": (x, y) => x > y,
  "<=": (x, y) => x <= y,
  ">=": (x, y) => x >= y,
  "==": (x, y) => x === y,
  "!=": (x, y) => x !== y,
  "&&": (x, y) => !!x && !!y,
  "||": (x, y) => !!x || !!y,
};

/** Applies a C binary operator to two scalar values (pointer arithmetic is handled by the caller). */
export function arith(op: string, a: Num, b: Num): Num {
  switch (op) {
    case "+":
      return add(a, b);
    case "-":
      return add(a, b, -1);
    case "*":
      return mul(a, b);
    case "/":
      return div(a, b);
    case ">>":
      return div(a, b, true);
    case "<<":
      return b.c !== undefined
        ? { ...scale(a, 2 ** b.c), c: a.c === undefined ? undefined : a.c << b.c }
        : mul(a, b);
    case "%":
      return mod(a, b, (x, y) => x % y, b.c);
    case "&": {
      const m = b.c ?? a.c;
      const pow2 = m !== undefined && m > 0 && ((m + 1) & m) === 0 ? m + 1 : undefined;
      return mod(b.c !== undefined ? a : b, b.c !== undefined ? b : a, (x, y) => x & y, pow2);
    }
    case "|":
      return { ...add(a, b), c: a.c !== undefined && b.c !== undefined ? a.c | b.c : undefined };
    case "^":
      return { ...add(a, b), c: a.c !== undefined && b.c !== undefined ? a.c ^ b.c : undefined };
    default:
      return compare(a, b, (x, y) => Number(COMPARE[op]?.(x, y) ?? NaN));
  }
}
