// mm_coverage.h — force-included (-include) into shader translation units of the "coverage" build
// only (lib/build/toolchain.ts). Bun exits without running the atexit hook that writes a shared
// object's profile, so scripts/coverage-preload.ts calls this exported flush for every loaded object.
#ifndef MM_SHIM_COVERAGE_H
#define MM_SHIM_COVERAGE_H

extern "C" int __llvm_profile_write_file(void);

// Weak: every shader TU of one object defines it; the linker keeps one.
extern "C" __attribute__((visibility("default"), weak)) int mm_coverage_flush(void) {
  return __llvm_profile_write_file();
}

#endif
