// gemm_native.cpp — the native baseline the CPU shader runtime is measured against: a plain,
// single-threaded C++ FP4 (E2M1, gs 128) GEMM/GEMV on the project's layout (packed [K/8, N] uint32,
// lowest k in the lowest nibble; scales [K/gs, N] fp16), built with -O2 -march=native. No intrinsics:
// it is what a straightforward native kernel gets from the compiler's vectoriser on the same machine.
// Build: bench/native/build.sh   Run: build/bench/gemm_native M N K [reps]   (prints one JSON line)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

static const float kE2M1[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
constexpr uint32_t kGs = 128, kCols = 64;  // column block: the accumulators stay in L1

// C[M, N] = A[M, K] * dequant(W). Per column block: each packed word is decoded once into a K-row of
// 8 x kCols floats, then applied to every row of A (vectorised over the columns).
static void gemm(uint32_t M, uint32_t N, uint32_t K, const uint32_t* packed, const _Float16* scales,
                 const _Float16* a, _Float16* c) {
  std::vector<float> acc(size_t(M) * kCols), w(8 * kCols), af(size_t(M) * K);
  for (size_t i = 0; i < af.size(); ++i) af[i] = float(a[i]);
  for (uint32_t n0 = 0; n0 < N; n0 += kCols) {
    const uint32_t nc = N - n0 < kCols ? N - n0 : kCols;
    for (auto& v : acc) v = 0;
    for (uint32_t kw = 0; kw < K / 8; ++kw) {
      const uint32_t g = kw * 8 / kGs;
      for (uint32_t n = 0; n < nc; ++n) {
        const uint32_t word = packed[size_t(kw) * N + n0 + n];
        const float s = float(scales[size_t(g) * N + n0 + n]);
        for (uint32_t i = 0; i < 8; ++i) w[i * kCols + n] = kE2M1[(word >> (4 * i)) & 15] * s;
      }
      for (uint32_t m = 0; m < M; ++m) {
        float* am = &acc[size_t(m) * kCols];
        const float* x = &af[size_t(m) * K + kw * 8];
        for (uint32_t i = 0; i < 8; ++i)
          for (uint32_t n = 0; n < kCols; ++n) am[n] += x[i] * w[i * kCols + n];
      }
    }
    for (uint32_t m = 0; m < M; ++m)
      for (uint32_t n = 0; n < nc; ++n) c[size_t(m) * N + n0 + n] = _Float16(acc[size_t(m) * kCols + n]);
  }
}

// M = 1: per packed row, a 4 x 256 table of byte-pair products (lut[lo] * x[2j] + lut[hi] * x[2j + 1])
// turns a word into 4 lookups and 3 adds; the scale multiplies the word's sum.
static void gemv(uint32_t N, uint32_t K, const uint32_t* packed, const _Float16* scales, const _Float16* a,
                 _Float16* c) {
  std::vector<float> acc(N, 0.0f), t(4 * 256);
  for (uint32_t kw = 0; kw < K / 8; ++kw) {
    float x[8];
    for (uint32_t i = 0; i < 8; ++i) x[i] = float(a[kw * 8 + i]);
    for (uint32_t j = 0; j < 4; ++j)
      for (uint32_t b = 0; b < 256; ++b) t[j * 256 + b] = kE2M1[b & 15] * x[2 * j] + kE2M1[b >> 4] * x[2 * j + 1];
    const uint32_t* row = packed + size_t(kw) * N;
    const _Float16* srow = scales + size_t(kw * 8 / kGs) * N;
    for (uint32_t n = 0; n < N; ++n) {
      const uint32_t w = row[n];
      const float v = (t[w & 255] + t[256 + ((w >> 8) & 255)]) + (t[512 + ((w >> 16) & 255)] + t[768 + (w >> 24)]);
      acc[n] += v * float(srow[n]);
    }
  }
  for (uint32_t n = 0; n < N; ++n) c[n] = _Float16(acc[n]);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: gemm_native M N K [reps]\n");
    return 2;
  }
  const uint32_t M = std::atoi(argv[1]), N = std::atoi(argv[2]), K = std::atoi(argv[3]);
  const int reps = argc > 4 ? std::atoi(argv[4]) : 1;
  std::vector<uint32_t> packed(size_t(K / 8) * N);
  std::vector<_Float16> scales(size_t(K / kGs) * N, _Float16(1.0f / 64)), a(size_t(M) * K), c(size_t(M) * N);
  uint32_t x = 12345;  // same contents as gemm_driver.cpp
  for (auto& v : packed) v = (x = x * 1664525u + 1013904223u);
  for (auto& v : a) v = _Float16(float((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    if (M == 1) gemv(N, K, packed.data(), scales.data(), a.data(), c.data());
    else gemm(M, N, K, packed.data(), scales.data(), a.data(), c.data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  float sum = 0;
  for (auto v : c) sum += float(v);
  std::printf("{\"m\":%u,\"n\":%u,\"k\":%u,\"threads\":1,\"kernel\":\"native\",\"seconds\":%.6f,\"sum\":%.4f}\n", M, N,
              K, best, sum);
  return 0;
}
