// objects.cpp — memory management of the metal-sim runtime: retain counts, autorelease pools (the
// entry points clang emits for @autoreleasepool), zombies and the leak report. Apple's wording is kept
// for the failures, so a message from the simulation reads like the one a Mac would print.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "runtime.h"

namespace mm::sim {
void run_finalize(Object* o);  // classes.cpp
void run_free(Object* o);
}  // namespace mm::sim

namespace {

using mm::sim::Object;

// Freed objects stay allocated as zombies (any message is reported) until this many newer ones wait;
// bounded so a long test run does not grow without limit. MM_SIM_ZOMBIES=0 frees at once.
constexpr size_t kQuarantine = 1 << 16;

struct Heap {
  std::mutex mu;
  std::unordered_set<Object*> live;
  std::deque<Object*> quarantine;
  bool zombies = true;
};
Heap& heap() {
  static Heap* h = [] {
    auto* fresh = new Heap();
    const char* z = std::getenv("MM_SIM_ZOMBIES");
    fresh->zombies = !(z && z[0] == '0');
    return fresh;
  }();
  return *h;
}

// MM_SIM_LEAK_CHECK=1: objects still alive at exit are listed and the exit status becomes 1.
void leak_check_at_exit() {
  const char* v = std::getenv("MM_SIM_LEAK_CHECK");
  if (!v || v[0] != '1') return;
  if (mm::sim::live_objects("metal-sim: leak check at exit: ") > 0) _exit(1);
}

thread_local std::vector<std::vector<id>> t_pools;

}  // namespace

namespace mm::sim {

Object* track_new(Object* o, Class cls) {
  static std::once_flag once;
  std::call_once(once, [] { std::atexit(leak_check_at_exit); });
  o->isa = cls;
  Heap& h = heap();
  std::lock_guard<std::mutex> lock(h.mu);
  h.live.insert(o);
  return o;
}

id retain(id obj) {
  if (!obj || is_constant(obj->isa)) return obj;
  auto* o = reinterpret_cast<Object*>(obj);
  if (o->zombie.load(std::memory_order_relaxed)) {
    violation("*** -[%s retain]: message sent to deallocated instance %p", class_name(obj->isa),
              static_cast<void*>(obj));
    return obj;
  }
  o->rc.fetch_add(1, std::memory_order_relaxed);
  return obj;
}

void release(id obj) {
  if (!obj || is_constant(obj->isa)) return;
  auto* o = reinterpret_cast<Object*>(obj);
  if (o->zombie.load(std::memory_order_acquire)) {
    violation("*** -[%s release]: message sent to deallocated instance %p", class_name(obj->isa),
              static_cast<void*>(obj));
    return;
  }
  long left = o->rc.fetch_sub(1, std::memory_order_acq_rel) - 1;
  if (left > 0) return;
  run_finalize(o);
  Heap& h = heap();
  Object* to_free = o;
  {
    std::lock_guard<std::mutex> lock(h.mu);
    h.live.erase(o);
    if (h.zombies) {
      o->zombie.store(true, std::memory_order_release);
      h.quarantine.push_back(o);
      to_free = h.quarantine.size() > kQuarantine ? h.quarantine.front() : nullptr;
      if (to_free) h.quarantine.pop_front();
    }
  }
  if (to_free) run_free(to_free);
}

id autorelease(id obj) {
  if (!obj || is_constant(obj->isa)) return obj;
  if (t_pools.empty()) {
    // Apple's runtime leaks the object and says so; a test observes the violation and the leak.
    violation("objc[%d]: MISSING POOLS: (%p) Object %p of class %s autoreleased with no pool in place - just leaking"
              " - break on objc_autoreleaseNoPool() to debug",
              static_cast<int>(getpid()), static_cast<void*>(obj), static_cast<void*>(obj), class_name(obj->isa));
    return obj;
  }
  t_pools.back().push_back(obj);
  return obj;
}

bool is_zombie(id obj) {
  return obj && !is_constant(obj->isa) && reinterpret_cast<Object*>(obj)->zombie.load(std::memory_order_acquire);
}
long retain_count(id obj) { return obj ? reinterpret_cast<Object*>(obj)->rc.load() : 0; }

long live_objects(const char* report) {
  quiesce();
  Heap& h = heap();
  std::lock_guard<std::mutex> lock(h.mu);
  long n = static_cast<long>(h.live.size());
  if (report && n) {
    std::string line = report + std::to_string(n) + " live object" + (n == 1 ? "" : "s") + ":";
    for (Object* o : h.live) line += std::string(" ") + class_name(o->isa) + "(rc=" + std::to_string(o->rc.load()) + ")";
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return n;
}

}  // namespace mm::sim

extern "C" {

// The entry points clang emits for @autoreleasepool (Apple's libobjc exports the same).
void* objc_autoreleasePoolPush(void) {
  t_pools.emplace_back();
  return reinterpret_cast<void*>(t_pools.size());
}

// Pops the pool `token` and every pool pushed after it (Apple's rule), releasing their objects.
void objc_autoreleasePoolPop(void* token) {
  size_t depth = reinterpret_cast<size_t>(token);
  if (depth == 0 || depth > t_pools.size()) {
    mm::sim::violation("objc[%d]: Invalid or prematurely-freed autorelease pool %p.", static_cast<int>(getpid()), token);
    return;
  }
  while (t_pools.size() >= depth) {
    std::vector<id> objs = std::move(t_pools.back());
    t_pools.pop_back();
    for (id o : objs) mm::sim::release(o);
  }
}

}  // extern "C"
