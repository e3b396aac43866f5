// Extent checks for views passed to gemm/batchedGemm. The C side checks every argument against its
// whole buffer, which for a view is its root tensor's: these keep each view's reads and writes inside
// the view itself (a KV-cache slot must not spill into the next one).
import { BoundsError } from "../runtime/errors.ts";
import { tensorState } from "../runtime/internal.ts";
import type { Tensor } from "../runtime/tensor.ts";
import { F, u32 } from "./gemm_params.ts";

// Elements from the first to one past the last touched: batches `stride` apart, rows `ld` apart.
function span(batch: number, stride: number, rows: number, ld: number, cols: number): number {
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

function inside(op: string, what: string, t: Tensor, need: number, how: string): void {
  const s = tensorState(t, op);
  if (s.parent === undefined) return;
  const have = s.byteLength / 2;
  if (need > have) {
    throw new BoundsError(
      `${op}: ${what} is a view of ${have} elements but ${how} reach ${need}`,
      op,
    );
  }
}

/** Throws BoundsError when a, out, bias or residual is a view and the call reaches past its end. */
export function checkViewExtents(
  op: string,
  a: Tensor,
  out: Tensor,
  opts: { bias?: Tensor; residual?: Tensor },
): void {
  const batch = u32[F.batch], m = u32[F.m], n = u32[F.n], k = u32[F.k];
  const sa = u32[F.strideA], sc = u32[F.strideC], sr = u32[F.strideR];
  const lda = u32[F.lda], ldc = u32[F.ldc], ldr = u32[F.ldr];
  const b = (stride: number) => (stride === 0 ? 1 : batch);
  const dims = (ld: string, ldv: number, stride: string, sv: number, cols: string, cv: number) =>
    (batch > 1 ? `batch=${batch}, ${stride}=${sv}, ` : "") + `m=${m}, ${ld}=${ldv}, ${cols}=${cv}`;
  inside(op, "a", a, span(b(sa), sa, m, lda, k), dims("lda", lda, "strideA", sa, "K", k));
  inside(op, "out", out, span(batch, sc, m, ldc, n), dims("ldc", ldc, "strideC", sc, "N", n));
  if (opts.bias) inside(op, "bias", opts.bias, n, `N=${n}`);
  if (opts.residual) {
    inside(
      op,
      "residual",
      opts.residual,
      span(b(sr), sr, m, ldr, n),
      dims("ldr", ldr, "strideR", sr, "N", n),
    );
  }
}
