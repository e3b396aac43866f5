// harness.h — a minimal test runner for the metal-sim native tests (Objective-C++ with ARC, or C++ for
// the runtime's C API): TEST(name)
// registers a case, CHECK records a failure with file:line, each case runs in its own
// @autoreleasepool, and main() ends by requiring no leaked simulated object and no unexpected rule
// violation. Last line: "N passed, M failed".
#pragma once
#ifdef __OBJC__
#import <Foundation/Foundation.h>
#import <Metal/Metal.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../../csrc/metal/sim/sim_api.h"

namespace harness {

struct Case {
  const char* name;
  void (*fn)();
};
inline std::vector<Case>& cases() {
  static std::vector<Case> c;
  return c;
}
inline int& failures() {
  static int n = 0;
  return n;
}
struct Register {
  Register(const char* name, void (*fn)()) { cases().push_back({name, fn}); }
};

// The rule violations recorded since the last call, one per line.
inline std::string take_violations() {
  size_t need = mm_sim_take_violations(nullptr, 0);
  std::string s(need + 1, '\0');
  mm_sim_take_violations(s.data(), s.size());
  s.resize(std::strlen(s.c_str()));
  return s;
}

// Registers the sources the tests compile: tests/native/metal_sim/kernels.metal and shaders/gemm.metal,
// with their modules (linked into the test like the built-in shaders are linked into the library).
void register_sources();
std::string read_file(const char* path);  // whole file, "" if unreadable
extern std::string g_kernels_source;      // the text of kernels.metal
extern std::string g_gemm_source;
// A process-level scenario for tests/native/run-metal-sim.sh (--child NAME); returns the exit status.
int run_child(const char* name);

}  // namespace harness

#define TEST(name)                                                 \
  static void test_##name();                                       \
  static harness::Register register_##name(#name, test_##name);    \
  static void test_##name()

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "  FAILED %s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond);        \
      ++harness::failures();                                                                 \
    }                                                                                        \
  } while (0)

// Exactly one violation was recorded since the last take, and it contains `needle`.
#define CHECK_VIOLATION(needle)                                                                       \
  do {                                                                                                \
    std::string v_ = harness::take_violations();                                                      \
    size_t lines_ = 0;                                                                                \
    for (char ch : v_) lines_ += ch == '\n';                                                          \
    if (lines_ != 1 || v_.find(needle) == std::string::npos) {                                        \
      std::fprintf(stderr, "  FAILED %s:%d: expected one violation containing \"%s\", got: %s\n",     \
                   __FILE__, __LINE__, needle, v_.empty() ? "(none)\n" : v_.c_str());               \
      ++harness::failures();                                                                          \
    }                                                                                                 \
  } while (0)
