// backend_test.cpp — the Metal backend (csrc/metal/*.mm) on the simulated driver through the C ABI,
// built whole under TSan (and ASan) by tests/native/run-metal-backend.sh: GEMMs encoded from the host
// thread while the driver's queue thread runs them and its completion handlers count, with adverse
// scheduling, buffers freed while in flight, and a leak check at the end. First, the on-disk pipeline
// cache across processes: three children compile at the same time into an empty cache directory, then
// a fourth must find every pipeline there (none compiled) and no temp file may be left.
#include <dirent.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "metal_marlin.h"

extern "C" void mm_metal_sim_set_adverse(int32_t on);
extern "C" int64_t mm_metal_sim_live_objects(void);
extern "C" void mm_metal_sim_counters(uint64_t* out);
extern char** environ;

static int passed = 0, failed = 0;
#define CHECK(cond, ...)                              \
  do {                                                \
    if (cond) {                                       \
      ++passed;                                       \
    } else {                                          \
      ++failed;                                       \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      std::printf(__VA_ARGS__);                       \
      std::printf(" (%s)\n", mm_last_error());        \
    }                                                 \
  } while (0)

namespace {

constexpr uint32_t kK = 64, kN = 32;

struct Gemm {
  mm_buffer packed = 0, scales = 0, a = 0, c = 0;
};

// W = all 1.0 (FP4 code 2, scale 1.0), A = all 1.0: every output is K = 64 exactly.
int make(mm_device dev, uint32_t m, Gemm* g) {
  int rc = mm_buffer_alloc(dev, kK / 8 * kN * 4, &g->packed) | mm_buffer_alloc(dev, kK / 32 * kN * 2, &g->scales) |
           mm_buffer_alloc(dev, m * kK * 2, &g->a) | mm_buffer_alloc(dev, m * kN * 2, &g->c);
  if (rc) return rc;
  auto* w = static_cast<uint32_t*>(mm_buffer_contents(g->packed));
  for (uint32_t i = 0; i < kK / 8 * kN; ++i) w[i] = 0x22222222u;
  auto* s = static_cast<uint16_t*>(mm_buffer_contents(g->scales));
  for (uint32_t i = 0; i < kK / 32 * kN; ++i) s[i] = 0x3c00;
  auto* a = static_cast<uint16_t*>(mm_buffer_contents(g->a));
  for (uint32_t i = 0; i < m * kK; ++i) a[i] = 0x3c00;
  return 0;
}

int run(mm_device dev, uint32_t m, const Gemm& g) {
  mm_gemm_params p{};
  p.size = sizeof p;
  p.format = MM_FORMAT_FP4;
  p.group_size = 32;
  p.m = m, p.n = kN, p.k = kK, p.kp = kK, p.np = kN, p.batch = 1;
  p.packed = g.packed, p.scales = g.scales, p.a = g.a, p.c = g.c;
  p.split_k = 1;
  return mm_gemm(dev, &p);
}

void release(const Gemm& g) {
  mm_buffer_free(g.packed), mm_buffer_free(g.scales), mm_buffer_free(g.a), mm_buffer_free(g.c);
}

// A child process: one GEMM of each route on a fresh device; with `expect_hit`, every pipeline must
// come from the cache. Exit status 0 = as expected.
int cache_child(bool expect_hit) {
  mm_device dev = 0;
  if (mm_device_open("metal-sim", 0, &dev) != MM_OK) return 2;
  bool ok = true;
  for (uint32_t m : {1u, 5u, 20u}) {
    Gemm g;
    ok = ok && make(dev, m, &g) == MM_OK && run(dev, m, g) == MM_OK && mm_device_synchronize(dev) == MM_OK;
    auto* c = static_cast<const uint16_t*>(mm_buffer_contents(g.c));
    for (uint32_t i = 0; ok && i < m * kN; ++i) ok = c[i] == 0x5400;
    release(g);
  }
  mm_device_info info{};
  info.size = sizeof info;
  ok = ok && mm_device_info_get(dev, &info) == MM_OK;
  uint64_t n[12] = {};
  mm_metal_sim_counters(n);  // [9] pipelines compiled, [10] found in a binary archive
  if (expect_hit && (info.library_cache != MM_LIBRARY_CACHE_HIT || n[9] != 0 || n[10] == 0)) {
    std::printf("cache child: state %u, %llu pipelines compiled, %llu from the archive\n", info.library_cache,
                static_cast<unsigned long long>(n[9]), static_cast<unsigned long long>(n[10]));
    ok = false;
  }
  return mm_device_close(dev) == MM_OK && ok ? 0 : 1;
}

// Starts this program as `cache-child <mode>` (posix_spawn: safe in a process with threads).
pid_t spawn_child(const char* mode) {
  char self[] = "/proc/self/exe", arg1[] = "cache-child";
  char* argv[] = {self, arg1, const_cast<char*>(mode), nullptr};
  pid_t pid = -1;
  return posix_spawn(&pid, self, nullptr, nullptr, argv, environ) == 0 ? pid : -1;
}

bool child_ok(pid_t pid) {
  int status = 0;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void test_cache_across_processes() {
  char dir[] = "/tmp/mm-metal-cache-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr, "mkdtemp");
  setenv("MM_METAL_CACHE_DIR", dir, 1);
  pid_t writers[3];
  for (pid_t& p : writers) p = spawn_child("write");
  for (pid_t p : writers) CHECK(child_ok(p), "concurrent cold child %d", static_cast<int>(p));
  CHECK(child_ok(spawn_child("hit")), "a fresh process compiles nothing: every pipeline from the cache");
  int archives = 0, temps = 0;
  if (DIR* d = opendir(dir)) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      archives += name.find(".metalarchive") != std::string::npos && name.find(".tmp-") == std::string::npos;
      temps += name.find(".tmp-") != std::string::npos;
      if (name != "." && name != "..") unlink((std::string(dir) + "/" + name).c_str());
    }
    closedir(d);
  }
  CHECK(archives == 1 && temps == 0, "one archive (the built-in library's), no temp file: %d, %d", archives, temps);
  rmdir(dir);
  unsetenv("MM_METAL_CACHE_DIR");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "cache-child") == 0) return cache_child(std::strcmp(argv[2], "hit") == 0);
  test_cache_across_processes();
  mm_metal_sim_set_adverse(1);
  mm_device dev = 0;
  CHECK(mm_device_open("metal-sim", 0, &dev) == MM_OK, "open metal-sim");
  if (!dev) return 1;
  for (uint32_t round = 0; round < 12; ++round) {
    const uint32_t m = round % 3 == 0 ? 1 : round % 3 == 1 ? 5 : 20;  // gemv, small, tiled
    Gemm keep, drop;
    CHECK(make(dev, m, &keep) == MM_OK && make(dev, m, &drop) == MM_OK, "alloc round %u", round);
    for (int i = 0; i < 7; ++i) CHECK(run(dev, m, keep) == MM_OK && run(dev, m, drop) == MM_OK, "gemm round %u", round);
    release(drop);  // in flight: the command buffers keep its memory until they complete
    CHECK(mm_device_synchronize(dev) == MM_OK, "sync round %u", round);
    auto* c = static_cast<const uint16_t*>(mm_buffer_contents(keep.c));
    bool ok = true;
    for (uint32_t i = 0; i < m * kN; ++i) ok = ok && c[i] == 0x5400;  // 64.0 in f16
    CHECK(ok, "round %u M=%u: every output is 64 after the sync (c[0] = 0x%04x)", round, m, c[0]);
    release(keep);
  }
  uint64_t pending = 1;
  CHECK(mm_device_pending(dev, &pending) == MM_OK && pending == 0, "nothing pending after a sync (%llu)",
        static_cast<unsigned long long>(pending));
  CHECK(mm_device_close(dev) == MM_OK, "close");
  const int64_t live = mm_metal_sim_live_objects();
  CHECK(live == 0, "%lld simulated Metal objects leaked", static_cast<long long>(live));
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
