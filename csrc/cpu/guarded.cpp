// guarded.cpp — see guarded.h.
#include "guarded.h"

#include <sys/mman.h>
#include <unistd.h>

namespace mm::cpu {

uint64_t guarded_body(uint64_t bytes) {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (bytes == 0) bytes = 1;
  return (bytes + page - 1) / page * page;
}

void* guarded_alloc(uint64_t bytes, uint64_t guard) {
  const uint64_t body = guarded_body(bytes);
  const uint64_t total = body + 2 * guard;
  void* base = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  char* p = static_cast<char*>(base) + guard;
  if (mprotect(p, body, PROT_READ | PROT_WRITE) != 0) {
    munmap(base, total);
    return nullptr;
  }
  return p;  // anonymous memory is zero-filled
}

void guarded_free(void* p, uint64_t bytes, uint64_t guard) {
  if (!p) return;
  const uint64_t body = guarded_body(bytes);
  munmap(static_cast<char*>(p) - guard, body + 2 * guard);
}

}  // namespace mm::cpu
