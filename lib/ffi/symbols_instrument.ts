// Trace-mode entry point of the C ABI (appended "instrumented CPU builds" section of
// csrc/include/metal_marlin.h), in the neutral dialect of symbols.ts.
export const instrumentSymbols = {
  mm_trace_take: {
    args: [
      "u32", // C: mm_device dev
      "buffer", // C: char* out
      "u64", // C: uint64_t capacity
      "buffer", // C: uint64_t* length
    ],
    result: "i32",
  },
} as const;
