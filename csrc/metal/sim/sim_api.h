/* sim_api.h — the C entry points of metal-sim (the simulated Metal driver for Linux) that are not part
 * of Apple's API: registering the CPU shader modules that stand in for compiled Metal libraries, and the
 * test-only hooks (rule violations, counters, adverse scheduling, pipeline limits). The backend exports
 * what it needs of these through its own test/sim-only ABI entries; see README.md here. */
#ifndef MM_SIM_API_H
#define MM_SIM_API_H

#include <stddef.h>
#include <stdint.h>

#include "../../cpu/rt_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the "compiler": newLibraryWithSource finds a module registered for that exact source ----
 * Registers `module` (a CPU shader module: built-in, or compiled from this source by the TS rewriter)
 * as the compiled form of `source` (UTF-8, `length` bytes, the exact text the backend will pass to
 * newLibraryWithSource). Later registrations of the same source replace earlier ones. Returns 0. */
int mm_sim_register_module(const char* source, size_t length, const mm_rt_module* module);
/* The same for a module in a shared object (dlopen'ed, symbol mm_rt_module_get); the handle stays open
 * for the life of the process. Returns 0, or -1 with the reason in `err` (`err_cap` bytes). */
int mm_sim_register_module_file(const char* source, size_t length, const char* path, char* err, size_t err_cap);
/* Makes newLibraryWithSource fail for `source` with MTLLibraryErrorCompileFailure and this compiler
 * log (which should carry "<file>:<line>:<col>: error: ..." lines, as Apple's log does). Returns 0. */
int mm_sim_register_compile_error(const char* source, size_t length, const char* log);

/* ---- test hooks ---- */
/* Violations of Metal's documented rules (and Apple's runtime: zombies, unknown selectors, missing
 * pools) recorded since the last take; each message ends with "\n". Returns the number of bytes the
 * full text needs (excluding the NUL). With `buf` non-null copies at most `cap` - 1 of them plus a NUL
 * and clears the record; with `buf` NULL only returns the length (to size the buffer). */
size_t mm_sim_take_violations(char* buf, size_t cap);
long mm_sim_violation_count(void); /* since the process started (never cleared) */

typedef struct mm_sim_counters {
  uint64_t command_buffers_created;
  uint64_t command_buffers_committed;
  uint64_t command_buffers_completed; /* status Completed or Error, handlers run */
  uint64_t command_buffers_failed;    /* of those, status Error */
  uint64_t dispatches_encoded;
  uint64_t dispatches_executed;
  uint64_t libraries_compiled;        /* successful newLibraryWithSource calls */
  uint64_t libraries_fast_math;       /* of those, compiled with fastMathEnabled = YES */
  uint64_t pipelines_created;
  uint64_t buffers_created;
  uint64_t pipelines_compiled;        /* pipelines compiled from a function (not found in a binary archive) */
  uint64_t pipelines_from_archive;    /* pipelines found in a binary archive: no compile */
  uint64_t archive_functions_added;   /* addComputePipelineFunctionsWithDescriptor: calls that added one */
  uint64_t archives_loaded;           /* newBinaryArchiveWithDescriptor: with a url that loaded a file */
} mm_sim_counters;
void mm_sim_get_counters(mm_sim_counters* out);
void mm_sim_reset_counters(void);

/* Adverse scheduling (also MM_SIM_ADVERSE=1 in the environment): waitUntilCompleted returns before the
 * completion handlers run, and random delays of up to ~2 ms precede execution, completion and the
 * handlers, so code that reads results or handler state without synchronizing sees them stale. */
void mm_sim_set_adverse(int on);
int mm_sim_adverse(void);

/* maxTotalThreadsPerThreadgroup reported by pipelines created from now on for kernel `name` (NULL:
 * every kernel), as a real GPU lowers it with register pressure; 0 removes the override. The value is
 * never above the kernel's own [[max_total_threads_per_threadgroup]] (1024 by default). */
void mm_sim_set_max_threads(const char* name, uint32_t max_threads);

/* Waits until every committed command buffer completed, then returns the number of live simulated
 * Objective-C objects; with `report` non-zero lists them on stderr. 0 means nothing leaked. */
long mm_sim_live_objects(int report);

#ifdef __cplusplus
}
#endif
#endif
