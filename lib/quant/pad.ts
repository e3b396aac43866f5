// Padding of an existing QuantizedMatrix along K and N (e.g. to a kernel's tile multiple): zero codes,
// zero scales, zero points and biases, so padded positions contribute exactly 0; k and n stay the originals.
import { padMatrix, padTo } from "./padding.ts";
import { argError } from "./check.ts";
import { checkQuantized } from "./validate.ts";
import type { QuantizedMatrix } from "./types.ts";

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Returns q padded so that kp is a multiple of lcm(groupSize, kMultiple) and np a multiple of nMultiple
 * (both multiples of 8, default 8). Returns q itself when nothing changes. Whole padded groups get scale 0.
 */
export function padQuantized(
  q: QuantizedMatrix,
  opts: { kMultiple?: number; nMultiple?: number } = {},
): QuantizedMatrix {
  const op = "padQuantized";
  checkQuantized(op, q);
  // null or a non-object where the options belong: a typed error, not a TypeError on opts.kMultiple.
  if (opts === null || typeof opts !== "object") {
    throw argError(
      op,
      `${op}: options must be an object or undefined, got ${opts === null ? "null" : typeof opts}`,
    );
  }
  const km = opts.kMultiple ?? 8, nm = opts.nMultiple ?? 8;
  for (const [name, v] of [["kMultiple", km], ["nMultiple", nm]] as const) {
    if (!Number.isInteger(v) || v <= 0 || v % 8 !== 0) {
      throw argError(op, `${op}: ${name} must be a positive multiple of 8, got ${String(v)}`);
    }
  }
  const kStep = (q.groupSize / gcd(q.groupSize, km)) * km;
  const kp = padTo(q.kp, kStep, op), np = padTo(q.np, nm, op);
  if (kp === q.kp && np === q.np) return q;
  const b = q.batch ?? 1, gs = q.groupSize;
  return {
    ...q,
    kp,
    np,
    packed: padMatrix(q.packed, b, q.kp / 8, q.np, kp / 8, np),
    scales: padMatrix(q.scales, b, q.kp / gs, q.np, kp / gs, np),
    zeros: q.zeros === undefined ? undefined : padMatrix(q.zeros, b, q.kp / gs, q.np, kp / gs, np),
    ...(q.biases === undefined ? {} : { biases: padMatrix(q.biases, b, q.kp / gs, q.np, kp / gs, np) }),
  };
}
