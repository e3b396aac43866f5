// shim_test.cpp — compile-and-run checks of csrc/cpu/shim/ without the scheduler: a fake api table
// runs every collective with a single lane (plus direct calls of the op functions with synthetic
// lanes), matrix_memo always says fresh. Built by tests/native/run-shim-test.sh with g++ and
// clang++ (ASan + UBSan). Prints "N passed, M failed"; exits non-zero on any failure.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mm_shim.h"

using namespace metal;

static int g_passed = 0, g_failed = 0;
#define CHECK(cond)                                                             \
  do {                                                                          \
    if (cond) {                                                                 \
      g_passed++;                                                               \
    } else {                                                                    \
      g_failed++;                                                               \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
    }                                                                           \
  } while (0)
#define CHECK_NEAR(a, b, tol) CHECK(__builtin_fabs(double(a) - double(b)) <= double(tol))

// ---- fake runtime: one lane, records the last site it was called with ----
namespace fake {
mm_rt_lane lane_a, lane_b;  // lane_b plays "another fiber" that ran while lane_a waited
mm_rt_site last_site, memo_site;
uint32_t last_flags = ~0u;
int barrier_calls, memo_calls, memo_done_calls;
int memo_fresh = 1;
alignas(64) unsigned char memo_block[1024];
void* tg_blocks[8];

void record(mm_rt_lane*, const mm_rt_site* s, uint32_t flags) {
  last_site = *s;
  last_flags = flags;
  barrier_calls++;
  mm_shim::enter(&lane_b);  // a real scheduler switches fibers here; the shim must re-enter
}
void collective(mm_rt_lane* lane, const mm_rt_site* s, mm_rt_simd_op op) {
  last_site = *s;
  mm_rt_lane* one[1] = {lane};
  op(one, 1);
  mm_shim::enter(&lane_b);
}
void* tg_alloc(mm_rt_lane*, uint32_t slot, uint32_t bytes, uint32_t align) {
  if (tg_blocks[slot] == nullptr) {
    tg_blocks[slot] = std::aligned_alloc(align < 16 ? 16 : align, (bytes + 63) / 64 * 64);
    std::memset(tg_blocks[slot], 0xFF, bytes);
  }
  mm_shim::enter(&lane_b);
  return tg_blocks[slot];
}
void* memo(mm_rt_lane*, const void*, uint32_t in_bytes, uint32_t out_bytes, int* fresh, const mm_rt_site* s) {
  memo_calls++;
  memo_site = *s;
  *fresh = memo_fresh;
  if (in_bytes > 3 * 256 || out_bytes > sizeof(memo_block)) std::abort();
  mm_shim::enter(&lane_b);
  return memo_block;
}
void memo_done(mm_rt_lane*, void*) { memo_done_calls++; }
[[noreturn]] void fail(mm_rt_lane*, int, const char* msg, const mm_rt_site*) {
  std::printf("runtime fail: %s\n", msg);
  std::abort();
}
// instr_access / instr_block (appended for trace and race mode) are unused by a plain shim: null.
const mm_rt_api api = {MM_RT_ABI_VERSION, record, record, collective, tg_alloc, memo, memo_done, fail, nullptr, nullptr};
}  // namespace fake

// ---- layout ----
static_assert(sizeof(float4) == 16 && alignof(float4) == 16);
static_assert(sizeof(float3) == 16 && alignof(float3) == 16);
static_assert(sizeof(float2) == 8 && alignof(float2) == 8);
static_assert(sizeof(half2) == 4 && alignof(half2) == 4);
static_assert(sizeof(half3) == 8 && alignof(half3) == 8);
static_assert(sizeof(half4) == 8 && alignof(half4) == 8);
static_assert(sizeof(uchar4) == 4 && sizeof(ushort2) == 4 && sizeof(int3) == 16 && sizeof(ulong2) == 16);
static_assert(sizeof(bool4) == 4);
static_assert(sizeof(atomic_uint) == 4 && sizeof(simdgroup_float8x8) == 256 && sizeof(simdgroup_half8x8) == 128);
static_assert(std::is_trivially_copy_constructible_v<float4> && std::is_trivially_destructible_v<half4>);
static_assert(std::is_same_v<::float4, metal::float4> && std::is_same_v<half, _Float16>);
static_assert(mm_shim::dtype_of<half>() == MM_DTYPE_F16 && mm_shim::dtype_of<const float>() == MM_DTYPE_F32);
static_assert(mm_shim::dtype_of<uint4>() == MM_DTYPE_U32 && mm_shim::dtype_of<atomic_int>() == MM_DTYPE_I32);
static_assert(mm_shim::dtype_of<ushort>() == MM_DTYPE_U16 && mm_shim::dtype_of<char>() == MM_DTYPE_I8);
static_assert(mm_shim::dtype_of<uchar2>() == MM_DTYPE_U8 && mm_shim::dtype_of<short>() == MM_DTYPE_I16);
struct SomeParams { uint a; };
static_assert(mm_shim::dtype_of<SomeParams>() == 0);

static bool eq(float4 a, float x, float y, float z, float w) { return a.x == x && a.y == y && a.z == z && a.w == w; }

static void test_constructors() {
  float4 s = 2.5f;
  CHECK(eq(s, 2.5f, 2.5f, 2.5f, 2.5f));
  CHECK(eq(float4(1, 2, 3, 4), 1, 2, 3, 4));
  CHECK(eq(float4(float2(1, 2), 3, 4), 1, 2, 3, 4));
  CHECK(eq(float4(1, float2(2, 3), 4), 1, 2, 3, 4));
  CHECK(eq(float4(float3(1, 2, 3), 4.0f), 1, 2, 3, 4));
  CHECK(eq(float4(float2(1, 2), float2(3, 4)), 1, 2, 3, 4));
  const half4 h(half(1.5f), half(-2.0f), half(0.25f), half(65504.0f));
  const float4 fh = float4(h);
  CHECK(eq(fh, 1.5f, -2.0f, 0.25f, 65504.0f));
  CHECK(int4(float4(1.9f, -1.9f, 2.5f, 0.0f)).x == 1 && int4(float4(1.9f, -1.9f, 2.5f, 0.0f)).y == -1);
  const float3 f3(7, 8, 9);
  CHECK(f3.e[3] == 0.0f);  // padding lane zeroed
  CHECK(f3[2] == 9.0f && f3.b == 9.0f);
  uint3 u = uint3(1u, 2u, 3u);
  u[1] = 20u;
  CHECK(u.y == 20u);
  float4 copy = fh;  // block copy
  CHECK(std::memcmp(&copy, &fh, 16) == 0);
  copy = s;
  CHECK(eq(copy, 2.5f, 2.5f, 2.5f, 2.5f));
}

static void test_swizzles() {
  float4 v(1, 2, 3, 4);
  CHECK(eq(float4(v.wzyx), 4, 3, 2, 1));
  CHECK(eq(float4(v.xxyy), 1, 1, 2, 2));
  CHECK(eq(float4(v.abgr), 4, 3, 2, 1));
  float3 t = v.bgr;
  CHECK(t.x == 3 && t.y == 2 && t.z == 1);
  float2 p = v.zx;
  CHECK(p.x == 3 && p.y == 1);
  v.xy = float2(10, 20);
  CHECK(eq(v, 10, 20, 3, 4));
  v.yx = v.xy;  // overlapping: must read before writing
  CHECK(eq(v, 20, 10, 3, 4));
  const float4 c(5, 6, 7, 8);
  v.zw = c.zw;  // same proxy type, const source: must not copy the whole vector
  CHECK(eq(v, 20, 10, 7, 8));
  float4 w(0, 0, 0, 0);
  w.yz = v.yz;  // same proxy type, non-const source
  CHECK(eq(w, 0, 10, 7, 0));
  w.wx = 1.0f;  // scalar to swizzle
  CHECK(eq(w, 1, 10, 7, 1));
  w.xz += float2(1, 2);
  CHECK(eq(w, 2, 10, 9, 1));
  w.ga *= 2.0f;
  CHECK(eq(w, 2, 20, 9, 2));
  w.x = 5;
  w.r += 1;
  CHECK(w.x == 6);
  half2 h2 = half2(half(1), half(2));
  h2.yx = h2;
  CHECK(float(h2.x) == 2.0f && float(h2.y) == 1.0f);
  const float2 sum = v.xy + c.zw;  // proxies in arithmetic
  CHECK(sum.x == 27 && sum.y == 18);
}

static void test_operators() {
  const float4 a(1, 2, 3, 4), b(4, 3, 2, 1);
  CHECK(eq(a + b, 5, 5, 5, 5));
  CHECK(eq(a * 2.0f, 2, 4, 6, 8));
  CHECK(eq(2.0f * a, 2, 4, 6, 8));
  CHECK(eq(1.0f - a, 0, -1, -2, -3));
  CHECK(eq(a / b, 0.25f, 2.0f / 3.0f, 1.5f, 4));
  CHECK(eq(-a, -1, -2, -3, -4));
  const bool4 lt = a < b;
  CHECK(lt.x && lt.y && !lt.z && !lt.w);
  CHECK(all(a == a) && !any(a != a) && any(a >= 4.0f));
  const int4 i(1, -2, 3, -4);
  CHECK(all((i << 2) == int4(4, -8, 12, -16)));
  CHECK(all((uint4(0xF0u) >> uint4(4u, 0u, 1u, 2u)) == uint4(0xFu, 0xF0u, 0x78u, 0x3Cu)));
  CHECK(all((i & 1) == int4(1, 0, 1, 0)) && all((~uint2(0u)) == uint2(0xFFFFFFFFu)));
  CHECK(all((i % 2) == int4(1, 0, 1, 0)));
  ushort2 us(65535, 1);
  us += ushort2(1, 1);  // wraps as a 16-bit value, as in MSL
  CHECK(us.x == 0 && us.y == 2);
  uchar4 c4(250, 1, 2, 3);
  c4 = c4 + uchar(10);
  CHECK(c4.x == 4 && c4.w == 13);
  float4 acc = 0.0f;
  acc += a;
  acc -= 1.0f;
  acc *= b;
  CHECK(eq(acc, 0, 3, 4, 3));
  half4 h = half4(a);
  h = h * half(0.5f) + half(1);
  CHECK(float(h.w) == 3.0f && float(h.x) == 1.5f);
  CHECK(all((!bool2(true, false)) == bool2(false, true)));
  CHECK(all((bool2(true, false) || bool2(false, false)) == bool2(true, false)));
}

static void test_math() {
  CHECK_NEAR(float(exp(half(1.0f))), 2.71875, 1e-3);  // exp in float, rounded to half
  CHECK((std::is_same_v<decltype(exp(half(1.0f))), half>));
  CHECK_NEAR(fast::exp(1.0f), 2.718281828, 1e-6);
  CHECK_NEAR(precise::sqrt(2.0f), 1.41421356, 1e-6);
  const float4 v(-1.5f, 0.25f, 4.0f, 9.0f);
  const float4 r = sqrt(abs(v));
  CHECK_NEAR(r.w, 3.0, 1e-6);
  CHECK_NEAR(r.x, 1.22474487, 1e-6);
  CHECK(eq(clamp(v, 0.0f, 1.0f), 0, 0.25f, 1, 1));
  CHECK(eq(saturate(v), 0, 0.25f, 1, 1));
  CHECK(eq(floor(v), -2, 0, 4, 9) && eq(ceil(v), -1, 1, 4, 9) && eq(trunc(v), -1, 0, 4, 9));
  CHECK(eq(fract(v), 0.5f, 0.25f, 0, 0));
  CHECK(eq(sign(v), -1, 1, 1, 1) && sign(0.0f) == 0.0f && sign(__builtin_nanf("")) == 0.0f);
  CHECK(eq(mix(float4(0), float4(10), 0.25f), 2.5f, 2.5f, 2.5f, 2.5f));
  CHECK(eq(step(1.0f, v), 0, 0, 1, 1));
  CHECK(eq(select(float4(0), float4(1), bool4(true, false, true, false)), 1, 0, 1, 0));
  CHECK(select(1, 2, true) == 2);
  CHECK(dot(float3(1, 2, 3), float3(4, 5, 6)) == 32.0f);
  CHECK(length(float2(3, 4)) == 5.0f);
  CHECK_NEAR(length(normalize(float4(1, 2, 3, 4))), 1.0, 1e-6);
  CHECK(float(dot(half2(half(1), half(2)), half2(half(3), half(4)))) == 11.0f);
  CHECK(max(3, 7) == 7 && min(3u, 7u) == 3u && abs(-5) == 5 && clamp(12, 0, 10) == 10);
  CHECK(all(max(int2(1, 9), int2(5, 5)) == int2(5, 9)) && all(abs(int2(-3, 3)) == int2(3, 3)));
  CHECK(min(1.0f, __builtin_nanf("")) == 1.0f);  // fmin semantics
  CHECK(float(max(half(2), half(-3))) == 2.0f && float(clamp(half(9), half(0), half(6))) == 6.0f);
  CHECK(max3(1.0f, 5.0f, 3.0f) == 5.0f && min3(4, 2, 8) == 2);
  CHECK(isnan(__builtin_nanf("")) && isinf(INFINITY) && !isfinite(HUGE_VALF) && isfinite(1.0f));
  CHECK(all(isnan(float2(__builtin_nanf(""), 0)) == bool2(true, false)));
  CHECK(isinf(half(__builtin_inff())) && isnan(half(__builtin_nanf(""))));
  CHECK(popcount(0xF0F0u) == 8u && clz(1u) == 31u && clz(0u) == 32u && ctz(8u) == 3u && ctz(0u) == 32u);
  CHECK(clz(ushort(1)) == 15 && popcount(uchar(0xFF)) == 8 && all(popcount(uint2(3u, 7u)) == uint2(2u, 3u)));
  CHECK_NEAR(pow(2.0f, 10.0f), 1024.0, 1e-3);
  CHECK_NEAR(fmod(7.5f, 2.0f), 1.5, 1e-6);
  CHECK_NEAR(tanh(0.5f), 0.46211716, 1e-6);
  CHECK_NEAR(float(rsqrt(half(4))), 0.5, 1e-3);
  CHECK(round(2.5f) == 3.0f && rint(2.5f) == 2.0f);
  CHECK(float(numeric_limits<half>::max()) == 65504.0f && float(numeric_limits<half>::lowest()) == -65504.0f);
  CHECK(isinf(numeric_limits<float>::infinity()) && numeric_limits<float>::max() == FLT_MAX);
  CHECK(numeric_limits<int>::max() == 2147483647 && numeric_limits<int>::lowest() == -2147483647 - 1);
  CHECK(numeric_limits<uint>::max() == 0xFFFFFFFFu && numeric_limits<short>::max() == 32767);
  CHECK(MAXFLOAT == FLT_MAX && float(HALF_MAX) == 65504.0f);
}

static void test_as_type() {
  CHECK(as_type<uint>(1.0f) == 0x3F800000u);
  CHECK(as_type<float>(0x40000000u) == 2.0f);
  CHECK(as_type<ushort>(half(1.0f)) == 0x3C00);
  const half2 h = as_type<half2>(0x40003C00u);  // low half first (little-endian, like Apple GPUs)
  CHECK(float(h.x) == 1.0f && float(h.y) == 2.0f);
  const uint2 u = as_type<uint2>(half4(half(1), half(2), half(1), half(2)));
  CHECK(u.x == 0x40003C00u && u.y == 0x40003C00u);
  const float4 f(1, 2, 3, 4);
  CHECK(as_type<uint2>(f.xy).y == 0x40000000u);  // from a swizzle proxy
}

static void test_atomics() {
  atomic_int ai{5};
  CHECK(atomic_fetch_add_explicit(&ai, 3, memory_order_relaxed) == 5 && ai.value == 8);
  CHECK(atomic_fetch_sub_explicit(&ai, 10, memory_order_relaxed) == 8 && ai.value == -2);
  CHECK(atomic_fetch_max_explicit(&ai, 7, memory_order_relaxed) == -2 && ai.value == 7);
  CHECK(atomic_fetch_min_explicit(&ai, -9, memory_order_relaxed) == 7 && ai.value == -9);
  atomic_uint au{0xF0u};
  CHECK(atomic_fetch_or_explicit(&au, 0x0Fu, memory_order_relaxed) == 0xF0u && au.value == 0xFFu);
  CHECK(atomic_fetch_and_explicit(&au, 0x3Cu, memory_order_relaxed) == 0xFFu && au.value == 0x3Cu);
  CHECK(atomic_fetch_xor_explicit(&au, 0xFFu, memory_order_relaxed) == 0x3Cu && au.value == 0xC3u);
  CHECK(atomic_exchange_explicit(&au, 1u, memory_order_relaxed) == 0xC3u && atomic_load_explicit(&au, memory_order_relaxed) == 1u);
  atomic_store_explicit(&au, 42u, memory_order_relaxed);
  uint expected = 41u;
  CHECK(!atomic_compare_exchange_weak_explicit(&au, &expected, 7u, memory_order_relaxed, memory_order_relaxed));
  CHECK(expected == 42u);
  bool swapped = false;
  for (int i = 0; i < 100 && !swapped; i++)  // weak CAS may fail spuriously
    swapped = atomic_compare_exchange_weak_explicit(&au, &expected, 7u, memory_order_relaxed, memory_order_relaxed);
  CHECK(swapped && au.value == 7u);
  atomic_float af{1.5f};
  CHECK(atomic_fetch_add_explicit(&af, 2.25f, memory_order_relaxed) == 1.5f && af.value == 3.75f);
  CHECK(atomic_fetch_max_explicit(&af, 10.0f, memory_order_relaxed) == 3.75f && af.value == 10.0f);
  CHECK(atomic_fetch_min_explicit(&af, -1.0f, memory_order_relaxed) == 10.0f && af.value == -1.0f);
  uint raw[2] = {3u, 4u};  // a uint buffer bound as atomic_uint, as kernels do
  device atomic_uint* pa = reinterpret_cast<device atomic_uint*>(raw);
  atomic_fetch_add_explicit(pa + 1, 6u, memory_order_relaxed);
  CHECK(raw[1] == 10u);
}

// Synthetic lanes to drive the op functions the runtime would call with several participants.
static mm_rt_lane g_lanes[32];
template <class T> static void put_in(int lane, T v, uint32_t param = 0) {
  std::memcpy(g_lanes[lane].simd_in, &v, sizeof(T));
  std::memcpy(g_lanes[lane].simd_in + mm_shim::kSimdParamOffset, &param, 4);
}
template <class T> static T get_out(int lane) {
  T v;
  std::memcpy(static_cast<void*>(&v), g_lanes[lane].simd_out, sizeof(T));
  return v;
}
template <class F> static void run_op(F op, const int* ids, uint32_t n) {
  mm_rt_lane* p[32];
  for (uint32_t i = 0; i < n; i++) p[i] = &g_lanes[ids[i]];
  op(p, n);
}

static void test_simd_ops() {
  for (int i = 0; i < 32; i++) {
    std::memset(&g_lanes[i], 0, sizeof(mm_rt_lane));
    g_lanes[i].thread_index_in_simdgroup = uint32_t(i);
    g_lanes[i].threads_per_simdgroup = 32;
  }
  const int odd[] = {1, 3, 5, 7};  // only odd lanes participate (divergent branch)
  for (int id : odd) put_in<float>(id, float(id));
  run_op(mm_shim::reduce_op<float, mm_shim::OpSum>, odd, 4);
  CHECK(get_out<float>(1) == 16.0f && get_out<float>(7) == 16.0f);
  run_op(mm_shim::reduce_op<float, mm_shim::OpMax>, odd, 4);
  CHECK(get_out<float>(3) == 7.0f);
  run_op(mm_shim::scan_op<float, mm_shim::OpSum, true>, odd, 4);
  CHECK(get_out<float>(1) == 1.0f && get_out<float>(3) == 4.0f && get_out<float>(7) == 16.0f);
  run_op(mm_shim::scan_op<float, mm_shim::OpSum, false>, odd, 4);
  CHECK(get_out<float>(1) == 0.0f && get_out<float>(5) == 4.0f);
  run_op(mm_shim::scan_op<float, mm_shim::OpProduct, false>, odd, 4);
  CHECK(get_out<float>(1) == 1.0f && get_out<float>(7) == 15.0f);
  // shuffle: lane 1 reads lane 5 (participates), lane 3 reads lane 4 (does not) -> own value
  put_in<float>(1, 1.0f, 5);
  put_in<float>(3, 3.0f, 4);
  put_in<float>(5, 5.0f, 1);
  put_in<float>(7, 7.0f, 99);
  run_op(mm_shim::shuffle_op<float, mm_shim::Shuffle::Index>, odd, 4);
  CHECK(get_out<float>(1) == 5.0f && get_out<float>(3) == 3.0f && get_out<float>(5) == 1.0f && get_out<float>(7) == 7.0f);
  int all32[32];
  for (int i = 0; i < 32; i++) {
    all32[i] = i;
    put_in<int>(i, i * 10, 4);
  }
  run_op(mm_shim::shuffle_op<int, mm_shim::Shuffle::Down>, all32, 32);
  CHECK(get_out<int>(0) == 40 && get_out<int>(27) == 310 && get_out<int>(28) == 280);  // beyond width: own
  run_op(mm_shim::shuffle_op<int, mm_shim::Shuffle::Up>, all32, 32);
  CHECK(get_out<int>(4) == 0 && get_out<int>(3) == 30);
  run_op(mm_shim::shuffle_op<int, mm_shim::Shuffle::RotateDown>, all32, 32);
  CHECK(get_out<int>(30) == 20 && get_out<int>(0) == 40);
  run_op(mm_shim::shuffle_op<int, mm_shim::Shuffle::RotateUp>, all32, 32);
  CHECK(get_out<int>(1) == 290);
  run_op(mm_shim::shuffle_op<int, mm_shim::Shuffle::Xor>, all32, 32);
  CHECK(get_out<int>(1) == 50 && get_out<int>(5) == 10);
  run_op(mm_shim::shuffle_op<int, mm_shim::Shuffle::First>, odd, 4);
  CHECK(get_out<int>(7) == 10);  // lowest participant is lane 1
  run_op(mm_shim::reduce_op<int, mm_shim::OpXor>, all32, 32);
  int x = 0;
  for (int i = 0; i < 32; i++) x ^= i * 10;
  CHECK(get_out<int>(9) == x);
  for (int id : odd) put_in<float4>(id, float4(float(id), 1, 2, 3));  // vectors reduce per component
  run_op(mm_shim::reduce_op<float4, mm_shim::OpSum>, odd, 4);
  CHECK(eq(get_out<float4>(5), 16, 4, 8, 12));
  for (int id : odd) put_in<bool>(id, id != 3);
  run_op(mm_shim::ballot_op, odd, 4);
  const auto vb = get_out<mm_shim::vote_bits>(1);
  CHECK(vb.bits == ((1u << 1) | (1u << 5) | (1u << 7)) && vb.active == 0xAAu);
  run_op(mm_shim::is_first_op, odd, 4);
  CHECK(get_out<bool>(1) && !get_out<bool>(3));
}

// Through the public functions with the fake api (one participant): also checks that each call
// re-enters its lane and passes the caller's line as the site.
static void test_simd_public() {
  mm_shim::enter(&fake::lane_a);
  fake::lane_a.thread_index_in_simdgroup = 3;
  fake::lane_a.threads_per_simdgroup = 32;
  CHECK(simd_sum(2.5f) == 2.5f); const unsigned sum_line = __LINE__;
  CHECK(fake::last_site.line == sum_line && std::strstr(fake::last_site.file, "shim_test.cpp") != nullptr);
  CHECK(mm_shim::cur_lane() == &fake::lane_a);
  CHECK(simd_prefix_exclusive_sum(7) == 0 && simd_prefix_inclusive_sum(7) == 7);
  CHECK(simd_shuffle_down(5.0f, 1u) == 5.0f && simd_shuffle_xor(6, 1u) == 6 && simd_broadcast(9, 0u) == 9);
  CHECK(eq(simd_max(float4(1, 2, 3, 4)), 1, 2, 3, 4));
  const float4 sv(1, 2, 3, 4);
  CHECK(all(simd_sum(sv.xy) == float2(1, 2)));  // proxy argument
  CHECK(float(simd_sum(half(1.5f))) == 1.5f && simd_broadcast_first(11u) == 11u);
  const simd_vote v = simd_ballot(true);
  CHECK(ulong(v) == (1ull << 3) && v.all() && v.any());
  CHECK(simd_all(true) && !simd_any(false) && simd_is_first());
  CHECK(simd_and(6u) == 6u && simd_or(6u) == 6u && simd_product(3) == 3 && simd_min(-2) == -2);
  const int before = fake::barrier_calls;
  threadgroup_barrier(mem_flags::mem_threadgroup | mem_flags::mem_device); const unsigned bar_line = __LINE__;
  CHECK(fake::barrier_calls == before + 1 && fake::last_site.line == bar_line);
  CHECK(fake::last_flags == (MM_RT_MEM_THREADGROUP | MM_RT_MEM_DEVICE));  // MSL bit values reach the runtime
  CHECK(mm_shim::cur_lane() == &fake::lane_a);
  simdgroup_barrier(mem_flags::mem_none);
  CHECK(fake::barrier_calls == before + 2 && mm_shim::cur_lane() == &fake::lane_a);
  CHECK(fake::last_flags == MM_RT_MEM_NONE);
  threadgroup_barrier(mem_flags::mem_device);
  CHECK(fake::last_flags == MM_RT_MEM_DEVICE);
  simdgroup_barrier(mem_flags::mem_threadgroup);
  CHECK(fake::last_flags == MM_RT_MEM_THREADGROUP);
  threadgroup_barrier(mem_flags::mem_texture);
  CHECK(fake::last_flags == MM_RT_MEM_TEXTURE);
  threadgroup_barrier();  // MSL's default: mem_none
  CHECK(fake::last_flags == MM_RT_MEM_NONE && fake::barrier_calls == before + 6);
}

static void test_runtime_glue() {
  mm_shim::enter(&fake::lane_a);
  uint64_t consts[8] = {};
  consts[3] = 1;                                   // bool true
  consts[4] = as_type<uint>(2.5f);                 // float
  consts[5] = 0xFFFFFFFFull;                       // int -1
  fake::lane_a.function_constants = consts;
  fake::lane_a.function_constants_defined = (1u << 3) | (1u << 4) | (1u << 5);
#define has_bias (::mm_shim::function_constant<bool>(3))
#define alpha (::mm_shim::function_constant<float>(4))
#define shift (::mm_shim::function_constant<int>(5))
#define missing (::mm_shim::function_constant<int>(6))
  CHECK(has_bias && alpha * 2.0f == 5.0f && shift == -1 && missing == 0);
  CHECK(is_function_constant_defined(has_bias) && !is_function_constant_defined(missing));
  CHECK(metal::is_function_constant_defined(alpha));
  CHECK(eq(float4(1, 2, 3, 4) * alpha, 2.5f, 5, 7.5f, 10));  // constants mix with vectors and math
  CHECK(max(shift, 3) == 3 && min(alpha, 1.0f) == 1.0f && abs(shift) == 1 && exp(alpha) == exp(2.5f));
  consts[3] = 0xFF;  // any non-zero pattern reads as true
  CHECK(has_bias == true);
#undef has_bias
#undef alpha
#undef shift
#undef missing
  const uint32_t pos[3] = {7, 8, 9};
  const uint3 p3 = mm_shim::attr<uint3>(pos);
  CHECK(p3.x == 7 && p3.y == 8 && p3.z == 9);
  CHECK(mm_shim::attr<uint>(pos) == 7u && mm_shim::attr<ushort2>(pos).y == 8 && mm_shim::attr<ushort>(uint32_t(5)) == 5);
  auto& tile = mm_shim::tg_array<float[4][33]>(2);
  CHECK(mm_shim::cur_lane() == &fake::lane_a);
  tile[3][32] = 1.0f;
  auto& again = mm_shim::tg_array<float[4][33]>(2);
  CHECK(&again == &tile && again[3][32] == 1.0f);
  auto& h4 = mm_shim::tg_array<half4[8]>(3);
  CHECK(reinterpret_cast<uintptr_t>(&h4) % alignof(half4) == 0);
}

// Naive reference for an 8x8 multiply-accumulate in double.
static void ref_mma(double* d, const float* a, const float* b, const float* c) {
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) {
      double s = c[i * 8 + j];
      for (int k = 0; k < 8; k++) s += double(a[i * 8 + k]) * double(b[k * 8 + j]);
      d[i * 8 + j] = s;
    }
}

// Fast mode (flags without CHECK_UNIFORM): lane 0 of the simdgroup multiplies itself, without the
// memo; any other lane skips simdgroup_load, multiplies and simdgroup_store (lane 0 stored the bytes).
static void test_matrix_fast(const simdgroup_float8x8& a, const simdgroup_float8x8& b, const simdgroup_float8x8& c,
                             const float* src) {
  fake::lane_a.flags = 0;
  const uint32_t saved_lane = fake::lane_a.thread_index_in_simdgroup;
  const int calls = fake::memo_calls;
  fake::lane_a.thread_index_in_simdgroup = 0;
  simdgroup_float8x8 d;
  simdgroup_multiply_accumulate(d, a, b, c);
  double ref[64];
  ref_mma(ref, a.e, b.e, c.e);
  bool ok = true;
  for (int i = 0; i < 64; i++) ok = ok && __builtin_fabs(ref[i] - d.e[i]) <= 1e-4;
  CHECK(ok && fake::memo_calls == calls);
  fake::lane_a.thread_index_in_simdgroup = 5;
  simdgroup_float8x8 e = make_filled_simdgroup_matrix<float, 8, 8>(-1.0f);
  simdgroup_load(e, src, 12);
  simdgroup_multiply_accumulate(e, a, b, c);
  CHECK(e.e[0] == -1.0f && e.e[63] == -1.0f && fake::memo_calls == calls);
  float out[64];
  for (float& o : out) o = -7.0f;
  simdgroup_store(d, out);
  CHECK(out[0] == -7.0f && out[63] == -7.0f);
  fake::lane_a.thread_index_in_simdgroup = saved_lane;
}

static void test_matrix() {
  mm_shim::enter(&fake::lane_a);
  fake::lane_a.flags = MM_RT_LANE_CHECK_UNIFORM;  // checked mode: every lane goes through the memo
  float src[16 * 12];
  for (int i = 0; i < 16 * 12; i++) src[i] = float(i % 37) * 0.25f - 3.0f;
  simdgroup_float8x8 a, b;
  simdgroup_load(a, src, 12, ulong2(2, 3));  // origin (column 2, row 3), 12 elements per row
  CHECK(a.e[0] == src[3 * 12 + 2] && a.e[1 * 8 + 5] == src[4 * 12 + 7]);
  simdgroup_load(b, src + 1, 12, ulong2(0, 0), true);  // transposed (origin via the pointer)
  CHECK(b.e[2 * 8 + 5] == src[5 * 12 + 1 + 2]);
  const simdgroup_float8x8 c = make_filled_simdgroup_matrix<float, 8, 8>(0.5f);
  CHECK(c.e[0] == 0.5f && c.e[63] == 0.5f);
  const simdgroup_float8x8 diag(2.0f);
  CHECK(diag.e[9] == 2.0f && diag.e[1] == 0.0f);
  const uint32_t seq0 = fake::lane_a.matrix_seq;
  simdgroup_float8x8 d;
  simdgroup_multiply_accumulate(d, a, b, c); const unsigned mma_line = __LINE__;
  CHECK(fake::lane_a.matrix_seq == seq0 + 1 && fake::memo_done_calls == fake::memo_calls);
  CHECK(fake::memo_site.line == mma_line && std::strstr(fake::memo_site.file, "shim_test.cpp"));  // caller's site
  CHECK(mm_shim::cur_lane() == &fake::lane_a);
  double ref[64];
  ref_mma(ref, a.e, b.e, c.e);
  bool ok = true;
  for (int i = 0; i < 64; i++) ok = ok && __builtin_fabs(ref[i] - d.e[i]) <= 1e-4;
  CHECK(ok);
  simdgroup_float8x8 acc = c;
  simdgroup_multiply_accumulate(acc, a, b, acc);  // d aliases c
  CHECK(std::memcmp(acc.e, d.e, sizeof(d.e)) == 0);
  simdgroup_float8x8 prod;
  simdgroup_multiply(prod, a, diag); const unsigned mul_line = __LINE__;
  CHECK(fake::memo_site.line == mul_line);
  CHECK(prod.e[10] == 2.0f * a.e[10] && prod.e[63] == 2.0f * a.e[63]);
  float out[8 * 10];
  for (float& o : out) o = -7.0f;
  simdgroup_store(d, out + 1, 10, ulong2(0, 0), true);  // origin via the pointer
  CHECK(out[3 * 10 + 1 + 2] == d.e[2 * 8 + 3] && out[0] == -7.0f && out[9] == -7.0f);
  // half matrices: computed in float, rounded once to half
  half hs[64];
  for (int i = 0; i < 64; i++) hs[i] = half(float(i % 9) - 4.0f);
  simdgroup_half8x8 ha, hd;
  simdgroup_load(ha, hs);
  const simdgroup_half8x8 hz = make_filled_simdgroup_matrix<half, 8, 8>(0.0f);
  simdgroup_multiply_accumulate(hd, ha, ha, hz);
  float fa[64], fz[64] = {};
  for (int i = 0; i < 64; i++) fa[i] = float(hs[i]);
  ref_mma(ref, fa, fa, fz);
  ok = true;
  for (int i = 0; i < 64; i++) ok = ok && float(hd.e[i]) == float(half(float(ref[i])));
  CHECK(ok);
  half hout[64];
  simdgroup_store(hd, hout);
  CHECK(std::memcmp(hout, hd.e, sizeof(hout)) == 0);
  // not fresh: another lane computed it, so the result comes from the memo block untouched
  fake::memo_fresh = 0;
  for (int i = 0; i < 64; i++) reinterpret_cast<float*>(fake::memo_block)[i] = float(i);
  simdgroup_multiply_accumulate(d, a, b, c);
  fake::memo_fresh = 1;
  CHECK(d.e[0] == 0.0f && d.e[63] == 63.0f);
  test_matrix_fast(a, b, c, src);
  fake::lane_a.flags = 0;
}

// ---- a kernel as the rewriter emits it (contract in csrc/cpu/rt_abi.h and the rewriter brief) ----
#line 1 "scale_rows.metal"
// #include <metal_stdlib> was here; mm_shim.h is already included.
using namespace metal;
struct ScaleParams { uint n; float alpha; };
#define use_bias (::mm_shim::function_constant<bool>(0))
#line 5 "scale_rows.metal"
void scale_rows(device const half4* x, device float4* y, constant ScaleParams& p, device const float* bias,
                uint gid, ushort lane) {
  auto& tile = ::mm_shim::tg_array<float4[32]>(0);
  if (gid >= p.n) return;
  float4 v = float4(x[gid]) * p.alpha;
  if (use_bias) v += bias[gid];
  tile[lane] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  v.yx = tile[lane].xy + simd_sum(v.x) * ((half)0.5f);
  y[gid] = v;
}
static void mm_entry_scale_rows(mm_rt_lane* mm_lane) {
  ::mm_shim::enter(mm_lane);
  scale_rows(
    (device const half4*)mm_lane->buffers[0],
    (device float4*)mm_lane->buffers[1],
    *(constant ScaleParams*)mm_lane->buffers[2],
    (device const float*)mm_lane->buffers[3],
    ::mm_shim::attr<uint>(mm_lane->thread_position_in_grid),
    ::mm_shim::attr<ushort>(mm_lane->thread_index_in_simdgroup)
  );
}
static const mm_rt_arg mm_args_scale_rows[] = {
  {0, MM_ARG_DEVICE, MM_ACCESS_READ, ::mm_shim::dtype_of<half4>(), sizeof(half4), 5, "half4", "x"},
  {1, MM_ARG_DEVICE, MM_ACCESS_READ | MM_ACCESS_WRITE, ::mm_shim::dtype_of<float4>(), sizeof(float4), 5, "float4", "y"},
  {2, MM_ARG_CONSTANT, MM_ACCESS_READ, ::mm_shim::dtype_of<ScaleParams>(), sizeof(ScaleParams), 5, "ScaleParams", "p"},
  {3, MM_ARG_DEVICE, MM_ACCESS_READ, ::mm_shim::dtype_of<float>(), sizeof(float), 5, "float", "bias"},
};
static const mm_rt_kernel mm_kernels[] = {
  {"scale_rows", "scale_rows.metal", 5, 4, mm_args_scale_rows, 0, 0, 1024, mm_entry_scale_rows},
};
static const mm_rt_module mm_module = { MM_RT_ABI_VERSION, "scale_rows.metal", 1, mm_kernels, ::mm_shim::init };
extern "C" __attribute__((visibility("default"))) const mm_rt_module* mm_rt_module_get(void) { return &mm_module; }
#line 512 "shim_test.cpp"

static void test_example_kernel() {
  const mm_rt_module* m = mm_rt_module_get();
  CHECK(m->version == MM_RT_ABI_VERSION && m->n_kernels == 1 && m->kernels[0].args[0].dtype == MM_DTYPE_F16);
  m->init(&fake::api);
  half4 x[2] = {half4(half(1), half(2), half(3), half(4)), half4(half(5))};
  float4 y[2] = {float4(-1.0f), float4(-1.0f)};
  ScaleParams p{1, 2.0f};
  float bias[2] = {10.0f, 20.0f};
  void* buffers[4] = {x, y, &p, bias};
  uint64_t consts[1] = {1};
  mm_rt_lane lane;
  std::memset(&lane, 0, sizeof(lane));
  lane.buffers = buffers;
  lane.function_constants = consts;
  lane.function_constants_defined = 1;
  lane.threads_per_simdgroup = 32;
  for (uint32_t gid = 0; gid < 2; gid++) {
    lane.thread_position_in_grid[0] = gid;
    m->kernels[0].entry(&lane);
  }
  // gid 0: v = (12,14,16,18); v.yx = v.xy + 12*0.5 -> (20, 18, 16, 18). gid 1 is out of range.
  CHECK(eq(y[0], 20, 18, 16, 18) && eq(y[1], -1, -1, -1, -1));
  CHECK(std::strcmp(fake::last_site.file, "scale_rows.metal") == 0 && fake::last_site.line == 13);
}

int main() {
  mm_shim::init(&fake::api);
  test_constructors();
  test_swizzles();
  test_operators();
  test_math();
  test_as_type();
  test_atomics();
  test_simd_ops();
  test_simd_public();
  test_runtime_glue();
  test_matrix();
  test_example_kernel();
  for (void* b : fake::tg_blocks) std::free(b);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
