// abi_test_dispatch.cpp — mm_dispatch and dispatch_builtin: the happy paths and every validation
// error core must catch before a kernel runs.
#include <cstdint>

#include "abi_test_util.h"

namespace {

struct Affine {
  float scale, bias;
  uint32_t n;
};

void test_vadd(mm_device d) {
  g_test = "dispatch vadd";
  mm_kernel k = builtin_kernel(d, "vadd");
  const uint32_t n = 1000;  // not a multiple of the threadgroup: the kernel's bounds check matters
  mm_buffer a = alloc_floats(d, n, 1.0f), b = alloc_floats(d, n, 0.5f), out = alloc_floats(d, n, -7.0f);
  Desc desc;
  desc.buffer(0, a, MM_DTYPE_F32).buffer(1, b).buffer(2, out, MM_DTYPE_F32).inline_bytes(3, &n, 4, MM_DTYPE_U32);
  desc.dims(16, 64);
  CHECK(mm_dispatch(d, k, desc.build()) == MM_OK);
  auto* o = static_cast<float*>(mm_buffer_contents(out));
  bool ok = true;
  for (uint32_t i = 0; i < n; ++i) ok = ok && o[i] == 1.5f + 2.0f * float(i);
  CHECK(ok);

  // n from a constant buffer instead of inline bytes, and a and out at element offsets.
  mm_buffer nb = 0;
  mm_buffer_alloc(d, 4, &nb);
  *static_cast<uint32_t*>(mm_buffer_contents(nb)) = 10;
  Desc d2;
  d2.buffer(0, a, 0, 40).buffer(1, b).buffer(2, out, 0, 400, 40).buffer(3, nb).dims(1, 32);
  CHECK(mm_dispatch(d, k, d2.build()) == MM_OK);
  ok = true;
  for (uint32_t i = 0; i < 10; ++i) ok = ok && o[100 + i] == (11.0f + float(i)) + (0.5f + float(i));
  CHECK(ok && o[110] == 1.5f + 2.0f * 110.0f);  // the element after the window is untouched
}

void test_dispatch_errors(mm_device d) {
  g_test = "dispatch errors";
  mm_kernel k = builtin_kernel(d, "vadd");
  const uint32_t n = 64;
  mm_buffer a = alloc_floats(d, n, 0), b = alloc_floats(d, n, 0), out = alloc_floats(d, n, 0);
  mm_buffer u8 = 0;
  mm_buffer_alloc(d, 256, &u8);
  auto good = [&] {
    Desc x;
    x.buffer(0, a).buffer(1, b).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    return x;
  };
  CHECK(mm_dispatch(d, k, good().build()) == MM_OK);
  CHECK_ERR(mm_dispatch(d, k, nullptr), MM_E_INVALID_ARG, "mm_dispatch: kernel vadd: desc is NULL");
  {
    Desc x = good();
    mm_dispatch_desc* p = x.build();
    p->size = sizeof(mm_dispatch_desc) + 2 * sizeof(mm_binding);
    CHECK_ERR(mm_dispatch(d, k, p), MM_E_INVALID_ARG, "desc->size", "4 bindings need");
  }
  {
    Desc x = good();
    mm_dispatch_desc* p = x.build();
    p->size = sizeof(mm_dispatch_desc) - 1;  // n_bindings must not be read from a short block
    CHECK_ERR(mm_dispatch(d, k, p), MM_E_INVALID_ARG, "smaller than the header");
  }
  {
    Desc x = good();
    mm_dispatch_desc* p = x.build();
    p->function_constants_defined = 1u << MM_MAX_FUNCTION_CONSTANTS;  // only 16 value slots exist
    CHECK_ERR(mm_dispatch(d, k, p), MM_E_INVALID_ARG, "sets bits past the 16 slots");
  }
  {
    Desc x = good();
    x.dims(1, 64, 0, 1);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_INVALID_ARG, "must be >= 1");
  }
  {
    Desc x = good();
    x.dims(1, 32, 1, 64);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_LIMIT, "threadgroup 32x64x1 = 2048 threads exceeds the limit 1024");
  }
  {
    Desc x = good();
    x.dims(70000, 1, 70000, 1);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_LIMIT, "threadgroups exceeds 2^32-1");
    x.dims(0x01000000, 512);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_LIMIT, "dimension 0");
  }
  {
    Desc x;  // missing buffer(2)
    x.buffer(0, a).buffer(1, b).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BINDING, "buffer(2) 'out' (device float*) is not bound");
  }
  {
    Desc x = good();
    x.buffer(5, a);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BINDING, "buffer(5) is bound but the kernel declares no [[buffer(5)]]");
    Desc y = good();
    y.buffer(31, a);
    CHECK_ERR(mm_dispatch(d, k, y.build()), MM_E_BINDING, "index 31");
    Desc z = good();
    z.buffer(1, a);
    CHECK_ERR(mm_dispatch(d, k, z.build()), MM_E_BINDING, "buffer(1) 'b' is bound twice");
  }
  {
    Desc x;
    x.buffer(0, a).inline_bytes(1, &n, 4).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BINDING, "buffer(1) 'b' is a device argument and needs a buffer");
    Desc y;
    uint16_t shortn = 5;
    y.buffer(0, a).buffer(1, b).buffer(2, out).inline_bytes(3, &shortn, 2).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, y.build()), MM_E_BINDING, "2 inline bytes but uint is 4 bytes");
    Desc z = good();
    mm_dispatch_desc* p = z.build();
    p->bindings[3].offset = p->size - 2;  // bytes reaching past the desc
    CHECK_ERR(mm_dispatch(d, k, p), MM_E_BOUNDS, "lie outside the desc");
    Desc w = good();
    p = w.build();
    p->bindings[0].kind = 9;
    CHECK_ERR(mm_dispatch(d, k, p), MM_E_INVALID_ARG, "has kind 9");
  }
  {
    Desc x;
    x.buffer(0, a).buffer(1, u8, MM_DTYPE_U8).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BINDING,
              "mm_dispatch: kernel vadd: buffer(1) is bound to a u8 buffer but the kernel declares float (f32)");
  }
  {
    Desc x;
    x.buffer(0, a).buffer(1, b, 0, 2).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_ALIGNMENT, "buffer(1) 'b': offset 2 is not a multiple of 4");
    Desc y;
    y.buffer(0, a).buffer(1, b, 0, 256).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, y.build()), MM_E_BOUNDS, "offset 256 is not inside the 256-byte buffer");
    Desc z;
    z.buffer(0, a).buffer(1, b, 0, 128, 132).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, z.build()), MM_E_BOUNDS, "offset 128 + length 132 = 260 exceeds the buffer length 256");
    Desc w;
    w.buffer(0, a).buffer(1, b, 0, 0, 2).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, w.build()), MM_E_BOUNDS, "only 2 bytes visible but one float is 4 bytes");
  }
  {
    mm_buffer gone = 0;
    mm_buffer_alloc(d, 256, &gone);
    mm_buffer_free(gone);
    Desc x;
    x.buffer(0, a).buffer(1, gone).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BAD_HANDLE, "mm_dispatch: kernel vadd: buffer(1) 'b': buffer handle",
              "was already freed");
    mm_device other = open_cpu(1);
    mm_buffer foreign = alloc_floats(other, 64, 0);
    Desc y;
    y.buffer(0, a).buffer(1, foreign).buffer(2, out).inline_bytes(3, &n, 4).dims(1, 64);
    CHECK_ERR(mm_dispatch(d, k, y.build()), MM_E_BAD_HANDLE, "belongs to device");
    mm_kernel fk = builtin_kernel(other, "vadd");
    CHECK_ERR(mm_dispatch(d, fk, good().build()), MM_E_BAD_HANDLE, "kernel vadd", "belongs to device");
    CHECK_ERR(mm_dispatch(d, a, good().build()), MM_E_BAD_HANDLE, "is a buffer handle, expected a kernel handle");
    mm_device_close(other);
  }
}

void test_threadgroup_memory(mm_device d) {
  g_test = "threadgroup memory";
  mm_kernel k = builtin_kernel(d, "affine");
  mm_buffer out = alloc_floats(d, 100, 0);
  Affine p{2.0f, 1.0f, 100};
  auto base = [&] {
    Desc x;
    x.buffer(0, out).inline_bytes(1, &p, sizeof p).dims(2, 64);
    x.tgmem[0] = 256;
    return x;
  };
  CHECK(mm_dispatch(d, k, base().build()) == MM_OK);
  auto* o = static_cast<float*>(mm_buffer_contents(out));
  CHECK(o[0] == 1.0f && o[99] == 199.0f);
  Desc x = base();
  x.tgmem[0] = 0;
  CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BINDING, "threadgroup_memory[0] = 0", "nonzero multiple of 16");
  x.tgmem[0] = 24;
  CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BINDING, "threadgroup_memory[0] = 24");
  x.tgmem[0] = 32768;
  CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_LIMIT, "1024 static + 32768 dynamic = 33792 bytes exceeds the limit 32768");
  x.tgmem[0] = 256;
  x.tgmem[3] = 64;
  CHECK_ERR(mm_dispatch(d, k, x.build()), MM_E_BINDING, "no [[threadgroup(3)]]");
  Desc y = base();
  y.dims(1, 128);
  CHECK_ERR(mm_dispatch(d, k, y.build()), MM_E_LIMIT, "128 threads exceeds the limit 64");
  // A 12-byte struct in a buffer needs 4-byte alignment only; the visible window must hold one.
  mm_buffer pb = 0;
  mm_buffer_alloc(d, 64, &pb);
  std::memcpy(static_cast<char*>(mm_buffer_contents(pb)) + 4, &p, sizeof p);
  Desc z;
  z.buffer(0, out).buffer(1, pb, 0, 4).dims(2, 64);
  z.tgmem[0] = 16;
  CHECK(mm_dispatch(d, k, z.build()) == MM_OK);
  Desc w;
  w.buffer(0, out).buffer(1, pb, 0, 6).dims(2, 64);
  w.tgmem[0] = 16;
  CHECK_ERR(mm_dispatch(d, k, w.build()), MM_E_ALIGNMENT, "offset 6 is not a multiple of 4 (alignment of Affine)");
}

void test_builtin_and_failures(mm_device d) {
  g_test = "dispatch_builtin";
  const uint32_t n = 100;
  mm_buffer a = alloc_floats(d, n, 3), b = alloc_floats(d, n, 4), out = alloc_floats(d, n, 0);
  uint32_t grid[3] = {4, 1, 1}, tg[3] = {32, 1, 1};
  mm::core::Bind binds[4] = {{0, a, 0, 0, nullptr, MM_DTYPE_F32},
                             {1, b, 0, 0, nullptr, 0},
                             {2, out, 0, 0, nullptr, 0},
                             {3, 0, 0, 4, &n, MM_DTYPE_U32}};
  for (int rep = 0; rep < 2; ++rep)  // the second call takes the cached kernel lookup
    CHECK(mm::core::dispatch_builtin(d, "vadd", grid, tg, binds, 4, nullptr) == MM_OK);
  auto* o = static_cast<float*>(mm_buffer_contents(out));
  CHECK(o[0] == 7.0f && o[99] == 7.0f + 198.0f);
  CHECK_ERR(mm::core::dispatch_builtin(d, "vmul", grid, tg, binds, 4, nullptr), MM_E_UNKNOWN_KERNEL, "vmul", "vadd");
  CHECK_ERR(mm::core::dispatch_builtin(d, "vadd", grid, tg, binds, 3, nullptr), MM_E_BINDING, "buffer(3) 'n'");
  binds[1].dtype = MM_DTYPE_F16;
  CHECK_ERR(mm::core::dispatch_builtin(d, "vadd", grid, tg, binds, 4, nullptr), MM_E_BINDING, "bound to a f16 buffer");

  g_test = "kernel failure";
  mm_kernel fk = builtin_kernel(d, "planted_fail");
  Desc x;
  x.dims(1, 1);
  CHECK_ERR(mm_dispatch(d, fk, x.build()), MM_E_INTERNAL, "mm_dispatch: ", "planted failure");
  CHECK(contains(mm_last_error(), "planted.metal:42") || contains(mm_last_error(), "planted.metal"));
  CHECK(mm_device_synchronize(d) == MM_OK);  // CPU dispatches are synchronous: nothing deferred
}

}  // namespace

void run_dispatch_tests() {
  mm_device d = open_cpu(2);
  test_vadd(d);
  test_dispatch_errors(d);
  test_threadgroup_memory(d);
  test_builtin_and_failures(d);
  mm_device_close(d);
}
