/* metal_marlin.h — the only public C header of metal-marlin.
 *
 * Plain C99. Every fallible call returns int: 0 (MM_OK) or a negative MM_E_* code, and leaves a
 * thread-local message in mm_last_error(). Handles are opaque 32-bit values (type tag + slot +
 * generation), so a stale or foreign handle is detected and reported instead of dereferenced: freed
 * slots are reused first-in first-out behind 1024 others, so a stale handle keeps failing for about
 * four million further allocations of its type (fewer only when over 64,512 objects of that type are
 * live at once; 65,536 is the limit).
 * Dimensions are uint32_t, byte sizes uint64_t. Parameter blocks that may grow are passed by pointer
 * and start with a uint32_t size field holding sizeof the block as the caller knows it.
 */
#ifndef METAL_MARLIN_H
#define METAL_MARLIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MM_API __declspec(dllexport)
#else
#define MM_API __attribute__((visibility("default")))
#endif

/* Bumped on any incompatible change of this header; the TypeScript loader checks it. */
#define MM_ABI_VERSION 1u

/* Status codes. lib/runtime/errors.ts mirrors these; a test checks the two agree. */
#define MM_OK 0
#define MM_E_INVALID_ARG -1     /* a value is out of range or malformed */
#define MM_E_BAD_HANDLE -2      /* null, freed, or wrong-type handle */
#define MM_E_OUT_OF_MEMORY -3   /* allocation failed or exceeds the device limit */
#define MM_E_UNKNOWN_KERNEL -4  /* no kernel of that name in the library */
#define MM_E_BINDING -5         /* missing/extra binding, wrong kind or dtype, bytes too short */
#define MM_E_LIMIT -6           /* grid, threadgroup size or threadgroup memory over the limits */
#define MM_E_BOUNDS -7          /* an offset or extent reaches past a buffer's end */
#define MM_E_COMPILE -8         /* shader compilation failed */
#define MM_E_LOAD -9            /* a compiled shader module could not be loaded */
#define MM_E_DEADLOCK -10       /* lanes wait at different barriers and can never all arrive */
#define MM_E_BARRIER -11        /* a barrier reached by only some lanes (others exited) */
#define MM_E_UNSUPPORTED -12    /* backend or feature not available here */
#define MM_E_SHAPE -13          /* dimensions do not agree */
#define MM_E_ALIGNMENT -14      /* an offset or stride breaks a required alignment */
#define MM_E_RACE -15           /* race detector finding (instrumented builds) */
#define MM_E_UNINIT -16         /* read of never-written threadgroup memory (instrumented builds) */
#define MM_E_INTERNAL -17       /* a bug in metal-marlin: please report */
#define MM_E_NONUNIFORM -18     /* a simdgroup-uniform operation saw lane-dependent values */
#define MM_E_INTERRUPTED -19    /* SIGINT (Ctrl-C) arrived during a CPU dispatch: it stopped early */
#define MM_E_BOUNDS_CHECK -20   /* "cpu:bounds": a kernel access outside its buffers / threadgroup memory */

typedef uint32_t mm_device;  /* 0 is never a valid handle */
typedef uint32_t mm_buffer;
typedef uint32_t mm_library;
typedef uint32_t mm_kernel;

/* ---- library ---------------------------------------------------------------------------- */
MM_API uint32_t mm_abi_version(void);
/* Message of the last failed call on this thread ("" if none). Valid until the next call. */
MM_API const char* mm_last_error(void);
/* Does nothing; benchmarks use it to measure the bare cost of one ABI call. */
MM_API uint32_t mm_noop(uint32_t x);
/* CPU runtime only: performs `switches` fiber context switches (benchmark of the scheduler's core). */
MM_API int mm_cpu_fiber_pingpong(uint32_t switches);
/* CPU runtime only: CPU dispatches that run longer than after_ms draw a progress line ("label kernel
 * [###...]  42%  1720 / 4096 threadgroups  12 s") on file descriptor fd, at most ten times a second, and
 * end it with a newline. fd < 0 turns it off (the default). label may be NULL. Process-wide. */
MM_API int mm_cpu_progress(int32_t fd, uint32_t after_ms, const char* label);

/* ---- device ----------------------------------------------------------------------------- */
/* backend: "auto", "cpu", "metal" or "metal-sim" (NUL-terminated; "metal-sim": the Metal backend on
 * the simulated driver, only in the metal-sim build — MM_E_UNSUPPORTED elsewhere). threads: CPU worker threads, 0 = default
 * (MM_THREADS env, else the number of cores). */
MM_API int mm_device_open(const char* backend, uint32_t threads, mm_device* out);
/* Frees every buffer, library and kernel still owned by the device. Idempotent for a valid handle. */
MM_API int mm_device_close(mm_device dev);

typedef struct mm_device_info {
  uint32_t size;                        /* in: sizeof(mm_device_info) */
  char backend[16];                     /* "cpu", "metal" or "metal-sim" */
  char name[64];                        /* e.g. "CPU shader runtime (x86_64, 2 threads)" */
  uint32_t max_threads_per_threadgroup; /* 1024 */
  uint32_t max_threadgroup_memory;      /* bytes, 32768 */
  uint32_t simd_width;                  /* 32 */
  uint32_t threads;                     /* CPU worker threads (0 on Metal) */
  uint64_t max_buffer_length;           /* bytes */
  uint64_t allocated_bytes;             /* bytes currently held by live buffers */
  uint32_t live_buffers;                /* count of live buffers */
  uint32_t library_cache;               /* Metal: the built-in library's on-disk pipeline cache, MM_LIBRARY_CACHE_* */
  uint64_t recommended_working_set;     /* Metal's recommendedMaxWorkingSetSize, bytes (0 on cpu) */
} mm_device_info;
/* mm_device_info.library_cache: NONE before the built-in library is first used (and on cpu); DISABLED by
 * MM_METAL_CACHE=0; MEMORY when the cache directory cannot be written (pipelines compiled, kept in memory);
 * MISS when no valid cache file existed (compiled, written at the next sync or close); HIT when the file
 * loaded (pipelines found there are not compiled again). */
#define MM_LIBRARY_CACHE_NONE 0u
#define MM_LIBRARY_CACHE_DISABLED 1u
#define MM_LIBRARY_CACHE_MEMORY 2u
#define MM_LIBRARY_CACHE_MISS 3u
#define MM_LIBRARY_CACHE_HIT 4u
MM_API int mm_device_info_get(mm_device dev, mm_device_info* out);
/* Waits for all submitted work; returns the first error a dispatch hit since the last sync. */
MM_API int mm_device_synchronize(mm_device dev);
/* Submits any encoded work without waiting and stores in *out how many submitted batches have not
 * completed yet (always 0 on cpu, whose dispatches run synchronously). For non-blocking waits. */
MM_API int mm_device_pending(mm_device dev, uint64_t* out);
/* Metal builds: registers the CPU shader module at `module_path` (compiled by the TS rewriter from
 * `source`) as the reflection of `source` for mm_library_compile; on metal-sim it is also what the
 * simulated compiler "compiles" `source` into. MM_E_UNSUPPORTED in builds without Metal. */
MM_API int mm_metal_register_module(const char* source, const char* module_path);

/* ---- buffers ---------------------------------------------------------------------------- */
/* Zero-filled, page-aligned, exactly `length` bytes (length >= 1). */
MM_API int mm_buffer_alloc(mm_device dev, uint64_t length, mm_buffer* out);
MM_API int mm_buffer_free(mm_buffer buf);
/* Host address of the contents (shared memory), or NULL for a bad handle. */
MM_API void* mm_buffer_contents(mm_buffer buf);
/* Length in bytes, or 0 for a bad handle. */
MM_API uint64_t mm_buffer_length(mm_buffer buf);

/* ---- libraries and kernels -------------------------------------------------------------- */
/* The kernels built into the dylib (shaders/ listed in shaders/manifest.json). Owned by the device. */
MM_API int mm_library_builtin(mm_device dev, mm_library* out);
/* CPU backend: load a shader module compiled by lib/cpu (a shared object exporting mm_cpu_module).
 * Metal backend: not used (see mm_library_compile). */
MM_API int mm_library_load(mm_device dev, const char* path, mm_library* out);
/* Metal backend: compile MSL source with newLibraryWithSource. CPU backend: MM_E_UNSUPPORTED (the
 * TypeScript side rewrites and compiles, then calls mm_library_load). */
MM_API int mm_library_compile(mm_device dev, const char* source, mm_library* out);
MM_API int mm_library_free(mm_library lib);
/* Number of kernels and the name of kernel i (NULL past the end). */
MM_API uint32_t mm_library_kernel_count(mm_library lib);
MM_API const char* mm_library_kernel_name(mm_library lib, uint32_t i);

MM_API int mm_kernel_get(mm_library lib, const char* name, mm_kernel* out);

/* Reflection of one [[buffer(i)]] argument. */
#define MM_ARG_NONE 0u      /* index not used by the kernel */
#define MM_ARG_DEVICE 1u    /* device T* or device T&: needs a buffer */
#define MM_ARG_CONSTANT 2u  /* constant T* or constant T&: a buffer or inline bytes */
#define MM_ACCESS_READ 1u
#define MM_ACCESS_WRITE 2u
/* Element dtypes; also the dtype codes of bindings. 0 = untyped/struct (not checked). */
#define MM_DTYPE_ANY 0u
#define MM_DTYPE_F16 1u
#define MM_DTYPE_F32 2u
#define MM_DTYPE_I32 3u
#define MM_DTYPE_U32 4u
#define MM_DTYPE_U16 5u
#define MM_DTYPE_U8 6u
#define MM_DTYPE_I16 7u
#define MM_DTYPE_I8 8u
#define MM_DTYPE_BF16 9u /* bfloat16 (raw bits; 2 bytes) */

typedef struct mm_arg_info {
  uint32_t size;         /* in: sizeof(mm_arg_info) */
  uint32_t kind;         /* MM_ARG_* */
  uint32_t access;       /* MM_ACCESS_* bits */
  uint32_t dtype;        /* scalar dtype of the element (vectors report their scalar), 0 for structs */
  uint32_t elem_bytes;   /* sizeof the pointee, e.g. 16 for float4 */
  uint32_t line;         /* .metal line of the parameter */
  char type_name[48];    /* pointee type as written, e.g. "half", "float4", "GemmParams" */
  char arg_name[32];     /* parameter name */
} mm_arg_info;

typedef struct mm_kernel_info {
  uint32_t size;                 /* in: sizeof(mm_kernel_info) */
  uint32_t n_buffers;            /* highest [[buffer(i)]] + 1 */
  uint32_t n_threadgroup_args;   /* highest [[threadgroup(i)]] + 1 */
  uint32_t static_tg_bytes;      /* threadgroup memory declared in the body, bytes */
  uint32_t max_threads_per_threadgroup;
  uint32_t line;                 /* .metal line of the kernel */
  char file[128];                /* .metal file name */
} mm_kernel_info;
MM_API int mm_kernel_info_get(mm_kernel k, mm_kernel_info* out);
MM_API int mm_kernel_arg_info(mm_kernel k, uint32_t index, mm_arg_info* out);

/* ---- dispatch --------------------------------------------------------------------------- */
#define MM_BIND_BUFFER 1u  /* bind buffer `buffer` at byte `offset`; `length` = bytes visible (0 = to the end) */
#define MM_BIND_BYTES 2u   /* inline constant data: `length` bytes at `offset` from the start of the desc */

typedef struct mm_binding {
  uint32_t index;   /* [[buffer(index)]] */
  uint32_t kind;    /* MM_BIND_* */
  uint32_t buffer;  /* mm_buffer for MM_BIND_BUFFER */
  uint32_t dtype;   /* MM_DTYPE_* of the bound data; MM_DTYPE_ANY skips the dtype check */
  uint64_t offset;  /* bytes */
  uint64_t length;  /* bytes */
} mm_binding;

#define MM_MAX_BUFFERS 31u
#define MM_MAX_THREADGROUP_ARGS 8u
#define MM_MAX_FUNCTION_CONSTANTS 16u

/* One dispatch, as one contiguous block: this header, n_bindings records, then inline bytes.
 * `size` is the total block length; inline bytes must lie inside it. */
typedef struct mm_dispatch_desc {
  uint32_t size;
  uint32_t grid[3];                        /* threadgroups per grid */
  uint32_t threadgroup[3];                 /* threads per threadgroup */
  uint32_t n_bindings;
  uint32_t threadgroup_memory[MM_MAX_THREADGROUP_ARGS]; /* bytes for [[threadgroup(i)]] */
  uint32_t function_constants_defined;     /* bit i: function_constant(i) has a value */
  uint32_t reserved;
  uint64_t function_constants[MM_MAX_FUNCTION_CONSTANTS]; /* value bits (bool/int/uint/float) */
  mm_binding bindings[];
} mm_dispatch_desc;

MM_API int mm_dispatch(mm_device dev, mm_kernel k, const mm_dispatch_desc* desc);

#ifdef __cplusplus
}
#endif
#endif /* METAL_MARLIN_H */

/* ==== quantized GEMM (issue 4) — appended section, its own guard ================================ */
#ifndef METAL_MARLIN_GEMM_H
#define METAL_MARLIN_GEMM_H
#ifdef __cplusplus
extern "C" {
#endif

/* Weight formats; same ids as lib/quant/formats.ts FORMAT_IDS. Layout: packed [kp/8, ldw] uint32 (8 K
 * values per word, lowest k in the lowest nibble), scales [kp/gs, ldw] (MM_SCALE_*), zeros [kp/gs, ldw]
 * uint8 (int4) or biases [kp/gs, ldw] in the scale type (int4-affine, bound as `zeros`). */
#define MM_FORMAT_FP4 0u         /* w = e2m1(code) * scale */
#define MM_FORMAT_INT4 1u        /* w = (code - zero) * scale, zero point per (group, column) */
#define MM_FORMAT_INT4_SYM 2u    /* w = (code - 8) * scale */
#define MM_FORMAT_INT4_AFFINE 3u /* w = scale * code + bias (MLX affine, GGUF Q4_1) */
#define MM_FORMAT_MXFP4 4u       /* w = e2m1(code) * 2^(e - 127), E8M0 scale byte e, group size 32 */
#define MM_FORMAT_NVFP4 5u       /* w = e2m1(code) * e4m3(scale byte) * tensor_scale, group size 16 */

/* Scale (and bias) storage: f16 or bf16 for formats 0..3, E8M0 bytes for MXFP4, E4M3 bytes for NVFP4. */
#define MM_SCALE_F16 0u
#define MM_SCALE_BF16 1u
#define MM_SCALE_E8M0 2u
#define MM_SCALE_E4M3 3u

/* Element type of A, C, bias and residual (one for all four; float accumulation either way). */
#define MM_ACT_F16 0u
#define MM_ACT_BF16 1u

/* Epilogue bits, applied in this order: SWIGLU -> +BIAS -> RELU|SILU|GELU (at most one) -> *alpha
 * (SCALE) -> +RESIDUAL. GELU is the tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))). */
#define MM_EPILOGUE_NONE 0u
#define MM_EPILOGUE_BIAS 1u      /* + bias[n] (fp16 [n]) */
#define MM_EPILOGUE_RELU 2u
#define MM_EPILOGUE_SILU 4u      /* x * sigmoid(x) */
#define MM_EPILOGUE_GELU 8u
#define MM_EPILOGUE_RESIDUAL 16u /* + residual[m, n] (fp16, pitch ldr, batch stride stride_r) */
#define MM_EPILOGUE_SCALE 32u    /* * alpha */
#define MM_EPILOGUE_SWIGLU 64u   /* silu(A*Wgate) * (A*Wup): up weight in up_* or columns from up_column */

/* Kernel families routing can pick (mm_gemm_route_info.kind). */
#define MM_GEMM_KIND_GEMV 1u   /* M = 1 */
#define MM_GEMM_KIND_SMALL 2u  /* M = 2..16 */
#define MM_GEMM_KIND_SPLITK 3u /* M <= 16, deep K, few columns: partials + deterministic reduction */
#define MM_GEMM_KIND_TILED 4u  /* prefill */

/* One (batched) GEMM: C[b][m, n] = epilogue(A[b][m, :k] * W[b][:k, n]). Buffers are handles plus byte
 * offsets; 0 = not bound. Pitches and strides are in elements (packed words for stride_w); a pitch of
 * 0 means dense, a batch stride of 0 broadcasts (not allowed for the output when batch > 1). */
typedef struct mm_gemm_params {
  uint32_t size;        /* sizeof(mm_gemm_params) */
  uint32_t format;      /* MM_FORMAT_* */
  uint32_t group_size;  /* any multiple of 8 dividing kp (per channel: kp); MXFP4 32, NVFP4 16 */
  uint32_t m, n, k;     /* logical dims; k and n may be below kp and np */
  uint32_t kp, np;      /* dims of the stored weight: kp a multiple of group_size, np >= n */
  uint32_t ldw;         /* row pitch of packed, scales and zeros in columns; 0 = np */
  uint32_t batch;       /* >= 1; mm_gemm requires 1 */
  uint32_t lda, ldc, ldr; /* row pitch of A, C, residual; 0 = k, n, n */
  uint32_t stride_a, stride_w, stride_s, stride_c, stride_r; /* batch strides; stride_s covers zeros too */
  uint32_t epilogue;    /* MM_EPILOGUE_* bits */
  float alpha;          /* factor of MM_EPILOGUE_SCALE */
  uint32_t split_k;     /* 0 = routing decides, 1 = never split, > 1 = split into about this many parts */
  uint32_t up_column;   /* SwiGLU from one fused gate/up weight: column of W where "up" starts (else 0) */
  mm_buffer packed, scales, zeros, a, c, bias, residual, up_packed, up_scales, up_zeros;
  mm_buffer workspace;  /* split-K partials (route says how many bytes); 0 = allocated per call */
  uint32_t reserved0;
  uint64_t packed_offset, scales_offset, zeros_offset, a_offset, c_offset, bias_offset, residual_offset;
  uint64_t up_packed_offset, up_scales_offset, up_zeros_offset, workspace_offset; /* bytes */
  /* Appended (issue 11); a caller passing the older 224-byte block gets MM_SCALE_F16 and MM_ACT_F16. */
  uint32_t scale_dtype; /* MM_SCALE_* of scales and int4-affine biases */
  uint32_t act_dtype;   /* MM_ACT_*: A, C, bias and residual */
  float tensor_scale;   /* NVFP4 per-tensor scale (ignored by the other formats) */
  float up_tensor_scale; /* NVFP4: the separate SwiGLU up weight's tensor scale */
} mm_gemm_params;

typedef struct mm_gemm_route_info {
  uint32_t size;            /* in: sizeof(mm_gemm_route_info) */
  uint32_t kind;            /* MM_GEMM_KIND_* */
  uint32_t grid[3];         /* threadgroups of the main kernel */
  uint32_t threadgroup[3];  /* threads per threadgroup */
  uint32_t splits;          /* split-K parts (1 otherwise) */
  uint32_t k_chunk;         /* K values per split */
  uint64_t workspace_bytes; /* split-K partials, 0 otherwise */
  char kernel[48];          /* "gemv", "gemm_small", "gemm_splitk", "gemm_tiled_f16" or "gemm_tiled_bf16" */
  char reduce_kernel[48];   /* "gemm_splitk_reduce" for split-K, else "" */
} mm_gemm_route_info;

/* Picks the kernel for the dims, format, group size and split_k of `p` (buffers are not looked at). */
MM_API int mm_gemm_route(mm_device dev, const mm_gemm_params* p, mm_gemm_route_info* out);
/* C = A * W (+ epilogue) for batch == 1. Validates every dim, pitch and extent against the real
 * buffer lengths (MM_E_SHAPE, MM_E_BOUNDS, MM_E_ALIGNMENT, MM_E_UNSUPPORTED ...). Asynchronous like
 * mm_dispatch unless a workspace had to be allocated for the call. */
MM_API int mm_gemm(mm_device dev, const mm_gemm_params* p);
/* Same for batch >= 1 with the batch strides of `p`. */
MM_API int mm_batched_gemm(mm_device dev, const mm_gemm_params* p);

#ifdef __cplusplus
}
#endif
#endif /* METAL_MARLIN_GEMM_H */

/* ---- instrumented CPU builds (appended; issue 5) ------------------------------------------- */
#ifndef METAL_MARLIN_INSTRUMENT_H
#define METAL_MARLIN_INSTRUMENT_H
#ifdef __cplusplus
extern "C" {
#endif
/* mm_device_open also accepts backend "cpu:trace", "cpu:race" and "cpu:bounds" when the library was
 * built in mode "instrument" (MM_E_UNSUPPORTED otherwise): every dispatch then runs one threadgroup
 * at a time and is profiled (trace) or checked for races / uninitialized threadgroup reads (race;
 * findings fail the dispatch with MM_E_RACE / MM_E_UNINIT naming the .metal lines) or for accesses
 * outside the bound buffer ranges and threadgroup allocations (bounds; MM_E_BOUNDS_CHECK, raised
 * before the access happens; buffers of such a device live between inaccessible guard zones).
 * Trace mode: copies the JSON array of the dispatches traced since the last call into `out`
 * (NUL-terminated) and forgets them; `*length` = bytes needed including the NUL. When `capacity`
 * is too small, fails with MM_E_INVALID_ARG and keeps the data. Sites are module path + offset. */
MM_API int mm_trace_take(mm_device dev, char* out, uint64_t capacity, uint64_t* length);
#ifdef __cplusplus
}
#endif
#endif /* METAL_MARLIN_INSTRUMENT_H */
