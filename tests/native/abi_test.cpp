// abi_test.cpp — C ABI tests of csrc/core + the CPU backend: devices, handles, buffers, libraries
// and kernels (dispatch cases are in abi_test_dispatch.cpp). Prints "N passed, M failed" last.
// MM_TEST_DIR names the folder holding the test modules built by run-abi-test.sh.
#include <unistd.h>

#include <cstdint>
#include <thread>

#include "abi_test_util.h"
#include "../../csrc/cpu/rt_abi.h"

void run_dispatch_tests();

static std::string module_path(const char* name) {
  const char* dir = std::getenv("MM_TEST_DIR");
  return std::string(dir ? dir : ".") + "/" + name;
}

static void test_basics() {
  g_test = "basics";
  CHECK(std::strcmp(mm_last_error(), "") == 0);  // no failure yet on this thread
  CHECK(mm_abi_version() == MM_ABI_VERSION);
  CHECK(mm_noop(12345) == 12345);
  CHECK(mm_cpu_fiber_pingpong(100) == MM_OK);
}

static void test_device_open() {
  g_test = "device_open";
  mm_device d = 0;
  CHECK_ERR(mm_device_open("metal", 0, &d), MM_E_UNSUPPORTED, "mm_device_open: the metal backend needs macOS",
            "linux-x86_64 (CPU runtime only)");
  CHECK(d == 0);
  CHECK_ERR(mm_device_open("gpu", 0, &d), MM_E_INVALID_ARG, "unknown backend \"gpu\"");
  CHECK_ERR(mm_device_open(nullptr, 0, &d), MM_E_INVALID_ARG, "backend is NULL");
  CHECK_ERR(mm_device_open("cpu", 0, nullptr), MM_E_INVALID_ARG, "out is NULL");
  CHECK_ERR(mm_device_open("cpu", 5000, &d), MM_E_INVALID_ARG, "5000");

  mm_device_info info{};
  info.size = sizeof info;
  CHECK(mm_device_open("auto", 3, &d) == MM_OK && d != 0);
  CHECK(mm_device_info_get(d, &info) == MM_OK);
  CHECK(std::strcmp(info.backend, "cpu") == 0);
  CHECK(std::strcmp(info.name, "CPU shader runtime (x86_64, 3 threads)") == 0);
  CHECK(info.threads == 3 && info.max_threads_per_threadgroup == 1024 && info.max_threadgroup_memory == 32768);
  CHECK(info.simd_width == 32 && info.max_buffer_length > (1u << 20) && info.live_buffers == 0);
  CHECK(mm_device_close(d) == MM_OK);

  setenv("MM_THREADS", "1", 1);
  CHECK(mm_device_open("cpu", 0, &d) == MM_OK);
  CHECK(mm_device_info_get(d, &info) == MM_OK && info.threads == 1);
  CHECK(std::strcmp(info.name, "CPU shader runtime (x86_64, 1 thread)") == 0);
  mm_device_close(d);
  setenv("MM_THREADS", "two", 1);
  CHECK_ERR(mm_device_open("cpu", 0, &d), MM_E_INVALID_ARG, "MM_THREADS=\"two\"");
  unsetenv("MM_THREADS");
  CHECK(mm_device_open("cpu", 0, &d) == MM_OK);
  CHECK(mm_device_info_get(d, &info) == MM_OK);
  unsigned hw = std::thread::hardware_concurrency();
  CHECK(info.threads == (hw ? hw : 1));

  info.size = 0;
  CHECK_ERR(mm_device_info_get(d, &info), MM_E_INVALID_ARG, "out->size is 0");
  mm_device_info small{};
  std::memset(&small, 0xAB, sizeof small);
  small.size = 20;  // an older caller knowing only size + backend[16]
  CHECK(mm_device_info_get(d, &small) == MM_OK);
  CHECK(small.size == 20 && std::strcmp(small.backend, "cpu") == 0 && small.max_threads_per_threadgroup == 0xABABABABu);
  CHECK(mm_device_synchronize(d) == MM_OK);
  mm_device_close(d);
}

static void test_handles() {
  g_test = "handles";
  mm_device d = open_cpu();
  mm_buffer b = 0;
  CHECK(mm_buffer_alloc(d, 64, &b) == MM_OK && b != 0 && b != d);
  CHECK_ERR(mm_buffer_free(0), MM_E_BAD_HANDLE, "mm_buffer_free: buffer handle is 0");
  CHECK_ERR(mm_buffer_free(d), MM_E_BAD_HANDLE, "is a device handle, expected a buffer handle");
  CHECK_ERR(mm_buffer_free(0x7123), MM_E_BAD_HANDLE, "not a metal-marlin handle");
  CHECK_ERR(mm_device_synchronize(b), MM_E_BAD_HANDLE, "mm_device_synchronize", "is a buffer handle");
  CHECK(mm_buffer_free(b) == MM_OK);
  char want[96];
  std::snprintf(want, sizeof want, "mm_buffer_free: buffer handle 0x%x was already freed", b);
  CHECK_ERR(mm_buffer_free(b), MM_E_BAD_HANDLE, want);
  CHECK(mm_buffer_contents(b) == nullptr && contains(mm_last_error(), "mm_buffer_contents"));
  CHECK(mm_buffer_length(b) == 0 && contains(mm_last_error(), "mm_buffer_length"));
  mm_buffer b2 = 0;  // a new buffer never revives the stale handle
  CHECK(mm_buffer_alloc(d, 64, &b2) == MM_OK && b2 != b);
  CHECK(mm_buffer_length(b) == 0 && mm_buffer_length(b2) == 64);

  CHECK(mm_device_close(d) == MM_OK);
  CHECK(mm_device_close(d) == MM_OK);  // idempotent
  CHECK_ERR(mm_buffer_free(b2), MM_E_BAD_HANDLE, "was already freed");  // close freed it
  mm_device_info info{};
  info.size = sizeof info;
  CHECK_ERR(mm_device_info_get(d, &info), MM_E_BAD_HANDLE, "device handle", "was already freed");
  CHECK_ERR(mm_buffer_alloc(d, 64, &b), MM_E_BAD_HANDLE, "mm_buffer_alloc");
}

static void test_buffers() {
  g_test = "buffers";
  mm_device d = open_cpu();
  mm_buffer b = 0;
  CHECK_ERR(mm_buffer_alloc(d, 0, &b), MM_E_INVALID_ARG, "length is 0");
  CHECK_ERR(mm_buffer_alloc(d, 1ull << 50, &b), MM_E_OUT_OF_MEMORY, "1125899906842624 bytes", "max_buffer_length");
  CHECK(b == 0);
  CHECK(mm_buffer_alloc(d, 5000, &b) == MM_OK);
  auto* p = static_cast<unsigned char*>(mm_buffer_contents(b));
  CHECK(p && reinterpret_cast<uintptr_t>(p) % 4096 == 0 && mm_buffer_length(b) == 5000);
  bool zero = true;
  for (int i = 0; p && i < 5000; ++i) zero = zero && p[i] == 0;
  CHECK(zero);
  mm_device_info info{};
  info.size = sizeof info;
  mm_device_info_get(d, &info);
  CHECK(info.allocated_bytes == 5000 && info.live_buffers == 1);
  for (int i = 0; i < 2000; ++i) {  // native bytes return to the baseline after many cycles
    mm_buffer t = 0;
    if (mm_buffer_alloc(d, 1 + i * 7, &t) != MM_OK || mm_buffer_free(t) != MM_OK) CHECK(false);
  }
  mm_device_info_get(d, &info);
  CHECK(info.allocated_bytes == 5000 && info.live_buffers == 1);
  CHECK(mm_buffer_free(b) == MM_OK);
  mm_device_info_get(d, &info);
  CHECK(info.allocated_bytes == 0 && info.live_buffers == 0);

  mm_device d2 = open_cpu(1);  // buffer_view checks ownership
  mm_buffer b2 = 0;
  mm_buffer_alloc(d2, 16, &b2);
  mm::core::BufferView v{};
  CHECK(mm::core::buffer_view(d2, b2, &v) == MM_OK && v.length == 16 && v.contents == mm_buffer_contents(b2));
  CHECK_ERR(mm::core::buffer_view(d, b2, &v), MM_E_BAD_HANDLE, "belongs to device");
  CHECK(v.contents == nullptr);
  mm_device_close(d2);
  mm_device_close(d);
}

static void test_libraries() {
  g_test = "libraries";
  mm_device d = open_cpu();
  mm_library lib = 0, lib2 = 0;
  CHECK(mm_library_builtin(d, &lib) == MM_OK && mm_library_builtin(d, &lib2) == MM_OK && lib == lib2);
  CHECK(mm_library_kernel_count(lib) == 3);
  CHECK(contains(mm_library_kernel_name(lib, 0), "vadd") && contains(mm_library_kernel_name(lib, 2), "planted_fail"));
  CHECK(mm_library_kernel_name(lib, 3) == nullptr);
  mm_kernel k = 0, k2 = 0;
  CHECK_ERR(mm_kernel_get(lib, "vsub", &k), MM_E_UNKNOWN_KERNEL, "no kernel named \"vsub\"", "vadd, affine, planted_fail");
  CHECK(mm_kernel_get(lib, "affine", &k) == MM_OK && mm_kernel_get(lib, "affine", &k2) == MM_OK && k == k2);
  mm_kernel_info ki{};
  ki.size = sizeof ki;
  CHECK(mm_kernel_info_get(k, &ki) == MM_OK);
  CHECK(ki.n_buffers == 2 && ki.n_threadgroup_args == 1 && ki.static_tg_bytes == 1024);
  CHECK(ki.max_threads_per_threadgroup == 64 && ki.line == 11 && std::strcmp(ki.file, "affine.metal") == 0);
  mm_arg_info ai{};
  ai.size = sizeof ai;
  CHECK(mm_kernel_arg_info(k, 1, &ai) == MM_OK && ai.kind == MM_ARG_CONSTANT && ai.elem_bytes == 12);
  CHECK(std::strcmp(ai.type_name, "Affine") == 0 && std::strcmp(ai.arg_name, "p") == 0 && ai.line == 13);
  CHECK(mm_kernel_arg_info(k, 7, &ai) == MM_OK && ai.kind == MM_ARG_NONE);
  CHECK_ERR(mm_kernel_arg_info(k, 31, &ai), MM_E_INVALID_ARG, "index 31");
  CHECK_ERR(mm_kernel_info_get(lib, &ki), MM_E_BAD_HANDLE, "is a library handle, expected a kernel handle");
  CHECK(mm::core::builtin_kernel_info(d, "vadd", &ki) == MM_OK && ki.n_buffers == 4 && ki.n_threadgroup_args == 0);
  CHECK_ERR(mm::core::builtin_kernel_info(d, "nope", &ki), MM_E_UNKNOWN_KERNEL, "nope");

  CHECK_ERR(mm_library_compile(d, "kernel void f() {}", &lib2), MM_E_UNSUPPORTED,
            "mm_library_compile: the CPU backend compiles in TypeScript (lib/cpu) and loads with mm_library_load");
  CHECK_ERR(mm_library_load(d, "/nonexistent/mod.so", &lib2), MM_E_LOAD, "mm_library_load: cannot load",
            "/nonexistent/mod.so");
  {
    const std::string want = "module built for runtime ABI " + std::to_string(MM_RT_ABI_VERSION - 1) +
                             ", this library speaks " + std::to_string(MM_RT_ABI_VERSION) + " (rebuild the module)";
    CHECK_ERR(mm_library_load(d, module_path("bad_version.so").c_str(), &lib2), MM_E_LOAD, "bad_version.so",
              want.c_str());
  }
  CHECK_ERR(mm_library_load(d, module_path("no_symbol.so").c_str(), &lib2), MM_E_LOAD, "does not export mm_rt_module_get");

  mm_library loaded = 0;
  CHECK(mm_library_load(d, module_path("test_module.so").c_str(), &loaded) == MM_OK && loaded != lib);
  CHECK(mm_library_kernel_count(loaded) == 3);
  mm_kernel lk = 0;
  CHECK(mm_kernel_get(loaded, "vadd", &lk) == MM_OK);
  CHECK(mm_library_free(loaded) == MM_OK);
  CHECK_ERR(mm_kernel_info_get(lk, &ki), MM_E_BAD_HANDLE, "kernel handle", "was already freed");  // went with it
  CHECK_ERR(mm_library_free(loaded), MM_E_BAD_HANDLE, "mm_library_free: library handle", "was already freed");

  CHECK(mm_library_free(lib) == MM_OK);  // the builtin library can be freed and fetched again
  CHECK(mm_kernel_info_get(k, &ki) == MM_E_BAD_HANDLE);
  CHECK(mm_library_builtin(d, &lib2) == MM_OK && lib2 != lib && mm_library_kernel_count(lib2) == 3);
  mm_device_close(d);
  CHECK(mm_library_kernel_count(lib2) == 0 && contains(mm_last_error(), "was already freed"));
}

int main() {
  test_basics();
  test_device_open();
  test_handles();
  test_buffers();
  test_libraries();
  run_dispatch_tests();
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
