// Shapes and options of quantized weights (host side). The memory layout is described in formats.ts.
import type { QuantFormat } from "./formats.ts";

/**
 * Layout of the dense input weight: "nk" = [N, K] row-major, the nn.Linear / checkpoint layout (default);
 * "kn" = [K, N] row-major, the math layout of C = A·B.
 */
export type WeightLayout = "nk" | "kn";

/** Options of quantize(). */
export interface QuantizeOptions {
  /** Reduction dimension K (> 0, integer). */
  k: number;
  /** Output dimension N (> 0, integer). */
  n: number;
  /** Weight format. */
  format: QuantFormat;
  /** Group size along K, a multiple of 8. Default 128. */
  groupSize?: number;
  /** Layout of `w`. Default "nk". */
  layout?: WeightLayout;
  /** Leading batch dimension (batched/expert weights): w holds `batch` matrices back to back. Default none. */
  batch?: number;
  /** Np is rounded up to this multiple (a multiple of 8). Default 8. */
  nMultiple?: number;
  /**
   * Per-group clipping search: true uses DEFAULT_CLIP_RATIOS, or give your own ratios in (0, 1]. Per
   * (group, column) the ratio with the lowest squared error wins; ratio 1 (plain absmax) is always tried,
   * so the result is never worse than without the search. Default false.
   */
  clip?: boolean | readonly number[];
}

/** A quantized weight matrix (or a batch of them) in the layout of formats.ts. */
export interface QuantizedMatrix {
  /** Element format: "fp4" (E2M1) or "int4" (with zero points). */
  readonly format: QuantFormat;
  /** Original (unpadded) K and N. */
  readonly k: number;
  /** Original (unpadded) N, elements. */
  readonly n: number;
  /** Padded K (multiple of groupSize) and N (multiple of 8). */
  readonly kp: number;
  /** Padded N (multiple of 8), elements. */
  readonly np: number;
  /** Elements of K sharing one scale (and zero point). */
  readonly groupSize: number;
  /** Leading batch dimension, or undefined for a single matrix (then arrays are 2-D). */
  readonly batch: number | undefined;
  /** Layout the dense weight had; dequantize() returns this layout. */
  readonly layout: WeightLayout;
  /** [batch?, kp/8, np] uint32 words, 8 K-values per word, lowest K in the lowest nibble. */
  readonly packed: Uint32Array;
  /** [batch?, kp/groupSize, np] float16 scales; 0 in padded columns. */
  readonly scales: Float16Array;
  /** [batch?, kp/groupSize, np] zero points 0..15, only for "int4". */
  readonly zeros: Uint8Array | undefined;
}
