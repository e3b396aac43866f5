// buffer.cpp — mm_buffer_*: exact-length, zero-filled, page-aligned device buffers.
#include "entry.h"
#include "objects.h"

namespace mm::core {

int buffer_view(mm_device dev, mm_buffer buf, BufferView* out) {
  static const char* op = "buffer_view";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = BufferView{nullptr, 0};
    auto d = get_as<Device>(dev, Tag::Device, op);
    if (!d) return MM_E_BAD_HANDLE;
    auto b = get_as<Buffer>(buf, Tag::Buffer, op);
    if (!b) return MM_E_BAD_HANDLE;
    if (b->dev != d)
      return fail(MM_E_BAD_HANDLE, "%s: buffer 0x%x belongs to device 0x%x, not to device 0x%x", op, buf,
                  b->dev->handle, dev);
    *out = BufferView{b->mem.contents, b->mem.length};
    return MM_OK;
  });
}

}  // namespace mm::core

using namespace mm::core;

extern "C" {

MM_API int mm_buffer_alloc(mm_device h, uint64_t length, mm_buffer* out) {
  static const char* op = "mm_buffer_alloc";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = 0;
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    if (length == 0) return fail(MM_E_INVALID_ARG, "%s: length is 0 (a buffer holds at least 1 byte)", op);
    if (length > dev->max_buffer_length)
      return fail(MM_E_OUT_OF_MEMORY, "%s: %llu bytes requested but the device's max_buffer_length is %llu bytes",
                  op, static_cast<unsigned long long>(length),
                  static_cast<unsigned long long>(dev->max_buffer_length));
    auto buf = std::make_shared<Buffer>();
    if (int rc = dev->backend->buffer_alloc(op, length, &buf->mem)) {
      buf->mem = BackendBuffer{};  // nothing to free, and keep the counters balanced below
      buf->dev = nullptr;
      return rc;
    }
    buf->dev = dev;
    dev->allocated_bytes += length;
    dev->live_buffers += 1;
    uint32_t bh = adopt_child(*dev, Tag::Buffer, buf, op);
    if (!bh) return MM_E_OUT_OF_MEMORY;  // buf (and its memory) is released on return
    *out = bh;
    return MM_OK;
  });
}

MM_API int mm_buffer_free(mm_buffer h) {
  static const char* op = "mm_buffer_free";
  return guarded(op, [&] {
    auto obj = std::static_pointer_cast<Buffer>(handle_remove(h, Tag::Buffer, op));
    if (!obj) return MM_E_BAD_HANDLE;
    std::lock_guard<std::mutex> lock(obj->dev->mu);
    obj->dev->children.erase(h);
    return MM_OK;
  });
}

MM_API void* mm_buffer_contents(mm_buffer h) {
  static const char* op = "mm_buffer_contents";
  return guarded_value<void*>(op, nullptr, [&]() -> void* {
    auto b = get_as<Buffer>(h, Tag::Buffer, op);
    return b ? b->mem.contents : nullptr;
  });
}

MM_API uint64_t mm_buffer_length(mm_buffer h) {
  static const char* op = "mm_buffer_length";
  return guarded_value<uint64_t>(op, 0, [&]() -> uint64_t {
    auto b = get_as<Buffer>(h, Tag::Buffer, op);
    return b ? b->mem.length : 0;
  });
}

}  // extern "C"
