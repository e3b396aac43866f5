// GEMM entry points of the C ABI (appended section of csrc/include/metal_marlin.h), in the neutral
// dialect of symbols.ts: every parameter carries its C declaration.
export const gemmSymbols = {
  mm_gemm_route: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: const mm_gemm_params* p
      "buffer", // C: mm_gemm_route_info* out
    ],
    result: "i32",
  },
  mm_gemm: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: const mm_gemm_params* p
    ],
    result: "i32",
  },
  mm_batched_gemm: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: const mm_gemm_params* p
    ],
    result: "i32",
  },
} as const;
