// entry.h — wrapper for every extern "C" entry point: no C++ exception may cross the ABI.
#pragma once

#include <exception>
#include <new>

#include "internal.h"

namespace mm::core {

// Runs f() and maps escaping exceptions to MM_E_OUT_OF_MEMORY / MM_E_INTERNAL with a message.
template <class F>
int guarded(const char* op, F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(MM_E_OUT_OF_MEMORY, "%s: out of host memory", op);
  } catch (const std::exception& e) {
    return fail(MM_E_INTERNAL, "%s: internal error: %s (please report)", op, e.what());
  } catch (...) {
    return fail(MM_E_INTERNAL, "%s: internal error: unknown exception (please report)", op);
  }
}

// Same for entry points returning a value instead of a status: `bad` is returned on exceptions.
template <class R, class F>
R guarded_value(const char* op, R bad, F&& f) noexcept {
  R result = bad;
  guarded(op, [&] {
    result = f();
    return 0;
  });
  return result;
}

}  // namespace mm::core
