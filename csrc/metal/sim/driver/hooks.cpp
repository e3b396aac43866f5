// hooks.cpp — installation of the simulated frameworks, and the test-only switches and counters of
// sim_api.h: adverse scheduling, per-kernel pipeline limits, counters, violations, live objects.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <unordered_map>

#include "../sim_api.h"
#include "driver.h"

namespace mm::sim {

namespace {

std::atomic<int>& adverse_flag() {
  static std::atomic<int>* flag = [] {
    const char* v = std::getenv("MM_SIM_ADVERSE");
    return new std::atomic<int>(v && v[0] == '1' ? 1 : 0);
  }();
  return *flag;
}

struct Limits {
  std::mutex mu;
  uint32_t all = 0;
  std::unordered_map<std::string, uint32_t> by_name;
};
Limits& limits() {
  static auto* l = new Limits();
  return *l;
}

}  // namespace

void install_frameworks() {
  install_foundation();
  install_device();
  install_library();
  install_archive();
  install_encoder();
  install_command_buffer();
}

Class class_named(const char* name) {
  Class cls = objc_lookUpClass(name);
  if (!cls) {
    std::fprintf(stderr, "metal-sim: internal error: class %s is not defined\n", name);
    std::abort();
  }
  return cls;
}

Counters& counters() {
  static auto* c = new Counters();
  return *c;
}

bool adverse() { return adverse_flag().load(std::memory_order_relaxed) != 0; }

void adverse_delay() {
  if (!adverse()) return;
  thread_local std::minstd_rand rng(static_cast<unsigned>(
      std::chrono::steady_clock::now().time_since_epoch().count() ^ std::hash<std::thread::id>()(std::this_thread::get_id())));
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
}

uint32_t max_threads_override(const char* kernel_name) {
  Limits& l = limits();
  std::lock_guard<std::mutex> lock(l.mu);
  auto it = l.by_name.find(kernel_name);
  return it != l.by_name.end() ? it->second : l.all;
}

}  // namespace mm::sim

extern "C" {

size_t mm_sim_take_violations(char* buf, size_t cap) {
  std::string all;
  for (const std::string& m : buf ? mm::sim::take_violations() : mm::sim::peek_violations()) all += m + "\n";
  if (buf && cap) {
    size_t n = all.size() < cap - 1 ? all.size() : cap - 1;
    std::memcpy(buf, all.data(), n);
    buf[n] = '\0';
  }
  return all.size();
}

long mm_sim_violation_count(void) { return mm::sim::violation_count(); }

void mm_sim_get_counters(mm_sim_counters* out) {
  auto& c = mm::sim::counters();
  out->command_buffers_created = c.created;
  out->command_buffers_committed = c.committed;
  out->command_buffers_completed = c.completed;
  out->command_buffers_failed = c.failed;
  out->dispatches_encoded = c.encoded;
  out->dispatches_executed = c.executed;
  out->libraries_compiled = c.libraries;
  out->libraries_fast_math = c.fast_math;
  out->pipelines_created = c.pipelines;
  out->buffers_created = c.buffers;
  out->pipelines_compiled = c.pipelines_compiled;
  out->pipelines_from_archive = c.pipelines_from_archive;
  out->archive_functions_added = c.archive_adds;
  out->archives_loaded = c.archives_loaded;
}

void mm_sim_reset_counters(void) {
  auto& c = mm::sim::counters();
  for (auto* a : {&c.created, &c.committed, &c.completed, &c.failed, &c.encoded, &c.executed, &c.libraries,
                  &c.fast_math, &c.pipelines, &c.buffers, &c.pipelines_compiled, &c.pipelines_from_archive,
                  &c.archive_adds, &c.archives_loaded})
    a->store(0);
}

void mm_sim_set_adverse(int on) { mm::sim::adverse_flag().store(on ? 1 : 0); }
int mm_sim_adverse(void) { return mm::sim::adverse() ? 1 : 0; }

void mm_sim_set_max_threads(const char* name, uint32_t max_threads) {
  auto& l = mm::sim::limits();
  std::lock_guard<std::mutex> lock(l.mu);
  if (!name) {
    l.all = max_threads;
    if (!max_threads) l.by_name.clear();
  } else if (max_threads) {
    l.by_name[name] = max_threads;
  } else {
    l.by_name.erase(name);
  }
}

long mm_sim_live_objects(int report) { return mm::sim::live_objects(report ? "metal-sim: " : nullptr); }

}  // extern "C"
