// Classification of one buffer access from its byte offset, an affine form in the lane (see
// memory_values.ts). The taxonomy is documented in lib/audit/memory.ts.
import type { ParamDecl } from "../msl/decls.ts";
import * as V from "./memory_values.ts";

/** Access classes; see lib/audit/memory.ts for the taxonomy. */
export type Classification = "coalesced" | "strided" | "sequential-per-thread" | "scattered" | "broadcast";
/** A loop enclosing the access: its counter symbol and per-iteration step ("sym" if run-time). */
export interface LoopInfo {
  id: string;
  step: V.Coef;
}
/** Class, reason, and lane stride in bytes ("symbolic" for a run-time stride, null if not affine). */
export type Verdict = [Classification, string, number | "symbolic" | null];

/** Classifies a byte offset (affine in the lane) for an access of `ab` bytes inside `loops`. */
export function classify(off: V.Num, ab: number, loops: LoopInfo[]): Verdict {
  if (off.data) return ["scattered", "the index depends on a value loaded from memory", null];
  const s = off.lane;
  if (s === 0 && off.hi === 0 && off.laneNL) {
    return ["strided", "the lane enters the index non-linearly (irregular across lanes)", null];
  }
  if (s === 0 && off.hi === 0) return ["broadcast", "every lane of a simdgroup uses the same address", 0];
  if (off.seg < 32) {
    const runs = `runs of ${off.seg} lanes`;
    const hi = typeof off.hi === "number" ? `${Math.abs(off.hi)} B` : "a run-time stride";
    if (s === 0 && typeof off.hi === "number" && Math.abs(off.hi) <= ab) {
      return ["coalesced", `${runs} share an element; consecutive runs are ${hi} apart`, 0];
    }
    if (typeof s === "number" && s !== 0 && Math.abs(s) <= ab) {
      const bytes = off.seg * Math.abs(s);
      if (typeof off.hi === "number" && Math.abs(off.hi) <= bytes) {
        // Runs repeat (hi = 0) or abut: the whole simdgroup touches one contiguous range.
        return [
          "coalesced",
          `${runs} cover ${bytes} contiguous bytes; consecutive runs are ${hi} apart (overlapping or adjacent)`,
          s,
        ];
      }
      if (bytes >= 32) {
        return [
          "coalesced",
          `${runs} cover ${bytes} contiguous bytes (whole 32-byte sectors); runs are ${hi} apart`,
          s,
        ];
      }
      return seqOr(
        off,
        ab,
        s,
        `${runs} cover only ${bytes} contiguous bytes (under a 32-byte sector); runs are ${hi} apart`,
        loops,
      );
    }
    if (s === 0) return seqOr(off, ab, 0, `${runs} share an address; runs are ${hi} apart`, loops);
  }
  if (typeof s === "number" && Math.abs(s) <= ab) {
    return ["coalesced", `consecutive lanes are ${Math.abs(s)} B apart, within the ${ab}-byte access`, s];
  }
  const what = typeof s === "number"
    ? `${Math.abs(s)} B apart`
    : "a run-time stride apart (lane times a run-time value)";
  return seqOr(off, ab, s, `consecutive lanes are ${what}, beyond the ${ab}-byte access`, loops);
}

// Strided across lanes: sequential-per-thread if the innermost loop moving the address moves it by at
// most the access width per iteration (each lane walks its own contiguous run).
function seqOr(off: V.Num, ab: number, s: V.Coef, why: string, loops: LoopInfo[]): Verdict {
  const stride = typeof s === "number" ? s : "symbolic";
  for (let k = loops.length - 1; k >= 0; k--) {
    const c = off.loops.get(loops[k].id);
    if (c === undefined) continue;
    const step = loops[k].step;
    const per = typeof c === "number" ? (typeof step === "number" ? c * step : c) : null;
    if (per !== null && per !== 0 && Math.abs(per) <= ab) {
      return [
        "sequential-per-thread",
        `${why}; each lane walks its own contiguous run (${Math.abs(per)} B per iteration)`,
        stride,
      ];
    }
    break;
  }
  return ["strided", why, stride];
}

/** simdgroup_load/store: one cooperative 8x8 block per simdgroup, 8 rows of 8 elements `ld` apart. */
export function blockVerdict(elemBytes: number, ld: number | undefined): [Classification, string] {
  const rowBytes = 8 * elemBytes;
  if (ld === 8) {
    return [
      "coalesced",
      `simdgroup_matrix 8x8 block, contiguous ${64 * elemBytes} bytes (one access per simdgroup)`,
    ];
  }
  const apart = ld !== undefined ? `${ld * elemBytes} B` : "a run-time stride";
  return [
    rowBytes >= 32 ? "coalesced" : "strided",
    `simdgroup_matrix 8x8 block: 8 rows of ${rowBytes} bytes, ${apart} apart (one access per simdgroup)`,
  ];
}

// Lane-varying index attributes: x (or the scalar) steps by one across consecutive lanes. y and z are
// taken as lane-uniform, which holds when the threadgroup's x extent is a multiple of 32.
const LANE_ATTRS = new Set([
  "thread_position_in_grid",
  "thread_position_in_threadgroup",
  "thread_index_in_simdgroup",
  "thread_index_in_threadgroup",
  "thread_index_in_quadgroup",
]);

/** The abstract value of a kernel parameter: a buffer pointer, a lane index, or a lane-uniform value.
 * `elem` is the parameter's base type after template substitution. */
export function kernelParamValue(p: ParamDecl, typed: ParamDecl, elem: string): V.Val {
  const buf = /buffer\((\d+)\)/.exec(p.attrs.join(" "));
  const space = typed.addressSpace;
  if (buf && (space === "device" || space === "constant")) {
    if (typed.pointer || (typed.reference && space === "device")) {
      const info: V.BufInfo = { name: p.name, index: Number(buf[1]), space, elem };
      return { kind: "ptr", buf: info, elem, off: V.konst(0) };
    }
    return V.uni(); // constant Params& : lane-uniform arguments
  }
  if (space === "threadgroup") return V.dataVal();
  const lane = p.attrs.find((a) => LANE_ATTRS.has(a));
  const vec = /[234]$/.test(typed.baseType);
  if (lane) return vec ? { kind: "vec", comps: { x: V.laneVal(), y: V.uni(), z: V.uni() } } : V.laneVal();
  return V.uni();
}
