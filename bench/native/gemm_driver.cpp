// gemm_driver.cpp — runs one FP4 GEMM (gs 128) through the C ABI on the CPU runtime, for callgrind
// and wall-time measurements of the runtime without Bun/Deno in the profile.
// Build: bench/native/build.sh   Run: build/bench/gemm_driver M N K [threads] [reps]
// Prints one JSON line: shape, kernel, seconds per GEMM, and a checksum of C (same bits for any thread count).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../../csrc/include/metal_marlin.h"

static void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "%s failed (%d): %s\n", what, rc, mm_last_error());
    std::exit(1);
  }
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: gemm_driver M N K [threads] [reps]\n");
    return 2;
  }
  const uint32_t M = std::atoi(argv[1]), N = std::atoi(argv[2]), K = std::atoi(argv[3]);
  const uint32_t threads = argc > 4 ? std::atoi(argv[4]) : 1;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 1;
  const uint32_t gs = 128;
  mm_device dev;
  check(mm_device_open("cpu", threads, &dev), "mm_device_open");
  mm_buffer packed, scales, a, c;
  check(mm_buffer_alloc(dev, uint64_t(K / 8) * N * 4, &packed), "alloc packed");
  check(mm_buffer_alloc(dev, uint64_t(K / gs) * N * 2, &scales), "alloc scales");
  check(mm_buffer_alloc(dev, uint64_t(M) * K * 2, &a), "alloc a");
  check(mm_buffer_alloc(dev, uint64_t(M) * N * 2, &c), "alloc c");
  // Deterministic pseudo-random contents: codes from an LCG, scales 1/64, A in [-0.5, 0.5).
  uint32_t x = 12345;
  auto* pw = static_cast<uint32_t*>(mm_buffer_contents(packed));
  for (uint64_t i = 0; i < uint64_t(K / 8) * N; ++i) pw[i] = (x = x * 1664525u + 1013904223u);
  auto* ps = static_cast<_Float16*>(mm_buffer_contents(scales));
  for (uint64_t i = 0; i < uint64_t(K / gs) * N; ++i) ps[i] = _Float16(1.0f / 64);
  auto* pa = static_cast<_Float16*>(mm_buffer_contents(a));
  for (uint64_t i = 0; i < uint64_t(M) * K; ++i) pa[i] = _Float16(float((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f);
  mm_gemm_params p;
  std::memset(&p, 0, sizeof p);
  p.size = sizeof p;
  p.format = MM_FORMAT_FP4;
  p.group_size = gs;
  p.m = M, p.n = N, p.k = K, p.kp = K, p.np = N;
  p.batch = 1;
  p.packed = packed, p.scales = scales, p.a = a, p.c = c;
  mm_gemm_route_info r;
  std::memset(&r, 0, sizeof r);
  r.size = sizeof r;
  check(mm_gemm_route(dev, &p, &r), "mm_gemm_route");
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    check(mm_gemm(dev, &p), "mm_gemm");
    check(mm_device_synchronize(dev), "synchronize");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  uint64_t h = 1469598103934665603ull;  // FNV-1a of C's bytes
  const auto* pc = static_cast<const unsigned char*>(mm_buffer_contents(c));
  for (uint64_t i = 0; i < uint64_t(M) * N * 2; ++i) h = (h ^ pc[i]) * 1099511628211ull;
  std::printf("{\"m\":%u,\"n\":%u,\"k\":%u,\"threads\":%u,\"kernel\":\"%s\",\"seconds\":%.6f,\"checksum\":\"%016llx\"}\n",
              M, N, K, threads, r.kernel, best, static_cast<unsigned long long>(h));
  mm_device_close(dev);
  return 0;
}
