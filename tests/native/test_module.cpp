// test_module.cpp — a hand-written shader module (what the rewriter would emit) for abi_test.
// Linked into the test as the builtin library, and also built as a .so for mm_library_load.
#include <cstdint>
#include <cstring>

#include "../../csrc/cpu/rt_abi.h"
#include "../../csrc/include/metal_marlin.h"

namespace {

const mm_rt_api* g_api = nullptr;

// vadd: out[i] = a[i] + b[i] for i < n.
void vadd_entry(mm_rt_lane* lane) {
  auto a = static_cast<const float*>(lane->buffers[0]);
  auto b = static_cast<const float*>(lane->buffers[1]);
  auto out = static_cast<float*>(lane->buffers[2]);
  uint32_t n = *static_cast<const uint32_t*>(lane->buffers[3]);
  uint32_t i = lane->thread_position_in_grid[0];
  if (i < n) out[i] = a[i] + b[i];
}
const mm_rt_arg vadd_args[] = {
    {0, MM_ARG_DEVICE, MM_ACCESS_READ, MM_DTYPE_F32, 4, 3, "float", "a"},
    {1, MM_ARG_DEVICE, MM_ACCESS_READ, MM_DTYPE_F32, 4, 4, "float", "b"},
    {2, MM_ARG_DEVICE, MM_ACCESS_READ | MM_ACCESS_WRITE, MM_DTYPE_F32, 4, 5, "float", "out"},
    {3, MM_ARG_CONSTANT, MM_ACCESS_READ, MM_DTYPE_U32, 4, 6, "uint", "n"},
};

// affine: out[i] = p.scale * i + p.bias, p a 12-byte constant struct (alignment 4), and
// one [[threadgroup(0)]] arg; capped at 64 threads per threadgroup.
struct Affine {
  float scale, bias;
  uint32_t n;
};
void affine_entry(mm_rt_lane* lane) {
  Affine p;
  std::memcpy(&p, lane->buffers[1], sizeof p);
  auto out = static_cast<float*>(lane->buffers[0]);
  uint32_t i = lane->thread_position_in_grid[0];
  if (i < p.n) out[i] = p.scale * static_cast<float>(i) + p.bias;
}
const mm_rt_arg affine_args[] = {
    {0, MM_ARG_DEVICE, MM_ACCESS_WRITE | MM_ACCESS_READ, MM_DTYPE_F32, 4, 12, "float", "out"},
    {1, MM_ARG_CONSTANT, MM_ACCESS_READ, MM_DTYPE_ANY, 12, 13, "Affine", "p"},
};

// planted_fail: every lane aborts the dispatch through the runtime (like the shim on a bad state).
void fail_entry(mm_rt_lane* lane) {
  static const mm_rt_site site = {"planted.metal", 42, 7};
  g_api->fail(lane, MM_E_INTERNAL, "planted failure", &site);
}

const mm_rt_kernel kernels[] = {
    {"vadd", "vadd.metal", 2, 4, vadd_args, 0, 0, 1024, vadd_entry},
    {"affine", "affine.metal", 11, 2, affine_args, 1, 1024, 64, affine_entry},
    {"planted_fail", "planted.metal", 40, 0, nullptr, 0, 0, 1024, fail_entry},
};

void init(const mm_rt_api* api) { g_api = api; }

#ifdef MM_TEST_BAD_VERSION
// A module built against the previous runtime ABI (before barriers carried mem_flags).
const mm_rt_module module = {MM_RT_ABI_VERSION - 1, "test_module.metal", 3, kernels, init};
#else
const mm_rt_module module = {MM_RT_ABI_VERSION, "test_module.metal", 3, kernels, init};
#endif

}  // namespace

#ifdef MM_TEST_MODULE_SO
extern "C" __attribute__((visibility("default"))) const mm_rt_module* mm_rt_module_get(void) { return &module; }
#else
// In the test binary this module is the builtin library (overrides the weak default).
extern "C" const mm_rt_module* const* mm_rt_builtin_modules(uint32_t* count) {
  static const mm_rt_module* const mods[] = {&module};
  *count = 1;
  return mods;
}
#endif
