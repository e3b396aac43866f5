// device.cpp — the simulated MTLDevice (an Apple7-class GPU whose kernels run on the CPU shader
// runtime) and MTLBuffer (shared storage: contents are host memory). Ownership follows Metal: new*
// methods and MTLCreateSystemDefaultDevice return +1 objects, getters +0.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "driver.h"

namespace mm::sim {

namespace {

// Threads of the CPU runtime per device: MM_SIM_THREADS, else the machine's cores (at most 8).
uint32_t scheduler_threads() {
  if (const char* v = std::getenv("MM_SIM_THREADS")) {
    long n = std::strtol(v, nullptr, 10);
    if (n >= 1 && n <= 64) return static_cast<uint32_t>(n);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : (hw > 8 ? 8 : hw);
}

uint64_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(size) : (8ull << 30);
}

// Storage modes other than shared would need blit copies the backend does not do (Apple silicon has
// unified memory); the simulation accepts exactly what the backend is meant to pass.
bool check_options(const char* method, NSUInteger options) {
  NSUInteger storage = (options >> 4) & 0xf;
  if (storage != 0) {
    violation("-[MTLDebugDevice %s]: metal-sim supports MTLResourceStorageModeShared only (options = 0x%lx)", method,
              options);
    return false;
  }
  return true;
}

void finalize_buffer(Object* o) {
  auto* b = static_cast<BufferObj*>(o);
  if (b->owns) std::free(b->contents);
  if (b->deallocator) {
    auto* block = static_cast<BlockLayout*>(b->deallocator);
    reinterpret_cast<void (*)(void*, void*, NSUInteger)>(block->invoke)(block, b->contents, b->length);
    _Block_release(b->deallocator);
  }
  release(b->label);
}

id new_buffer(NSUInteger length, NSUInteger options) {
  if (!check_options("newBufferWithLength:options:", options)) return nullptr;
  if (length == 0) {
    violation("-[MTLDebugDevice newBufferWithLength:options:]: failed assertion `Buffer Validation length(0) must be > 0.'");
    return nullptr;
  }
  void* p = nullptr;
  NSUInteger rounded = (length + kPage - 1) / kPage * kPage;
  if (length > (1ull << 40) || posix_memalign(&p, kPage, rounded) != 0) return nullptr;  // Metal returns nil
  std::memset(p, 0, rounded);
  auto* b = alloc_instance<BufferObj>(class_named("MTLSimBuffer"));
  b->contents = p;
  b->length = length;
  b->owns = true;
  counters().buffers++;
  return obj(b);
}

id new_buffer_no_copy(void* p, NSUInteger length, NSUInteger options, void* deallocator) {
  const char* m = "-[MTLDebugDevice newBufferWithBytesNoCopy:length:options:deallocator:]";
  if (!check_options("newBufferWithBytesNoCopy:length:options:deallocator:", options)) return nullptr;
  if (reinterpret_cast<uintptr_t>(p) % kPage) {
    violation("%s: failed assertion `pointer %p is not %lu byte aligned.'", m, p, kPage);
    return nullptr;
  }
  if (length == 0 || length % kPage) {
    violation("%s: failed assertion `length(%lu) must be a multiple of %lu bytes.'", m, length, kPage);
    return nullptr;
  }
  auto* b = alloc_instance<BufferObj>(class_named("MTLSimBuffer"));
  b->contents = p;
  b->length = length;
  b->deallocator = deallocator ? _Block_copy(deallocator) : nullptr;
  counters().buffers++;
  return obj(b);
}

}  // namespace

void install_device() {
  Class ns = root_class();
  Class buffer = define<BufferObj>("MTLSimBuffer", ns, finalize_buffer);
  def<void*>(buffer, "contents", [](id self, SEL) -> void* { return as<BufferObj>(self)->contents; });
  def<NSUInteger>(buffer, "length", [](id self, SEL) -> NSUInteger { return as<BufferObj>(self)->length; });
  def<id>(buffer, "label", [](id self, SEL) -> id {
    std::string l = label_of(&as<BufferObj>(self)->label);
    return l.empty() ? nullptr : make_string(l);
  });
  def<void, id>(buffer, "setLabel:", [](id self, SEL, id label) { set_label(&as<BufferObj>(self)->label, label); });

  // The scheduler's threads stop at the last release, even while the object waits as a zombie.
  Class device = define<DeviceObj>("MTLSimDevice", ns, [](Object* o) { static_cast<DeviceObj*>(o)->scheduler.reset(); });
  def<id>(device, "name", [](id, SEL) -> id { return make_string("metal-sim (Apple7 simulated on the CPU shader runtime)"); });
  def<BOOL, NSInteger>(device, "supportsFamily:", [](id, SEL, NSInteger family) -> BOOL {
    // Reports an Apple7 GPU (M1): Apple1..Apple7, Mac2, Common1..3, Metal3.
    return (family >= 1001 && family <= 1007) || family == 2002 || (family >= 3001 && family <= 3003) || family == 5001;
  });
  def<MTLSize>(device, "maxThreadsPerThreadgroup", [](id, SEL) -> MTLSize { return {kMaxThreads, kMaxThreads, kMaxThreads}; });
  def<NSUInteger>(device, "maxThreadgroupMemoryLength", [](id, SEL) -> NSUInteger { return kMaxTgMem; });
  // Apple silicon allows about half of memory per buffer and recommends about two thirds in total.
  def<NSUInteger>(device, "maxBufferLength", [](id, SEL) -> NSUInteger { return physical_memory() / 2; });
  def<uint64_t>(device, "recommendedMaxWorkingSetSize", [](id, SEL) -> uint64_t { return physical_memory() / 3 * 2; });
  def<BOOL>(device, "hasUnifiedMemory", [](id, SEL) -> BOOL { return true; });
  def<id>(device, "newCommandQueue", [](id self, SEL) -> id {
    auto* q = alloc_instance<QueueObj>(class_named("MTLSimCommandQueue"));
    q->device = retain(self);
    start_queue(q);
    return obj(q);
  });
  def<id, NSUInteger, NSUInteger>(device, "newBufferWithLength:options:", [](id, SEL, NSUInteger length, NSUInteger options) -> id {
    return new_buffer(length, options);
  });
  def<id, void*, NSUInteger, NSUInteger, void*>(device, "newBufferWithBytesNoCopy:length:options:deallocator:",
      [](id, SEL, void* p, NSUInteger length, NSUInteger options, void* deallocator) -> id {
    return new_buffer_no_copy(p, length, options, deallocator);
  });
}

}  // namespace mm::sim

// Apple's only C entry point here: a +1 device (NS_RETURNS_RETAINED), a new one per call.
extern "C" id MTLCreateSystemDefaultDevice(void) {
  using namespace mm::sim;
  auto* d = alloc_instance<DeviceObj>(class_named("MTLSimDevice"));
  d->scheduler = std::make_unique<mm::cpu::Scheduler>(scheduler_threads());
  return obj(d);
}
