// violations.cpp — the record of broken rules. On a Mac each of these aborts the process (Metal's API
// validation layer, or Apple's runtime); here the failure is recorded so a test can observe it through
// mm_sim_take_violations (sim_api.h) instead of dying, and MM_SIM_ABORT=1 restores the abort.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "runtime.h"

namespace {

struct Record {
  std::mutex mu;
  std::vector<std::string> messages;  // since the last take_violations()
  long total = 0;
};
Record& record() {
  static auto* r = new Record();
  return *r;
}

}  // namespace

namespace mm::sim {

void violation(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "metal-sim: %s\n", buf);
  const char* abort_on = std::getenv("MM_SIM_ABORT");
  if (abort_on && abort_on[0] == '1') std::abort();
  Record& r = record();
  std::lock_guard<std::mutex> lock(r.mu);
  r.messages.emplace_back(buf);
  ++r.total;
}

long violation_count() {
  Record& r = record();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.total;
}

std::vector<std::string> peek_violations() {
  Record& r = record();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.messages;
}

std::vector<std::string> take_violations() {
  Record& r = record();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> out = std::move(r.messages);
  r.messages.clear();
  return out;
}

}  // namespace mm::sim
