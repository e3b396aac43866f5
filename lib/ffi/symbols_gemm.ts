// GEMM entry points of the C ABI, in the neutral dialect of symbols.ts. The GEMM engineer fills this.
export const gemmSymbols = {} as const;
