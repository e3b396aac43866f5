// errors.cpp — the thread-local error message behind mm_last_error.
#include <cstdarg>
#include <cstdio>
#include <string>

#include "entry.h"
#include "internal.h"

namespace mm::core {

namespace {
thread_local std::string t_message;
}

int fail(int code, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  try {
    if (static_cast<size_t>(n) < sizeof buf) {
      t_message.assign(buf, static_cast<size_t>(n));
    } else {  // long message (e.g. a list of kernel names): format again at full size
      std::string big(static_cast<size_t>(n) + 1, '\0');
      va_start(ap, fmt);
      std::vsnprintf(big.data(), big.size(), fmt, ap);
      va_end(ap);
      big.resize(static_cast<size_t>(n));
      t_message = std::move(big);
    }
  } catch (...) {
    // Out of heap: keep as much of the message as the existing capacity holds.
    t_message.clear();
    size_t keep = t_message.capacity() < static_cast<size_t>(n) ? t_message.capacity() : static_cast<size_t>(n);
    if (keep >= sizeof buf) keep = sizeof buf - 1;
    t_message.append(buf, keep);
  }
  return code;
}

}  // namespace mm::core

extern "C" {

MM_API const char* mm_last_error(void) { return mm::core::t_message.c_str(); }
MM_API uint32_t mm_abi_version(void) { return MM_ABI_VERSION; }
MM_API uint32_t mm_noop(uint32_t x) { return x; }

}  // extern "C"
