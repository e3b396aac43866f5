// scheduler_test.cpp — tests of the CPU runtime's scheduler and fibers with hand-written kernels
// that talk to the runtime only through rt_abi.h, as compiled shader modules do. No framework:
// every check counts; the last line is "N passed, M failed" and the exit code is non-zero on failure.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../csrc/cpu/instrument.h"
#include "../../csrc/cpu/scheduler.h"

#if defined(__SANITIZE_ADDRESS__)
#define MM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MM_TEST_ASAN 1
#endif
#endif
#ifndef MM_TEST_ASAN
#define MM_TEST_ASAN 0
#endif
#if MM_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif
#include "../../csrc/include/metal_marlin.h"

using mm::cpu::DispatchJob;
using mm::cpu::DispatchResult;
using mm::cpu::Scheduler;

static int g_pass = 0, g_fail = 0;
static const mm_rt_api* api = mm::cpu::runtime_api();

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (cond) {                                                 \
      ++g_pass;                                                 \
    } else {                                                    \
      ++g_fail;                                                 \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                 \
      std::printf("\n");                                        \
    }                                                           \
  } while (0)

static bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ---- shim-like helpers: what the header shim does for kernels ----------------------------------

static void op_sum(mm_rt_lane* const* lanes, uint32_t count) {
  uint32_t sum = 0;
  for (uint32_t k = 0; k < count; ++k) {
    uint32_t v;
    std::memcpy(&v, lanes[k]->simd_in, 4);
    sum += v;
  }
  for (uint32_t k = 0; k < count; ++k) {
    std::memcpy(lanes[k]->simd_out, &sum, 4);
    std::memcpy(lanes[k]->simd_out + 4, &count, 4);  // participants, for the tests
  }
}

// simd_shuffle: simd_in = {value, source lane}; a source that does not participate yields 0.
static void op_shuffle(mm_rt_lane* const* lanes, uint32_t count) {
  for (uint32_t k = 0; k < count; ++k) {
    uint32_t src, v = 0;
    std::memcpy(&src, lanes[k]->simd_in + 4, 4);
    for (uint32_t j = 0; j < count; ++j)
      if (lanes[j]->thread_index_in_simdgroup == src) std::memcpy(&v, lanes[j]->simd_in, 4);
    std::memcpy(lanes[k]->simd_out, &v, 4);
  }
}

static uint32_t simd_sum(mm_rt_lane* l, uint32_t v, uint32_t* count = nullptr, uint32_t line = __builtin_LINE()) {
  const mm_rt_site site{__FILE__, line, 0};
  std::memcpy(l->simd_in, &v, 4);
  api->simd_collective(l, &site, op_sum);
  uint32_t r;
  std::memcpy(&r, l->simd_out, 4);
  if (count) std::memcpy(count, l->simd_out + 4, 4);
  return r;
}

static uint32_t simd_shuffle(mm_rt_lane* l, uint32_t v, uint32_t src, uint32_t line = __builtin_LINE()) {
  const mm_rt_site site{__FILE__, line, 0};
  std::memcpy(l->simd_in, &v, 4);
  std::memcpy(l->simd_in + 4, &src, 4);
  api->simd_collective(l, &site, op_shuffle);
  uint32_t r;
  std::memcpy(&r, l->simd_out, 4);
  return r;
}

static void barrier(mm_rt_lane* l, uint32_t line = __builtin_LINE(), uint32_t flags = MM_RT_MEM_THREADGROUP) {
  const mm_rt_site site{__FILE__, line, 0};
  api->threadgroup_barrier(l, &site, flags);
}

static void simd_barrier(mm_rt_lane* l, uint32_t line = __builtin_LINE(), uint32_t flags = MM_RT_MEM_THREADGROUP) {
  const mm_rt_site site{__FILE__, line, 0};
  api->simdgroup_barrier(l, &site, flags);
}

template <class T>
static T* buf(mm_rt_lane* l, int i) {
  return static_cast<T*>(l->buffers[i]);
}

static mm_rt_kernel kernel(const char* name, void (*entry)(mm_rt_lane*), uint32_t n_tg_args = 0) {
  mm_rt_kernel k{};
  k.name = name;
  k.file = __FILE__;
  k.n_threadgroup_args = n_tg_args;
  k.max_threads_per_threadgroup = 1024;
  k.entry = entry;
  return k;
}

static DispatchJob job(const mm_rt_kernel* k, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t tx, uint32_t ty,
                       uint32_t tz) {
  DispatchJob j;
  j.kernel = k;
  j.grid[0] = gx, j.grid[1] = gy, j.grid[2] = gz;
  j.threadgroup[0] = tx, j.threadgroup[1] = ty, j.threadgroup[2] = tz;
  return j;
}

// ---- kernels and cases ------------------------------------------------------------------------

// Every position attribute, written to buffer 0 at the lane's linear grid index (24 words each).
static void k_positions(mm_rt_lane* l) {
  const uint32_t* g = l->thread_position_in_grid;
  const uint32_t* n = l->threads_per_grid;
  uint32_t* o = buf<uint32_t>(l, 0) + 24 * ((g[2] * n[1] + g[1]) * n[0] + g[0]);
  const uint32_t* arrays[6] = {l->thread_position_in_grid,   l->threadgroup_position_in_grid,
                               l->thread_position_in_threadgroup, l->threads_per_threadgroup,
                               l->threadgroups_per_grid,      l->threads_per_grid};
  for (int a = 0; a < 6; ++a)
    for (int d = 0; d < 3; ++d) *o++ = arrays[a][d];
  *o++ = l->thread_index_in_threadgroup;
  *o++ = l->simdgroup_index_in_threadgroup;
  *o++ = l->thread_index_in_simdgroup;
  *o++ = l->simdgroups_per_threadgroup;
  *o++ = l->threads_per_simdgroup;
  *o++ = 0xC0FFEE;
}

static void test_positions(Scheduler& s) {
  const mm_rt_kernel k = kernel("positions", k_positions);
  const uint32_t G[3] = {3, 2, 2}, T[3] = {4, 3, 3};  // 36 lanes: a full and a partial simdgroup
  std::vector<uint32_t> out(24 * 12 * 6 * 6, 0);
  DispatchJob j = job(&k, G[0], G[1], G[2], T[0], T[1], T[2]);
  j.buffers[0] = out.data();
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  int bad = 0;
  for (uint32_t z = 0; z < 6; ++z)
    for (uint32_t y = 0; y < 6; ++y)
      for (uint32_t x = 0; x < 12; ++x) {
        const uint32_t* o = &out[24 * ((z * 6 + y) * 12 + x)];
        const uint32_t gp[3] = {x, y, z}, tg[3] = {x / 4, y / 3, z / 3}, tp[3] = {x % 4, y % 3, z % 3};
        const uint32_t idx = (tp[2] * 3 + tp[1]) * 4 + tp[0];
        for (int d = 0; d < 3; ++d) {
          bad += o[d] != gp[d];
          bad += o[3 + d] != tg[d];
          bad += o[6 + d] != tp[d];
          bad += o[9 + d] != T[d];
          bad += o[12 + d] != G[d];
          bad += o[15 + d] != G[d] * T[d];
        }
        bad += o[18] != idx;
        bad += o[19] != idx / 32;
        bad += o[20] != idx % 32;
        bad += o[21] != 2;
        bad += o[22] != 32;
        bad += o[23] != 0xC0FFEE;
      }
  CHECK(bad == 0, "%d wrong position values", bad);
}

// Each lane writes its slot, waits, then reads every other lane's slot.
static void k_barrier_order(mm_rt_lane* l) {
  auto* shared = static_cast<uint32_t*>(api->threadgroup_alloc(l, 0, 64 * 4, 4));
  const uint32_t i = l->thread_index_in_threadgroup;
  shared[i] = i + 1;
  barrier(l);
  uint32_t sum = 0;
  for (uint32_t k = 0; k < 64; ++k) sum += shared[k];
  buf<uint32_t>(l, 0)[l->thread_position_in_grid[0]] = sum;
}

static void test_barrier_order(Scheduler& s) {
  const mm_rt_kernel k = kernel("barrier_order", k_barrier_order);
  std::vector<uint32_t> out(64 * 3, 0);
  DispatchJob j = job(&k, 3, 1, 1, 64, 1, 1);
  j.buffers[0] = out.data();
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  int bad = 0;
  for (uint32_t v : out) bad += v != 64 * 65 / 2;
  CHECK(bad == 0, "%d lanes read before all had written", bad);
  CHECK(r.threadgroup_bytes == 256, "threadgroup_bytes %u", r.threadgroup_bytes);
}

// Threadgroup memory (a body variable and a [[threadgroup(0)]] argument) is 0xFF at the start
// of every threadgroup and shared by its lanes.
static void k_tg_fresh(mm_rt_lane* l) {
  auto* var = static_cast<uint32_t*>(api->threadgroup_alloc(l, 0, 16 * 4, 16));
  auto* arg = static_cast<uint32_t*>(l->threadgroup_args[0]);
  const uint32_t i = l->thread_index_in_threadgroup, tg = l->threadgroup_position_in_grid[0];
  uint32_t* o = buf<uint32_t>(l, 0) + 2 * (tg * 16 + i);
  if (i == 0) {
    uint32_t fresh = 1;
    for (int k = 0; k < 16; ++k) fresh &= var[k] == 0xFFFFFFFFu && arg[k] == 0xFFFFFFFFu;
    buf<uint32_t>(l, 1)[tg] = fresh;
    var[5] = 1000 + tg;
    arg[7] = 2000 + tg;
  }
  barrier(l);
  o[0] = var[5];
  o[1] = arg[7];
}

static void test_tg_memory_fresh(Scheduler& s) {
  const mm_rt_kernel k = kernel("tg_fresh", k_tg_fresh, 1);
  std::vector<uint32_t> out(2 * 16 * 8, 0), fresh(8, 0);
  DispatchJob j = job(&k, 8, 1, 1, 16, 1, 1);
  j.buffers[0] = out.data();
  j.buffers[1] = fresh.data();
  j.threadgroup_arg_bytes[0] = 64;
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  int bad = 0;
  for (uint32_t tg = 0; tg < 8; ++tg) {
    bad += fresh[tg] != 1;
    for (uint32_t i = 0; i < 16; ++i) bad += out[2 * (tg * 16 + i)] != 1000 + tg || out[2 * (tg * 16 + i) + 1] != 2000 + tg;
  }
  CHECK(bad == 0, "%d wrong threadgroup memory values", bad);
  CHECK(r.threadgroup_bytes == 128, "threadgroup_bytes %u (64 static + 64 dynamic)", r.threadgroup_bytes);
}

// Even lanes sum at one site, odd lanes at another: they must meet apart.
static void k_divergent(mm_rt_lane* l) {
  const uint32_t i = l->thread_index_in_threadgroup;
  uint32_t count = 0, r;
  if (i % 2 == 0)
    r = simd_sum(l, i, &count);
  else
    r = simd_sum(l, i * 10, &count);
  buf<uint32_t>(l, 0)[2 * i] = r;
  buf<uint32_t>(l, 0)[2 * i + 1] = count;
}

static void test_divergent_simd(Scheduler& s) {
  const mm_rt_kernel k = kernel("divergent", k_divergent);
  std::vector<uint32_t> out(2 * 72, 0);
  DispatchJob j = job(&k, 1, 1, 1, 72, 1, 1);  // simdgroups of 32, 32 and 8 lanes
  j.buffers[0] = out.data();
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  int bad = 0;
  for (uint32_t i = 0; i < 72; ++i) {
    const uint32_t base = i / 32 * 32, end = base + 32 < 72 ? base + 32 : 72;
    uint32_t want = 0, n = 0;
    for (uint32_t k2 = base; k2 < end; ++k2)
      if (k2 % 2 == i % 2) want += i % 2 ? k2 * 10 : k2, ++n;
    bad += out[2 * i] != want || out[2 * i + 1] != n;
  }
  CHECK(bad == 0, "%d lanes got a wrong divergent simd_sum", bad);
}

// Lane i runs (i % 4) + 1 iterations with a collective inside: iteration t sees only the lanes
// still looping. Then a shuffle-down in a simdgroup barrier-separated step.
static void k_loop(mm_rt_lane* l) {
  const uint32_t i = l->thread_index_in_threadgroup;
  uint32_t acc = 0;
  for (uint32_t t = 0; t < i % 4 + 1; ++t) {
    uint32_t count = 0;
    simd_sum(l, 1, &count);
    acc = acc * 100 + count;
  }
  buf<uint32_t>(l, 0)[i] = acc;
}

static void test_loop_collective(Scheduler& s) {
  const mm_rt_kernel k = kernel("loop", k_loop);
  std::vector<uint32_t> out(64, 0);
  DispatchJob j = job(&k, 1, 1, 1, 64, 1, 1);
  j.buffers[0] = out.data();
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  int bad = 0;
  for (uint32_t i = 0; i < 64; ++i) {
    uint32_t want = 0;
    for (uint32_t t = 0; t < i % 4 + 1; ++t) want = want * 100 + 8 * (4 - t);  // 32, 24, 16, 8 lanes
    bad += out[i] != want;
  }
  CHECK(bad == 0, "%d lanes saw wrong participant counts in the loop", bad);
}

static void k_shuffle(mm_rt_lane* l) {
  const uint32_t i = l->thread_index_in_threadgroup, s = l->thread_index_in_simdgroup;
  buf<uint32_t>(l, 0)[i] = simd_shuffle(l, i * 3, (s + 1) % 32);
  simd_barrier(l);
  buf<uint32_t>(l, 1)[i] = simd_shuffle(l, i * 5, 31 - s);
}

static void test_shuffle(Scheduler& s) {
  const mm_rt_kernel k = kernel("shuffle", k_shuffle);
  std::vector<uint32_t> a(64, 0), b(64, 0);
  DispatchJob j = job(&k, 1, 1, 1, 64, 1, 1);
  j.buffers[0] = a.data();
  j.buffers[1] = b.data();
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  int bad = 0;
  for (uint32_t i = 0; i < 64; ++i) {
    const uint32_t base = i / 32 * 32;
    bad += a[i] != (base + (i + 1) % 32) * 3;
    bad += b[i] != (base + 31 - i % 32) * 5;
  }
  CHECK(bad == 0, "%d wrong shuffles", bad);
}



// Lanes 0-31 and 32-63 wait at different barriers.
static uint32_t g_line_a, g_line_b;
static void k_deadlock(mm_rt_lane* l) {
  if (l->thread_index_in_threadgroup < 32) {
    g_line_a = __LINE__ + 1;
    barrier(l);
  } else {
    g_line_b = __LINE__ + 1;
    barrier(l);
  }
}

static void test_deadlock(Scheduler& s) {
  const mm_rt_kernel k = kernel("deadlock_kernel", k_deadlock);
  DispatchJob j = job(&k, 2, 1, 1, 64, 1, 1);
  DispatchResult r = s.run(j);
  CHECK(r.code == MM_E_DEADLOCK, "code %d", r.code);
  const std::string a = "scheduler_test.cpp:" + std::to_string(g_line_a);
  const std::string b = "scheduler_test.cpp:" + std::to_string(g_line_b);
  CHECK(has(r.message, "kernel deadlock_kernel") && has(r.message, "lanes 0-31 wait at") && has(r.message, a) &&
            has(r.message, "lanes 32-63 wait at") && has(r.message, b) && has(r.message, "threadgroup (0,0,0)"),
        "message: %s", r.message.c_str());
}

static uint32_t g_line_partial;
static void k_partial(mm_rt_lane* l) {
  if (l->thread_index_in_threadgroup >= 48) return;
  g_line_partial = __LINE__ + 1;
  barrier(l);
}

static void test_partial_barrier(Scheduler& s) {
  const mm_rt_kernel k = kernel("partial", k_partial);
  DispatchResult r = s.run(job(&k, 1, 1, 1, 64, 1, 1));
  CHECK(r.code == MM_E_BARRIER, "code %d", r.code);
  const std::string at = "scheduler_test.cpp:" + std::to_string(g_line_partial);
  CHECK(has(r.message, "kernel partial: threadgroup_barrier at ") && has(r.message, at) &&
            has(r.message, "reached by 48 of 64 lanes (lanes 48-63 returned first)"),
        "message: %s", r.message.c_str());
}

static void k_big_tg(mm_rt_lane* l) {
  api->threadgroup_alloc(l, 0, 8192, 16);
  api->threadgroup_alloc(l, 1, *buf<uint32_t>(l, 0), 16);
}

static void test_tg_limit(Scheduler& s) {
  const mm_rt_kernel k = kernel("big_tg", k_big_tg, 1);
  uint32_t second = 8192;
  DispatchJob j = job(&k, 4, 1, 1, 32, 1, 1);
  j.buffers[0] = &second;
  j.threadgroup_arg_bytes[0] = 16384;
  DispatchResult r = s.run(j);
  CHECK(r.code == 0 && r.threadgroup_bytes == 32768, "code %d bytes %u: %s", r.code, r.threadgroup_bytes,
        r.message.c_str());
  second = 8193;
  r = s.run(j);
  CHECK(r.code == MM_E_LIMIT, "code %d", r.code);
  CHECK(has(r.message, "kernel big_tg") && has(r.message, "8193") && has(r.message, "32769") &&
            has(r.message, "32768"),
        "message: %s", r.message.c_str());
  j.threadgroup_arg_bytes[0] = 40000;
  r = s.run(j);
  CHECK(r.code == MM_E_LIMIT && has(r.message, "40000") && has(r.message, "32768"), "code %d: %s", r.code,
        r.message.c_str());
}

// simdgroup_matrix memo: 4 uniform multiplies (inputs differ between simdgroups, not lanes). Output
// per lane: fresh flags, whether it saw the right result, and block identity vs lane 0 (buffer 1).
static const mm_rt_site kMemoSite{"memo.metal", 12, 5};
static void k_memo(mm_rt_lane* l) {
  const uint32_t i = l->thread_index_in_threadgroup;
  uint32_t* o = buf<uint32_t>(l, 0) + 8 * i;
  void** blocks = buf<void*>(l, 1) + 4 * i;
  for (uint32_t m = 0; m < 4; ++m) {
    uint32_t in[4] = {m, m + 1, m + 2, l->simdgroup_index_in_threadgroup};
    int fresh = -1;
    auto* out = static_cast<uint32_t*>(api->matrix_memo(l, in, sizeof in, 8, &fresh, &kMemoSite));
    if (fresh) out[0] = in[0] + in[1] + in[2] + in[3], out[1] = i;
    o[m] = static_cast<uint32_t>(fresh);
    o[4 + m] = out[0] == in[0] + in[1] + in[2] + in[3];
    blocks[m] = out;
    api->matrix_memo_done(l, out);
    l->matrix_seq++;
    if (m == 1) simd_barrier(l);  // entries outlive a rendezvous
  }
}

static void test_matrix_memo(Scheduler& s) {
  const mm_rt_kernel k = kernel("memo", k_memo);
  std::vector<uint32_t> out(8 * 64, 0);
  std::vector<void*> blocks(4 * 64, nullptr);
  DispatchJob j = job(&k, 1, 1, 1, 64, 1, 1);
  j.buffers[0] = out.data();
  j.buffers[1] = blocks.data();
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  int fresh_bad = 0, value_bad = 0, share_bad = 0;
  for (uint32_t i = 0; i < 64; ++i) {
    const uint32_t lead = i / 32 * 32;
    for (uint32_t m = 0; m < 4; ++m) {
      fresh_bad += out[8 * i + m] != (i == lead ? 1u : 0u);
      value_bad += out[8 * i + 4 + m] != 1;
      share_bad += blocks[4 * i + m] != blocks[4 * lead + m];
    }
  }
  CHECK(fresh_bad == 0, "%d wrong fresh flags", fresh_bad);
  CHECK(value_bad == 0, "%d wrong memo results", value_bad);
  CHECK(share_bad == 0, "%d wrong block sharing", share_bad);
  CHECK(blocks[0] != blocks[4 * 32], "simdgroups 0 and 1 share a memo block");
}

// Lane-dependent memo inputs are undefined on a GPU: the dispatch fails naming the site and lanes.
// Mode 0: lane 5 brings other bytes to the 2nd multiply. Mode 1: the same bytes but from another
// site (a lane-dependent branch). Mode 2: lane 5 skips the 1st multiply (out of step).
static uint32_t g_memo_mode = 0;
static void k_memo_nonuniform(mm_rt_lane* l) {
  const uint32_t i = l->thread_index_in_threadgroup;
  static const mm_rt_site other{"memo.metal", 20, 5};
  for (uint32_t m = 0; m < 3; ++m) {
    if (g_memo_mode == 2 && m == 0 && i % 32 == 5) continue;
    const bool odd = g_memo_mode != 2 && m == 1 && i % 32 == 5;
    uint32_t in[4] = {odd ? 77 : m, 1, 2, 3};
    const mm_rt_site* site = odd && g_memo_mode == 1 ? &other : &kMemoSite;
    int fresh = -1;
    l->matrix_seq++;
    void* out = api->matrix_memo(l, in, sizeof in, 8, &fresh, site);
    if (fresh) std::memset(out, 0, 8);
    api->matrix_memo_done(l, out);
  }
  buf<uint32_t>(l, 0)[i] = 1;
}

static void test_matrix_memo_nonuniform(Scheduler& s) {
  const mm_rt_kernel k = kernel("memo_nonuniform", k_memo_nonuniform);
  std::vector<uint32_t> out(64, 0);
  DispatchJob j = job(&k, 2, 1, 1, 64, 1, 1);
  j.buffers[0] = out.data();
  g_memo_mode = 0;
  DispatchResult r = s.run(j);
  CHECK(r.code == MM_E_NONUNIFORM &&
            has(r.message, "kernel memo_nonuniform: simdgroup matrix multiply at memo.metal:12: lanes 0 and 5 of "
                           "simdgroup 0 hold different matrices (simdgroup_load must get the same pointer in every "
                           "lane) in threadgroup (0,0,0)"),
        "code %d: %s", r.code, r.message.c_str());
  g_memo_mode = 1;
  r = s.run(j);
  CHECK(r.code == MM_E_NONUNIFORM && has(r.message, "at memo.metal:20: lanes 0 and 5 of simdgroup 0") &&
            has(r.message, "lane 0 multiplied at memo.metal:12: keep simdgroup_matrix operations out of lane-dependent"),
        "code %d: %s", r.code, r.message.c_str());
  g_memo_mode = 2;
  r = s.run(j);
  CHECK(r.code == MM_E_NONUNIFORM && has(r.message, "of simdgroup 0"), "code %d: %s", r.code, r.message.c_str());
  g_memo_mode = 0;
}

// Simd sums, a barrier and threadgroup memory; the output must not depend on the worker count.
static void k_mix(mm_rt_lane* l) {
  auto* t = static_cast<uint32_t*>(api->threadgroup_alloc(l, 0, 96 * 4, 4));
  const uint32_t i = l->thread_index_in_threadgroup, g = l->threadgroup_position_in_grid[0];
  const uint32_t v = (g * 2654435761u) ^ (i * 40503u);
  t[i] = simd_sum(l, v) + (i % 3 == 0 ? simd_sum(l, i) : 0);
  barrier(l);
  buf<uint32_t>(l, 0)[g * 96 + i] = t[(i + 37) % 96] * 31 + t[i];
  if (g == 37 || g == 150) {
    const mm_rt_site site{__FILE__, 4242, 0};
    if (i == 50) api->fail(l, MM_E_BOUNDS, (g == 37 ? "planted fail 37" : "planted fail 150"), &site);
  }
}

static void test_determinism() {
  const mm_rt_kernel k = kernel("mix", k_mix);
  std::vector<uint32_t> ref;
  for (uint32_t threads : {1u, 2u, 2u, 1u}) {
    Scheduler s(threads);
    std::vector<uint32_t> out(96 * 200, 0);
    DispatchJob j = job(&k, 200, 1, 1, 96, 1, 1);
    j.buffers[0] = out.data();
    j.grid[0] = 30;  // below the planted failures
    DispatchResult r = s.run(j);
    CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
    if (ref.empty()) ref = out;
    CHECK(out == ref, "%u threads: output differs", threads);
    j.grid[0] = 200;
    for (int rep = 0; rep < 3; ++rep) {
      r = s.run(j);
      CHECK(r.code == MM_E_BOUNDS && has(r.message, "kernel mix: planted fail 37 at ") &&
                has(r.message, "scheduler_test.cpp:4242") && has(r.message, "(37,0,0)"),
            "%u threads: code %d: %s", threads, r.code, r.message.c_str());
    }
    out.assign(out.size(), 0);  // the pool still works after aborted dispatches
    j.grid[0] = 30;
    r = s.run(j);
    CHECK(r.code == 0 && std::equal(ref.begin(), ref.begin() + 96 * 30, out.begin()), "rerun after abort: %d",
          r.code);
  }
}

// Threadgroup 0 fails late (after many barriers), threadgroup 1 at once: with 2 workers tg 1
// usually reports first, but the lowest failing id must win for any worker count.
static void k_late_fail(mm_rt_lane* l) {
  const uint32_t g = l->threadgroup_position_in_grid[0];
  if (g == 0)
    for (int k = 0; k < 2000; ++k) barrier(l);
  if (g <= 1 && l->thread_index_in_threadgroup == 3) {
    const mm_rt_site site{"late.metal", 10 + g, 0};
    api->fail(l, g == 0 ? MM_E_BOUNDS : MM_E_RACE, g == 0 ? "late" : "early", &site);
  }
}

static void test_lowest_error_wins() {
  const mm_rt_kernel k = kernel("late_fail", k_late_fail);
  for (uint32_t threads : {1u, 2u}) {
    Scheduler s(threads);
    for (int rep = 0; rep < 3; ++rep) {
      DispatchResult r = s.run(job(&k, 8, 1, 1, 32, 1, 1));
      CHECK(r.code == MM_E_BOUNDS && r.message == "kernel late_fail: late at late.metal:10 in threadgroup (0,0,0)",
            "%u threads: code %d: %s", threads, r.code, r.message.c_str());
    }
  }
}

// Lanes abandoned deep inside frames with ASan redzones, then a kernel with a big flat frame
// reuses those stacks: stale poison must have been cleared (an ASan build reports it otherwise).
static __attribute__((noinline)) void deep_block(mm_rt_lane* l, int depth) {
  volatile char pad[200];
  pad[0] = static_cast<char>(depth);
  if (depth > 0)
    deep_block(l, depth - 1);
  else if (l->thread_index_in_threadgroup < 16)
    barrier(l);
  else
    barrier(l);
  (void)pad[0];
}

static void k_deep(mm_rt_lane* l) { deep_block(l, 20); }

// ASan resets shadow for each new instrumented frame, so stale redzones rarely show as reports;
// probe the unused part of the reused stack directly instead.
static void k_probe(mm_rt_lane* l) {
  volatile char here[64];
  here[0] = 1;
  uint32_t poisoned = 0;
#if MM_TEST_ASAN
  const char* below = const_cast<const char*>(here) - 12000;
  poisoned = __asan_region_is_poisoned(const_cast<char*>(below), 11000) != nullptr;
#endif
  buf<uint32_t>(l, 0)[l->thread_position_in_grid[0]] = poisoned + here[0];
}

static void test_abandoned_stack_reuse() {
  Scheduler s(1);
  const mm_rt_kernel deep = kernel("deep", k_deep), probe = kernel("probe", k_probe);
  DispatchResult r = s.run(job(&deep, 1, 1, 1, 32, 1, 1));
  CHECK(r.code == MM_E_DEADLOCK, "code %d: %s", r.code, r.message.c_str());
  std::vector<uint32_t> out(64, 0);
  DispatchJob j = job(&probe, 2, 1, 1, 32, 1, 1);
  j.buffers[0] = out.data();
  r = s.run(j);
  int bad = 0;
  for (uint32_t v : out) bad += v != 1;
  CHECK(r.code == 0 && bad == 0, "code %d, %d lanes found stale poison on their stack", r.code, bad);
}

static void k_atomic2(mm_rt_lane* l) {
  __atomic_fetch_add(buf<uint64_t>(l, 0), 1, __ATOMIC_RELAXED);
  barrier(l);
  const uint32_t n = simd_sum(l, 1);
  if (l->thread_index_in_simdgroup == 0) __atomic_fetch_add(buf<uint64_t>(l, 0) + 1, n, __ATOMIC_RELAXED);
}

static void test_device_atomics() {
  Scheduler s(2);
  const mm_rt_kernel k = kernel("atomic", k_atomic2);
  uint64_t counters[2] = {0, 0};
  DispatchJob j = job(&k, 25, 20, 1, 64, 1, 1);
  j.buffers[0] = counters;
  DispatchResult r = s.run(j);
  CHECK(r.code == 0, "code %d: %s", r.code, r.message.c_str());
  CHECK(counters[0] == 500 * 64 && counters[1] == 500 * 64, "counters %llu %llu",
        static_cast<unsigned long long>(counters[0]), static_cast<unsigned long long>(counters[1]));
}

static void test_pingpong() {
  mm::cpu::fiber_pingpong(1000);  // warm-up
  const uint32_t n = 2000000;
  const auto t0 = std::chrono::steady_clock::now();
  mm::cpu::fiber_pingpong(n);
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fiber_pingpong: %.1f ns per switch (%u switches)\n", ns / n, n);
  ++g_pass;  // reaching here means 2M switches returned to the caller
}

// Race mode orders only the address spaces a barrier's flags name. Each lane writes its slot, passes
// a barrier (threadgroup or simdgroup) with g_race.flags and reads its neighbour's slot, in threadgroup
// or device memory. The accesses are reported as an instrumented module would.
static struct {
  bool device, simd;
  uint32_t flags;
} g_race;
static const char g_pc_write = 0, g_pc_read = 0;  // fake sites: only their addresses matter
static void k_race_flags(mm_rt_lane* l) {
  const uint32_t i = l->thread_index_in_threadgroup, n = l->threads_per_threadgroup[0];
  uint32_t* mem = g_race.device ? buf<uint32_t>(l, 0) + l->threadgroup_position_in_grid[0] * n
                                : static_cast<uint32_t*>(api->threadgroup_alloc(l, 0, 64 * 4, 4));
  mem[i] = i;
  api->instr_access(l, &mem[i], 4, MM_RT_ACCESS_STORE, &g_pc_write);
  if (g_race.simd) simd_barrier(l, __LINE__, g_race.flags);
  else barrier(l, __LINE__, g_race.flags);
  const uint32_t j = i / 32 * 32 + (i + 1) % 32;  // neighbour within the simdgroup
  buf<uint32_t>(l, 1)[l->thread_position_in_grid[0]] = mem[j];
  api->instr_access(l, &mem[j], 4, MM_RT_ACCESS_LOAD, &g_pc_read);
}

static void test_race_barrier_flags(Scheduler& s) {
  const mm_rt_kernel k = kernel("race_flags", k_race_flags);
  std::vector<uint32_t> dev(128, 0), out(128, 0);
  const uint32_t kDev = MM_RT_MEM_DEVICE, kTg = MM_RT_MEM_THREADGROUP;
  struct Case {
    bool device, simd;
    uint32_t flags;
    int want;
  } cases[] = {
      {false, false, MM_RT_MEM_NONE, MM_E_RACE}, {false, false, kDev, MM_E_RACE}, {false, false, kTg, 0},
      {false, false, kTg | kDev, 0},             {true, false, kTg, MM_E_RACE},   {true, false, kDev, 0},
      {false, true, kDev, MM_E_RACE},            {false, true, kTg, 0},           {true, true, kTg, MM_E_RACE},
      {true, true, kDev, 0},                     {false, false, MM_RT_MEM_TEXTURE, MM_E_RACE},
  };
  for (const Case& c : cases) {
    g_race = {c.device, c.simd, c.flags};
    mm::cpu::Instrument inst(mm::cpu::InstrumentMode::Race);
    DispatchJob j = job(&k, 2, 1, 1, 64, 1, 1);
    j.buffers[0] = dev.data();
    j.buffers[1] = out.data();
    j.buffer_lengths[0] = dev.size() * 4;
    j.buffer_lengths[1] = out.size() * 4;
    j.instrument = &inst;
    DispatchResult r = s.run(j);
    const char* space = c.device ? "device memory race" : "threadgroup memory race";
    CHECK(r.code == c.want && (c.want == 0 || has(r.message, space)),
          "%s memory, %s barrier flags %u: code %d (want %d): %s", c.device ? "device" : "threadgroup",
          c.simd ? "simdgroup" : "threadgroup", c.flags, r.code, c.want, r.message.c_str());
  }
}

static void run_all_cases() {
  Scheduler s(2);
  CHECK(api->version == MM_RT_ABI_VERSION, "api version %u", api->version);
  CHECK(s.threads() == 2, "threads %u", s.threads());
  test_positions(s);
  test_barrier_order(s);
  test_tg_memory_fresh(s);
  test_divergent_simd(s);
  test_loop_collective(s);
  test_shuffle(s);
  test_deadlock(s);
  test_partial_barrier(s);
  test_tg_limit(s);
  test_matrix_memo(s);
  test_matrix_memo_nonuniform(s);
  test_race_barrier_flags(s);
  test_positions(s);  // after failed dispatches everything still works
  test_determinism();
  test_device_atomics();
  test_lowest_error_wins();
  test_abandoned_stack_reuse();
  test_pingpong();
}

int main() {
  run_all_cases();
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
