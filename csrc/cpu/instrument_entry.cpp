// instrument_entry.cpp — the C entry point of trace mode (mm_trace_take, appended section of
// metal_marlin.h). Text the caller's buffer was too small for waits in the Device (objects.h) for
// the next call.
#include <cstring>
#include <string>

#include "../core/entry.h"
#include "../core/objects.h"

using namespace mm::core;

extern "C" MM_API int mm_trace_take(mm_device h, char* out, uint64_t capacity, uint64_t* length) {
  static const char* op = "mm_trace_take";
  return guarded(op, [&] {
    if (!length) return fail(MM_E_INVALID_ARG, "%s: length is NULL", op);
    *length = 0;
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    // dev->mu serializes takers of one device; the backend's Instrument locks its own trace text.
    std::lock_guard<std::mutex> lock(dev->mu);
    std::string text;
    if (!dev->trace_pending.empty()) {
      text.swap(dev->trace_pending);
    } else if (int rc = dev->backend->trace_take(op, &text)) {
      return rc;
    }
    *length = text.size() + 1;
    if (!out || capacity < text.size() + 1) {
      const uint64_t need = text.size() + 1;
      dev->trace_pending = std::move(text);
      return fail(MM_E_INVALID_ARG, "%s: buffer of %llu bytes, the trace needs %llu", op,
                  static_cast<unsigned long long>(capacity), static_cast<unsigned long long>(need));
    }
    std::memcpy(out, text.c_str(), text.size() + 1);
    return MM_OK;
  });
}
