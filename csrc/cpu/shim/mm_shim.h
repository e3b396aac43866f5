// mm_shim.h — the single header that makes rewritten Metal Shading Language compile as C++20
// (g++ 12, clang++ 16) and run on the CPU runtime. The rewriter turns `#include <metal_stdlib>`
// into `#include "mm_shim.h"`; see csrc/cpu/rt_abi.h for the runtime contract.
#ifndef MM_SHIM_H
#define MM_SHIM_H

#include "mm_types.h"
#include "mm_vec.h"
#include "mm_math.h"
#include "mm_atomic.h"
#include "mm_runtime.h"
#include "mm_simd.h"
#include "mm_matrix.h"

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
#define device
#define thread
#define threadgroup
#define constant const

#endif
