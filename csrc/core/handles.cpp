// handles.cpp — slot table behind every handle. A stale handle must keep failing for as long as
// anyone could plausibly still hold it: freed slots wait in a FIFO behind at least kMinFree others
// before reuse, so a slot comes back at most once per 1024 allocations and its 12-bit generation
// wraps only after 1024 x 4096 (about 4 million) allocations of that type. (Retiring a slot at the
// wrap instead would cap a process at ~268 million allocations, which a decode loop reaches in hours.)
#include "handles.h"

#include <deque>
#include <mutex>
#include <vector>

#include "internal.h"

namespace mm::core {

namespace {

constexpr uint32_t kSlots = 1u << 16;
constexpr uint32_t kGenMask = 0xFFFu;
constexpr size_t kMinFree = 1024;  // freed slots kept back before one is reused

struct Slot {
  std::shared_ptr<Object> obj;  // null when free
  Tag tag = Tag::Device;
  uint32_t gen = 0;
};

struct Registry {
  std::mutex mu;
  std::vector<Slot> slots;
  std::deque<uint32_t> free_slots;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: handles may be released during exit
  return *r;
}

uint32_t make_handle(Tag tag, uint32_t gen, uint32_t slot) {
  return (static_cast<uint32_t>(tag) << 28) | ((gen & kGenMask) << 16) | slot;
}

// Finds the live slot of h or explains why there is none. Caller holds the lock.
Slot* find(Registry& r, uint32_t h, Tag tag, const char* op) {
  const char* want = tag_name(tag);
  if (h == 0) {
    if (op) fail(MM_E_BAD_HANDLE, "%s: %s handle is 0 (null; never a valid handle)", op, want);
    return nullptr;
  }
  uint32_t t = h >> 28, gen = (h >> 16) & kGenMask, slot = h & 0xFFFFu;
  if (t < 1 || t > 4) {
    if (op) fail(MM_E_BAD_HANDLE, "%s: 0x%x is not a metal-marlin handle (expected a %s handle)", op, h, want);
    return nullptr;
  }
  if (t != static_cast<uint32_t>(tag)) {
    if (op)
      fail(MM_E_BAD_HANDLE, "%s: handle 0x%x is a %s handle, expected a %s handle", op, h,
           tag_name(static_cast<Tag>(t)), want);
    return nullptr;
  }
  if (slot >= r.slots.size()) {
    if (op) fail(MM_E_BAD_HANDLE, "%s: %s handle 0x%x was never issued", op, want, h);
    return nullptr;
  }
  Slot& s = r.slots[slot];
  if (!s.obj || s.gen != gen || s.tag != tag) {
    if (op) fail(MM_E_BAD_HANDLE, "%s: %s handle 0x%x was already freed", op, want, h);
    return nullptr;
  }
  return &s;
}

}  // namespace

const char* tag_name(Tag t) {
  switch (t) {
    case Tag::Device: return "device";
    case Tag::Buffer: return "buffer";
    case Tag::Library: return "library";
    case Tag::Kernel: return "kernel";
  }
  return "unknown";
}

uint32_t handle_add(Tag tag, std::shared_ptr<Object> obj, const char* op) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  uint32_t slot;
  const bool can_grow = r.slots.size() < kSlots;
  if (!r.free_slots.empty() && (r.free_slots.size() >= kMinFree || !can_grow)) {
    slot = r.free_slots.front();
    r.free_slots.pop_front();
  } else if (can_grow) {
    slot = static_cast<uint32_t>(r.slots.size());
    r.slots.emplace_back();
  } else {
    fail(MM_E_OUT_OF_MEMORY, "%s: all %u handles are in use (free buffers, libraries or devices)", op, kSlots);
    return 0;
  }
  Slot& s = r.slots[slot];
  s.obj = std::move(obj);
  s.tag = tag;
  return make_handle(tag, s.gen, slot);
}

std::shared_ptr<Object> handle_get(uint32_t h, Tag tag, const char* op) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  Slot* s = find(r, h, tag, op);
  return s ? s->obj : nullptr;
}

static std::shared_ptr<Object> remove_impl(uint32_t h, Tag tag, const char* op) {
  Registry& r = registry();
  std::shared_ptr<Object> out;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    Slot* s = find(r, h, tag, op);
    if (!s) return nullptr;
    out = std::move(s->obj);
    s->obj.reset();
    s->gen = (s->gen + 1) & kGenMask;
    r.free_slots.push_back(h & 0xFFFFu);
  }
  return out;  // destroyed by the caller, outside the lock
}

bool handle_was_freed(uint32_t h, Tag tag) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  uint32_t slot = h & 0xFFFFu;
  if ((h >> 28) != static_cast<uint32_t>(tag) || slot >= r.slots.size()) return false;
  const Slot& s = r.slots[slot];
  return !s.obj || s.gen != ((h >> 16) & kGenMask) || s.tag != tag;
}

std::shared_ptr<Object> handle_remove(uint32_t h, Tag tag, const char* op) { return remove_impl(h, tag, op); }
std::shared_ptr<Object> handle_take(uint32_t h, Tag tag) { return remove_impl(h, tag, nullptr); }

}  // namespace mm::core
