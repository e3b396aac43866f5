// progress.h — progress of long CPU dispatches on a terminal. A dispatch blocks the JavaScript thread
// inside one FFI call, so JS cannot draw anything until it returns; the workers report instead: when
// mm_cpu_progress() has enabled it, a dispatch that runs longer than `after_ms` draws one line
// ("label kernel [#####.....]  42%  1720 / 4096 threadgroups  12 s") on the chosen file descriptor,
// at most ten times a second, and ends it with a newline.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace mm::cpu {

// mm_cpu_progress: fd < 0 turns progress off; label may be null.
void set_progress(int fd, uint32_t after_ms, const char* label);

class ProgressMeter {
 public:
  // Armed only when progress is enabled (mm_cpu_progress) and the grid has more than one threadgroup.
  ProgressMeter(const char* kernel, uint64_t total);
  ~ProgressMeter();  // ends the line if one was drawn
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  bool armed() const { return fd_ >= 0; }
  // One more threadgroup finished (any worker). Cheap: one atomic add and one clock read.
  void tick();

 private:
  void draw(uint64_t done, uint64_t now_ms);

  int fd_ = -1;
  uint64_t total_ = 0;
  uint64_t start_ms_ = 0;
  uint64_t after_ms_ = 0;
  std::string prefix_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> next_draw_ms_{0};
  std::atomic<bool> drawn_{false};
};

}  // namespace mm::cpu
