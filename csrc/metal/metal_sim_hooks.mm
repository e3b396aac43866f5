// metal_sim_hooks.mm — test-only ABI of the metal-sim build: the simulated driver's counters,
// adverse scheduling, pipeline-limit override and rule-violation record, exported (the library
// hides every other symbol) under mm_metal_sim_* for tests/util/metal_sim.ts. Not in macOS builds.
#if defined(MM_METAL_SIM)
#include <cstdint>
#include <cstdlib>

#include "../include/metal_marlin.h"
#include "sim/sim_api.h"

extern "C" {

// out[0..11]: command buffers created, committed, completed, failed; dispatches encoded, executed;
// libraries compiled, with fast math; pipelines created, compiled, found in a binary archive; archive adds.
MM_API void mm_metal_sim_counters(uint64_t* out) {
  mm_sim_counters c{};
  mm_sim_get_counters(&c);
  const uint64_t v[] = {c.command_buffers_created, c.command_buffers_committed, c.command_buffers_completed,
                        c.command_buffers_failed,  c.dispatches_encoded,        c.dispatches_executed,
                        c.libraries_compiled,      c.libraries_fast_math,       c.pipelines_created,
                        c.pipelines_compiled,      c.pipelines_from_archive,    c.archive_functions_added};
  for (unsigned i = 0; i < sizeof v / sizeof v[0]; ++i) out[i] = v[i];
}
MM_API void mm_metal_sim_set_adverse(int32_t on) { mm_sim_set_adverse(on); }
// Sets (value non-empty) or unsets an environment variable of this process: the runtimes' own env APIs
// do not all reach C's getenv, and the cache (MM_METAL_CACHE*) and the sim (MM_SIM_OS_VERSION) read it.
MM_API void mm_metal_sim_setenv(const char* name, const char* value) {
  if (value && *value) setenv(name, value, 1);
  else unsetenv(name);
}
// name "" = every kernel.
MM_API void mm_metal_sim_set_max_threads(const char* name, uint32_t max_threads) {
  mm_sim_set_max_threads(name && *name ? name : nullptr, max_threads);
}
MM_API uint64_t mm_metal_sim_take_violations(char* buf, uint64_t cap) { return mm_sim_take_violations(buf, cap); }
MM_API int64_t mm_metal_sim_live_objects(void) { return mm_sim_live_objects(0); }

#if defined(MM_METAL_COVERAGE)
// Bun exits without the atexit hook that writes the profile: scripts/coverage-metal.sh calls this.
int __llvm_profile_write_file(void);
MM_API int mm_coverage_flush(void) { return __llvm_profile_write_file(); }
#endif

}  // extern "C"
#endif
