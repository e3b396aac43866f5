// mm_shim.h — the single header that makes rewritten Metal Shading Language compile as C++20
// (g++ 12, clang++ 16) and run on the CPU runtime. The rewriter turns `#include <metal_stdlib>`
// into `#include "mm_shim.h"`; see csrc/cpu/rt_abi.h for the runtime contract.
#ifndef MM_SHIM_H
#define MM_SHIM_H

#include "mm_types.h"
#include "mm_vec.h"
#include "mm_math.h"
#include "mm_instrument.h"  // before atomics and matrices: they report through its hooks
#include "mm_atomic.h"
#include "mm_runtime.h"
#include "mm_simd.h"
#include "mm_matrix.h"
#ifdef MM_ADDRESS_SPACES
#include "mm_address_spaces.h"  // MSL syntax-only pass: atomics on device/threadgroup objects
#endif

// MSL types are usable with or without `using namespace metal;`.
namespace metal {
using ::half;
using ::uchar;
using ::uint;
using ::ulong;
using ::ushort;
}  // namespace metal

// Address spaces have no meaning on the CPU. Defined last, after every system header, so they
// cannot rewrite identifiers inside those headers.
#ifdef MM_ADDRESS_SPACES
// MSL syntax-only pass (scripts/check-msl.ts): real clang address spaces, so mixing them is an
// error as in MSL. ASan skips such accesses, so this never builds code that runs.
#define device __attribute__((address_space(1)))
#define constant const __attribute__((address_space(2)))
#define threadgroup __attribute__((address_space(3)))
#define thread
#else
#define device
#define thread
#define threadgroup
#define constant const
#endif

#endif
