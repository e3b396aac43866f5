// Shapes and options of quantized weights (host side). The memory layout is described in formats.ts.
import type { QuantFormat, ScaleDType } from "./formats.ts";

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
  /**
   * Group size along K: a multiple of 8 from 8 up to K rounded up to 8, or "channel" (one group over all
   * of K, stored as groupSize = kp = roundUp(k, 8)). Default 128 (capped at that kp); mxfp4 is always 32
   * and nvfp4 always 16 (another value is refused).
   */
  groupSize?: number | "channel";
  /** Scale (and bias) storage: "f16" (default) or "bf16"; mxfp4 is always "e8m0", nvfp4 always "e4m3". */
  scaleDtype?: ScaleDType;
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
  /** Element format (lib/quant/formats.ts). */
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
  /**
   * Storage of scales (and biases): "f16" or "bf16" for fp4/int4/int4-sym/int4-affine, always "e8m0" for
   * mxfp4, always "e4m3" for nvfp4. Absent means "f16" (weights made before the field existed).
   */
  readonly scaleDtype: ScaleDType;
  /**
   * [batch?, kp/groupSize, np] scales: Float16Array for "f16", Uint16Array of raw bf16 bits for "bf16",
   * Uint8Array of raw E8M0 / E4M3 bytes. 0 in padded columns (E8M0 byte 0 with zero codes for mxfp4).
   */
  readonly scales: Float16Array | Uint16Array | Uint8Array;
  /** [batch?, kp/groupSize, np] zero points 0..15, only for "int4". */
  readonly zeros: Uint8Array | undefined;
  /** [batch?, kp/groupSize, np] biases, only for "int4-affine": same storage type as the scales. */
  readonly biases?: Float16Array | Uint16Array;
  /** "nvfp4" only: the per-tensor f32 scale (a Math.fround value). */
  readonly tensorScale?: number;
}
