// canary.cpp — a planted data race in a TSan-instrumented shared object, loaded into Bun or Deno by
// scripts/test-metal-sim.sh before the suite runs under TSan: if TSan does not report this race from
// inside the JS runtime's process, a clean TSan run of the suite would prove nothing, so the script fails.
#include <thread>

namespace {
long shared_counter = 0;  // written by two threads without synchronization: the race TSan must see
}

extern "C" __attribute__((visibility("default"))) long mm_tsan_canary(void) {
  std::thread other([] { shared_counter += 1; });
  shared_counter += 2;
  other.join();
  return shared_counter;
}
