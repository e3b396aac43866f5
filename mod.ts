/**
 * metal-marlin: 4-bit weight-only quantized GEMM (FP4 E2M1, INT4) for Apple GPUs from Bun and Deno,
 * with a CPU shader runtime that runs the same Metal kernels where no Apple GPU is present.
 *
 * This file only re-exports; nothing is loaded or built at import time (the native library is
 * loaded on the first `Device.open()`).
 * @module
 */

// Where things live (lib/, lowest stage first; a file imports only its own room and earlier ones, plus
// lib/runtime/errors.ts from anywhere; tests/layout.test.ts enforces it, `import type` included):
//   msl/        MSL front end shared by the rewriter, the audits and the checks (imports nothing)
//   cpu/        .metal -> C++ rewriter of the CPU shader runtime (msl)
//   build/      toolchain discovery, library and shader-module builds (cpu, msl)
//   ffi/        runtime-neutral symbol table, Bun and Deno adapters, native library loader (build)
//   quant/      host-side formats, quantize/dequantize, packing, the padding helper (nothing but errors)
//   runtime/    device core, Tensor, Library/Kernel, dispatch descriptors, dtypes, errors, trace (ffi, build)
//   reference/  float64 references, one file per op family (quant)
//   ops/        one file per op family: gemm (+ params, route, weight), norm, rope, attention; ops take a
//               device, never Device
//   io/         checkpoint readers (quant, runtime, ops)
//   audit/      alignment audit, static memory-access audit, MSL lint (msl, quant)
//   api/        the public Device: a runtime DeviceCore plus one forwarding method per op family
//   cli/        the command-line subcommands that cli.ts dispatches to (anything)

// Devices, tensors and user kernels.
export {
  type BackendName,
  Device,
  type DeviceInfo,
  type DeviceOptions,
  type LibraryCacheState,
} from "./lib/api/device.ts";
export { Tensor } from "./lib/runtime/tensor.ts";
export {
  type BufferArgInfo,
  type ConstantValue,
  type DispatchOptions,
  Kernel,
  type KernelArg,
  type KernelInfo,
  Library,
} from "./lib/runtime/library.ts";
export type { ArrayOf, DType, DTypeArrays, DTypeOfArray, TensorArray } from "./lib/runtime/dtype.ts";

// Quantized GEMM.
export { QuantizedWeight } from "./lib/ops/weight.ts";
export {
  type Activation,
  type BatchedGemmOptions,
  type GemmOptions,
  type GemmRoute,
  type GemmRouteShape,
} from "./lib/ops/gemm.ts";
export { gemmRoute } from "./lib/api/device.ts";

// Transformer-layer ops (norm, RoPE, attention with a KV cache).
export type { Operand } from "./lib/ops/layer_common.ts";
export type { ActDType } from "./lib/ops/act_dtype.ts";
export type { RmsNormOptions } from "./lib/ops/norm.ts";
export type { DequantizeOptions } from "./lib/ops/dequant.ts";
export { type RopeConfig, ropeInvFreq, type RopeOptions } from "./lib/ops/rope.ts";
export {
  type AttentionOptions,
  type KVAppendOptions,
  KVCache,
  type KVCacheOptions,
} from "./lib/ops/attention.ts";
export { type MoeGemmOptions, type MoeRouting, type MoeSorted, type MoeWeights } from "./lib/ops/moe.ts";
export { type DecoderConfig, type DecoderWeights, type MlpWeights } from "./lib/ops/layer.ts";
export { rmsNormF64 } from "./lib/reference/norm.ts";
export { LayerRef, type LayerRefConfig, type LayerRefWeights } from "./lib/reference/layer.ts";
export { combineF64, routeF64, routerLogitsF64, sortPairsF64 } from "./lib/reference/moe.ts";
export { ropeF64, type RopeRefOptions } from "./lib/reference/rope.ts";
export { attentionF64, type AttentionRefOptions } from "./lib/reference/attention.ts";

// Formats, quantization and padding (host side).
export { DEFAULT_CLIP_RATIOS, quantize } from "./lib/quant/quantize.ts";
export { dequantize } from "./lib/quant/dequantize.ts";
export { padQuantized } from "./lib/quant/pad.ts";
export type { QuantizedMatrix, QuantizeOptions, WeightLayout } from "./lib/quant/types.ts";
export {
  bitsPerWeight,
  decodeBF16,
  decodeE4M3,
  decodeE8M0,
  DEFAULT_GROUP_SIZE,
  FORMAT_IDS,
  FORMAT_INFO,
  type FormatInfo,
  FP4_E2M1_VALUES,
  QUANT_FORMATS,
  type QuantFormat,
  SCALE_DTYPE_IDS,
  type ScaleDType,
} from "./lib/quant/formats.ts";
export { bf16ToF16, bf16ToF32, f16ToBf16, f16ToF32, f32ToBf16, f32ToF16 } from "./lib/quant/convert.ts";
export {
  DEFAULT_M_PADDING,
  M_PAD_LARGE,
  M_PAD_SMALL,
  M_PAD_THRESHOLD,
  type MPaddingPolicy,
  padK,
  padM,
  padMatrix,
  padN,
  padTo,
  type PlainArray,
  sliceMatrix,
} from "./lib/quant/padding.ts";
export { dequantizeF64, matmulF64, referenceGemm } from "./lib/reference/gemm.ts";

// Checkpoints in and out (safetensors, sharded directories, GGUF; GPTQ, AWQ, MLX, GGUF 4-bit; our format).
export { Checkpoint, openCheckpoint, type OpenOptions, type TensorInfo } from "./lib/io/checkpoint.ts";
export { type RawEntry, type SaveEntry, saveQuantized } from "./lib/io/save.ts";
export { convertCheckpoint, type ConvertOptions, type ConvertResult } from "./lib/io/convert.ts";
export { CheckpointError, type FileLocation, InexactImportError } from "./lib/io/errors.ts";
export type { ProjectionName } from "./lib/io/naming.ts";

// Audits.
export {
  type AlignmentReport,
  type AlignmentRow,
  auditAlignment,
  formatAlignmentReport,
  type GemmPath,
  GEMV_N_MULTIPLE,
  PREFILL_TILE_K,
  PREFILL_TILE_M,
  PREFILL_TILE_N,
  type Projection,
  projections,
  SMALL_BATCH_MAX_M,
} from "./lib/audit/alignment.ts";
export { BUILTIN_MODELS, type ModelConfig, type MoeConfig, parseHfConfig } from "./lib/audit/models.ts";
export {
  type AuditAccess,
  type AuditKernel,
  type AuditOptions,
  type AuditReport,
  auditShaders,
  type Category as AuditCategory,
  type Classification as AuditClassification,
  type RawAccess as AuditRawAccess,
  type Severity as AuditSeverity,
  summarize as summarizeAudit,
} from "./lib/audit/memory.ts";
export { type LintFinding, lintMsl } from "./lib/audit/msl_lint.ts";
export {
  type AuditComparison,
  compareWithAudit,
  type TraceDispatch,
  type TraceLine,
  TraceReport,
  type TraceVerdict,
} from "./lib/runtime/trace.ts";

// Errors.
export {
  AlignmentError,
  BadHandleError,
  BarrierError,
  BindingError,
  BoundsCheckError,
  BoundsError,
  CompileError,
  DeadlockError,
  DisposedError,
  ErrorCode,
  InternalError,
  InterruptedError,
  InvalidArgumentError,
  LibraryLoadError,
  LimitError,
  MarlinError,
  NonUniformError,
  OutOfMemoryError,
  RaceError,
  ShapeError,
  UninitializedReadError,
  UnknownKernelError,
  UnsupportedError,
} from "./lib/runtime/errors.ts";
