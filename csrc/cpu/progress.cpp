// progress.cpp — ProgressMeter and mm_cpu_progress (see progress.h).
#include "progress.h"

#include <unistd.h>

#include <chrono>
#include <mutex>


namespace mm::cpu {
namespace {

// The setting of mm_cpu_progress (set_progress): read once per dispatch, under the lock. g_on lets the
// usual dispatch (progress off) skip the lock.
std::mutex g_m;
std::atomic<bool> g_on{false};
int g_fd = -1;
uint32_t g_after_ms = 1000;
std::string g_label;

uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

// Best effort: a terminal that goes away must not fail the dispatch.
void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t w = ::write(fd, s.data() + off, s.size() - off);
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}

}  // namespace

ProgressMeter::ProgressMeter(const char* kernel, uint64_t total) : total_(total) {
  if (total < 2 || !g_on.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lk(g_m);
  if (g_fd < 0 || total < 2) return;
  fd_ = g_fd;
  after_ms_ = g_after_ms;
  prefix_ = g_label.empty() ? std::string(kernel ? kernel : "dispatch") : g_label + " " + (kernel ? kernel : "");
  start_ms_ = now_ms();
  next_draw_ms_.store(start_ms_ + after_ms_, std::memory_order_relaxed);
}

ProgressMeter::~ProgressMeter() {
  if (!drawn_.load()) return;
  draw(done_.load(), now_ms());
  write_all(fd_, "\n");
}

void ProgressMeter::tick() {
  const uint64_t done = done_.fetch_add(1, std::memory_order_relaxed) + 1;
  uint64_t due = next_draw_ms_.load(std::memory_order_relaxed);
  const uint64_t now = now_ms();
  if (now < due) return;
  // One worker wins each redraw; the others go on with their threadgroups.
  if (!next_draw_ms_.compare_exchange_strong(due, now + 100, std::memory_order_relaxed)) return;
  drawn_.store(true);
  draw(done, now);
}

void ProgressMeter::draw(uint64_t done, uint64_t now) {
  constexpr int kWidth = 30;
  const uint64_t pct = done * 100 / total_;
  const int full = static_cast<int>(done * kWidth / total_);
  std::string line = "\r" + prefix_ + " [" + std::string(full, '#') + std::string(kWidth - full, '.') + "] ";
  const std::string p = std::to_string(pct);
  line += std::string(p.size() < 3 ? 3 - p.size() : 0, ' ') + p + "%  " + std::to_string(done) + " / " +
          std::to_string(total_) + " threadgroups  " + std::to_string((now - start_ms_) / 1000) + " s";
  write_all(fd_, line);
}

void set_progress(int fd, uint32_t after_ms, const char* label) {
  std::lock_guard<std::mutex> lk(g_m);
  g_fd = fd < 0 ? -1 : fd;
  g_after_ms = after_ms;
  g_label = label ? label : "";
  g_on.store(g_fd >= 0, std::memory_order_relaxed);
}

}  // namespace mm::cpu
