// Classification of one buffer access from its byte offset, an affine form in the lane (see
// memory_values.ts). The taxonomy is documented in lib/audit/memory.ts.
import type * as V from "./memory_values.ts";

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
  if (s === 0 && off.hi === 0 && off.laneNL) return ["strided", "the lane enters the index non-linearly (irregular across lanes)", null];
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
        return ["coalesced", `${runs} cover ${bytes} contiguous bytes; consecutive runs are ${hi} apart (overlapping or adjacent)`, s];
      }
      if (bytes >= 32) {
        return ["coalesced", `${runs} cover ${bytes} contiguous bytes (whole 32-byte sectors); runs are ${hi} apart`, s];
      }
      return seqOr(off, ab, s, `${runs} cover only ${bytes} contiguous bytes (under a 32-byte sector); runs are ${hi} apart`, loops);
    }
    if (s === 0) return seqOr(off, ab, 0, `${runs} share an address; runs are ${hi} apart`, loops);
  }
  if (typeof s === "number" && Math.abs(s) <= ab) {
    return ["coalesced", `consecutive lanes are ${Math.abs(s)} B apart, within the ${ab}-byte access`, s];
  }
  const what = typeof s === "number" ? `${Math.abs(s)} B apart` : "a run-time stride apart (lane times a run-time value)";
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
      return ["sequential-per-thread", `${why}; each lane walks its own contiguous run (${Math.abs(per)} B per iteration)`, stride];
    }
    break;
  }
  return ["strided", why, stride];
}
