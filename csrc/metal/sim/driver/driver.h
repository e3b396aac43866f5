// driver.h — the simulated Metal and Foundation objects of metal-sim, shared by the driver's files:
// Foundation (foundation.cpp), device and buffers (device.cpp), the "compiler", functions and
// pipelines (library.cpp), encoders (encoder.cpp), command buffers and queues (command_buffer.cpp,
// queue.cpp), test hooks (hooks.cpp). Limits are Apple's documented values for Apple7+ GPUs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../../cpu/rt_abi.h"
#include "../../../cpu/scheduler.h"
#include "../runtime/runtime.h"

namespace mm::sim {

using NSUInteger = unsigned long;
using NSInteger = long;
struct MTLSize {
  NSUInteger width, height, depth;
};

constexpr NSUInteger kPage = 16384;        // vm_page_size on Apple silicon (newBufferWithBytesNoCopy)
constexpr NSUInteger kMaxBytes = 4096;     // setBytes:length:atIndex: "less than 4 KB"
constexpr NSUInteger kMaxTgMem = 32768;    // maxThreadgroupMemoryLength on Apple7+
constexpr NSUInteger kMaxThreads = 1024;   // maxThreadsPerThreadgroup (each dimension and in total)
constexpr NSUInteger kMaxBindings = 31;    // buffer argument table entries
constexpr NSUInteger kSimdWidth = 32;      // threadExecutionWidth
constexpr uint32_t kMaxConstants = 16;     // function constant slots of the CPU runtime

enum Status : NSUInteger { NotEnqueued = 0, Enqueued = 1, Committed = 2, Scheduled = 3, Completed = 4, Error = 5 };
enum : NSInteger {
  CommandBufferErrorInternal = 1,
  CommandBufferErrorTimeout = 2,
  CommandBufferErrorPageFault = 3,
  CommandBufferErrorOutOfMemory = 8,
  LibraryErrorCompileFailure = 3,
  LibraryErrorFunctionNotFound = 5,
};

// ---- Foundation (foundation.cpp) ----
struct NSStringObj : Object {
  std::string utf8;
};
struct NSErrorObj : Object {
  id domain = nullptr;   // retained NSString
  NSInteger code = 0;
  id message = nullptr;  // retained NSString (localizedDescription)
};
id make_string(const std::string& utf8);  // autoreleased NSString
const char* string_utf8(id str);          // by message: works for constant strings too; "" for nil
id make_error(id domain, NSInteger code, const std::string& message);  // autoreleased NSError
struct NSArrayObj : Object {
  std::vector<id> items;  // retained
};
struct NSURLObj : Object {
  std::string path;  // file URLs only
};
// Thread-safe copy property (label): stores a retained copy of `value` in `*slot`.
void set_label(id* slot, id value);
std::string label_of(id* slot);  // "" when unset
void install_foundation();

// ---- compiled modules (library.cpp) ----
struct Module {
  const mm_rt_module* rt = nullptr;
  uint64_t source_hash = 0;  // FNV-1a of the source: what a binary archive entry is matched against
  void* dl = nullptr;      // dlopen handle, kept for the life of the process
  std::string error_log;   // non-empty: compiling this source fails with this log
};
struct CompileOptionsObj : Object {
  bool fast_math = true;   // Metal's default
  NSUInteger language = (3 << 16) + 1;
};
struct ConstantValuesObj : Object {
  uint64_t values[kMaxConstants] = {};
  uint32_t defined = 0;
};
struct LibraryObj : Object {
  std::shared_ptr<const Module> module;
};
struct FunctionObj : Object {
  std::shared_ptr<const Module> module;
  const mm_rt_kernel* kernel = nullptr;
  uint64_t constants[kMaxConstants] = {};
  uint32_t constants_defined = 0;
};
struct PipelineObj : FunctionObj {
  NSUInteger max_threads = kMaxThreads;
};
void install_library();
uint64_t fnv1a(const std::string& s);
// library.cpp: a pipeline of `function`, counted as compiled or (from_archive) found in a binary archive.
id new_pipeline(id function, id* error, bool from_archive = false);

// ---- pipeline descriptors and binary archives (archive.cpp) ----
struct PipelineDescriptorObj : Object {
  id function = nullptr;  // retained
  id archives = nullptr;  // retained NSArray
};
struct ArchiveDescriptorObj : Object {
  id url = nullptr;  // retained NSURL
};
struct ArchiveEntry {
  uint64_t source_hash = 0;
  std::string kernel;
  uint32_t constants_defined = 0;
  uint64_t constants[kMaxConstants] = {};
  bool operator==(const ArchiveEntry&) const = default;
};
struct ArchiveObj : Object {
  std::mutex mu;
  std::vector<ArchiveEntry> entries;  // guarded by mu
};
void install_archive();
uint32_t max_threads_override(const char* kernel_name);  // hooks.cpp; 0 = none

// ---- device and buffers (device.cpp) ----
struct DeviceObj : Object {
  std::unique_ptr<cpu::Scheduler> scheduler;  // runs the kernels of every queue of this device
};
struct BufferObj : Object {
  void* contents = nullptr;
  NSUInteger length = 0;
  bool owns = false;
  void* deallocator = nullptr;  // copied block: void (^)(void* pointer, NSUInteger length)
  id label = nullptr;
};
void install_device();

// ---- encoding (encoder.cpp) ----
struct Binding {
  id buffer = nullptr;  // retained
  NSUInteger offset = 0;
  std::vector<unsigned char> bytes;  // setBytes copy
  bool set = false;
};
struct Command {
  id pipeline = nullptr;  // retained
  Binding bindings[kMaxBindings];
  NSUInteger tg_mem[kMaxBindings] = {};
  MTLSize grid{}, tpg{};
  std::string encoder_label;
};
struct EncoderObj : Object {
  id command_buffer = nullptr;  // not retained: the command buffer outlives its open encoder
  bool ended = false;
  Command state;
  id label = nullptr;
};
void install_encoder();
void release_command(Command& c);

// ---- command buffers and queues (command_buffer.cpp, queue.cpp) ----
struct QueueObj;
struct CommandBufferObj : Object {
  id queue = nullptr;  // retained: a command buffer keeps its queue (and so its device) alive
  std::mutex mu;
  std::condition_variable cv;
  NSUInteger status = NotEnqueued;  // guarded by mu
  bool done = false;                // guarded by mu: waitUntilCompleted may return
  id error = nullptr;               // guarded by mu; retained NSError
  double start_time = 0, end_time = 0;
  // Touched by the encoding thread until commit, then by the queue thread only.
  id active_encoder = nullptr;
  std::vector<Command> commands;
  std::vector<void*> handlers;  // copied blocks: void (^)(id<MTLCommandBuffer>)
  id label = nullptr;
};
// What the queue's thread shares with the queue object; outlives the object when the last release of
// the queue happens on that thread (a completion handler dropping it).
struct QueueState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<id> pending;  // committed command buffers, each retained until it completes
  bool stop = false;
};
struct QueueObj : Object {
  id device = nullptr;  // retained
  std::shared_ptr<QueueState> state;
  std::thread worker;
};
void install_command_buffer();
void start_queue(QueueObj* q);   // queue.cpp: the worker thread
void stop_queue(QueueObj* q);    // drains, then joins (or detaches when called on the worker itself)
void enqueue(QueueObj* q, id command_buffer);

// ---- counters and switches (hooks.cpp) ----
struct Counters {
  std::atomic<uint64_t> created{0}, committed{0}, completed{0}, failed{0}, encoded{0}, executed{0};
  std::atomic<uint64_t> libraries{0}, fast_math{0}, pipelines{0}, buffers{0};
  std::atomic<uint64_t> pipelines_compiled{0}, pipelines_from_archive{0}, archive_adds{0}, archives_loaded{0};
  std::atomic<long> in_flight{0};  // committed, not yet completed and released by the queue
};
Counters& counters();
bool adverse();
void adverse_delay();  // a random pause of up to ~2 ms in adverse mode, nothing otherwise
Class class_named(const char* name);  // objc_lookUpClass that must succeed

// The block ABI (clang's Block_layout): enough to call a block passed from Objective-C.
struct BlockLayout {
  void* isa;
  int flags;
  int reserved;
  void (*invoke)(void*, ...);
};

}  // namespace mm::sim

extern "C" const id MTLCommandBufferErrorDomain;  // apple_abi.cpp
extern "C" const id MTLLibraryErrorDomain;
extern "C" void* _Block_copy(const void*);
extern "C" void _Block_release(const void*);
