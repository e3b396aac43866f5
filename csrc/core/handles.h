// handles.h — the one registry of live ABI objects. A handle is (tag 4 bits | generation 12 bits |
// slot 16 bits) and never 0, so freed, stale and wrong-type handles are reported, not dereferenced.
#pragma once

#include <cstdint>
#include <memory>

namespace mm::core {

enum class Tag : uint32_t { Device = 1, Buffer = 2, Library = 3, Kernel = 4 };
const char* tag_name(Tag t);

// Base of every registered object; shared_ptr keeps an object alive while a call uses it.
struct Object {
  virtual ~Object() = default;
};

// Registers obj; returns 0 and sets MM_E_OUT_OF_MEMORY when all 65536 slots are live.
uint32_t handle_add(Tag tag, std::shared_ptr<Object> obj, const char* op);
// Looks up a live handle of type `tag`; on failure sets MM_E_BAD_HANDLE (message starts with op).
std::shared_ptr<Object> handle_get(uint32_t h, Tag tag, const char* op);
// Unregisters and returns the object (nullptr + MM_E_BAD_HANDLE if not live).
std::shared_ptr<Object> handle_remove(uint32_t h, Tag tag, const char* op);
// Quiet variant for internal cleanup (no error message): nullptr if not live.
std::shared_ptr<Object> handle_take(uint32_t h, Tag tag);

// True when h has the right type tag and names a slot whose object was released (stale handle).
bool handle_was_freed(uint32_t h, Tag tag);

template <class T>
std::shared_ptr<T> get_as(uint32_t h, Tag tag, const char* op) {
  return std::static_pointer_cast<T>(handle_get(h, tag, op));
}

}  // namespace mm::core
