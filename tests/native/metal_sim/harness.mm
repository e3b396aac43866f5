// harness.mm — main() of the metal-sim native tests (see harness.h), and the registration of the test
// shader sources with the simulated compiler.
#include "harness.h"

#include <fstream>
#include <set>
#include <sstream>

extern "C" const mm_rt_module* mm_sim_test_kernels(void);  // kernels.metal, rewritten + compiled
extern "C" const mm_rt_module* mm_rt_builtin_gemm(void);   // shaders/gemm.metal, as linked in the library

namespace harness {

std::string g_kernels_source;
std::string g_gemm_source;

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A shader as Metal's run-time compiler must get it: quoted includes (from shaders/) inlined once each.
static std::string flatten(const std::string& file, std::set<std::string>& seen) {
  std::istringstream in(read_file((std::string(MM_SIM_TEST_ROOT "/shaders/") + file).c_str()));
  std::string out, line;
  while (std::getline(in, line)) {
    size_t q = line.find("#include \"");
    if (q != std::string::npos) {
      std::string name = line.substr(q + 10, line.find('"', q + 10) - q - 10);
      if (seen.insert(name).second) out += flatten(name, seen);
      continue;
    }
    out += line + "\n";
  }
  return out;
}

void register_sources() {
  g_kernels_source = read_file(MM_SIM_TEST_ROOT "/tests/native/metal_sim/kernels.metal");
  std::set<std::string> seen;
  g_gemm_source = flatten("gemm.metal", seen);
  mm_sim_register_module(g_kernels_source.data(), g_kernels_source.size(), mm_sim_test_kernels());
  mm_sim_register_module(g_gemm_source.data(), g_gemm_source.size(), mm_rt_builtin_gemm());
}

}  // namespace harness

int main(int argc, char** argv) {
  harness::register_sources();
  if (argc > 2 && std::strcmp(argv[1], "--child") == 0) {
    @autoreleasepool {
      return harness::run_child(argv[2]);
    }
  }
  const char* only = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (const harness::Case& c : harness::cases()) {
    if (only && std::strcmp(only, c.name) != 0) continue;
    int before = harness::failures();
    @autoreleasepool {
      c.fn();
    }
    std::string stray = harness::take_violations();
    if (!stray.empty()) {
      std::fprintf(stderr, "  FAILED %s: unexpected violations:\n%s", c.name, stray.c_str());
      ++harness::failures();
    }
    bool ok = harness::failures() == before;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
    (ok ? passed : failed)++;
  }
  // A leak or a zombie anywhere fails the run.
  long live = mm_sim_live_objects(1);
  if (live != 0) {
    std::printf("FAIL leak check: %ld simulated objects still alive\n", live);
    ++failed;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
