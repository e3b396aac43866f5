// instrument_entry.cpp — the C entry point of trace mode (mm_trace_take, appended section of
// metal_marlin.h). The data stays in the backend until it fits the caller's buffer.
#include <cstring>
#include <string>

#include "../core/entry.h"
#include "../core/objects.h"

using namespace mm::core;

namespace {
// Taken but not yet delivered (the caller's buffer was too small): kept per device handle.
std::mutex g_mu;
std::unordered_map<uint32_t, std::string> g_pending;
}  // namespace

extern "C" MM_API int mm_trace_take(mm_device h, char* out, uint64_t capacity, uint64_t* length) {
  static const char* op = "mm_trace_take";
  return guarded(op, [&] {
    if (!length) return fail(MM_E_INVALID_ARG, "%s: length is NULL", op);
    *length = 0;
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_pending.find(h);
    std::string text;
    if (it != g_pending.end()) {
      text = std::move(it->second);
      g_pending.erase(it);
    } else if (int rc = dev->backend->trace_take(op, &text)) {
      return rc;
    }
    *length = text.size() + 1;
    if (!out || capacity < text.size() + 1) {
      const uint64_t need = text.size() + 1;
      g_pending[h] = std::move(text);
      return fail(MM_E_INVALID_ARG, "%s: buffer of %llu bytes, the trace needs %llu", op,
                  static_cast<unsigned long long>(capacity), static_cast<unsigned long long>(need));
    }
    std::memcpy(out, text.c_str(), text.size() + 1);
    return MM_OK;
  });
}
