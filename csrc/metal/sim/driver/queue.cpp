// queue.cpp — execution of committed command buffers: one thread per MTLCommandQueue takes them in
// commit order, runs every encoded dispatch on the device's CPU shader runtime, records status, error
// and times, wakes waitUntilCompleted and runs the completion handlers, then drops what the buffer
// retained. In adverse mode (hooks.cpp) waiters wake before the handlers run, with random delays.
#include <chrono>
#include <cstring>

#include "../../../include/metal_marlin.h"
#include "driver.h"

extern "C" void* objc_autoreleasePoolPush(void);
extern "C" void objc_autoreleasePoolPop(void* pool);

namespace mm::sim {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// What a GPU reports for a kernel failure the CPU runtime detected: a hang (lanes stuck at barriers)
// ends in the watchdog's Timeout, an access past a buffer in a PageFault (the fast CPU runtime does not
// check device accesses: ASan does), running out of memory in OutOfMemory; anything else is Internal.
NSInteger metal_code_of(int rt_code) {
  if (rt_code == MM_E_DEADLOCK || rt_code == MM_E_BARRIER) return CommandBufferErrorTimeout;
  if (rt_code == MM_E_BOUNDS) return CommandBufferErrorPageFault;
  if (rt_code == MM_E_OUT_OF_MEMORY) return CommandBufferErrorOutOfMemory;
  return CommandBufferErrorInternal;
}

struct Failure {
  NSInteger code = 0;  // MTLCommandBufferError, 0 = none
  std::string message;
};

// Runs the dispatches of `cb` until the first failure; returns it (code 0: every dispatch ran).
Failure execute(CommandBufferObj* cb, DeviceObj* device) {
  for (Command& c : cb->commands) {
    auto* p = as<PipelineObj>(c.pipeline);
    cpu::DispatchJob job;
    job.kernel = p->kernel;
    const NSUInteger grid[3] = {c.grid.width, c.grid.height, c.grid.depth};
    const NSUInteger tpg[3] = {c.tpg.width, c.tpg.height, c.tpg.depth};
    for (int d = 0; d < 3; ++d) {
      job.grid[d] = static_cast<uint32_t>(grid[d]);
      job.threadgroup[d] = static_cast<uint32_t>(tpg[d]);
    }
    for (NSUInteger i = 0; i < kMaxBindings; ++i) {
      Binding& b = c.bindings[i];
      if (b.buffer) job.buffers[i] = static_cast<char*>(as<BufferObj>(b.buffer)->contents) + b.offset;
      else if (b.set) job.buffers[i] = b.bytes.data();
    }
    for (size_t i = 0; i < sizeof job.threadgroup_arg_bytes / sizeof job.threadgroup_arg_bytes[0]; ++i)
      job.threadgroup_arg_bytes[i] = static_cast<uint32_t>(c.tg_mem[i]);
    std::memcpy(job.function_constants, p->constants, sizeof job.function_constants);
    job.function_constants_defined = p->constants_defined;
    job.max_threadgroup_memory = static_cast<uint32_t>(kMaxTgMem);
    cpu::DispatchResult r = device->scheduler->run(job);
    counters().executed++;
    if (r.code != 0) {
      std::string where = "kernel " + std::string(p->kernel->name);
      std::string cb_label = label_of(&cb->label);
      if (!cb_label.empty()) where += ", command buffer \"" + cb_label + "\"";
      if (!c.encoder_label.empty()) where += ", encoder \"" + c.encoder_label + "\"";
      return {metal_code_of(r.code), "Command buffer execution failed (" + where + "): " + r.message};
    }
  }
  return {};
}

void complete(id cb_obj, DeviceObj* device) {
  auto* cb = as<CommandBufferObj>(cb_obj);
  adverse_delay();
  {
    std::lock_guard<std::mutex> lock(cb->mu);
    cb->status = Scheduled;
    cb->start_time = now_seconds();
  }
  void* pool = objc_autoreleasePoolPush();
  Failure failure = execute(cb, device);
  {
    std::lock_guard<std::mutex> lock(cb->mu);
    if (failure.code != 0) cb->error = retain(make_error(MTLCommandBufferErrorDomain, failure.code, failure.message));
    cb->status = failure.code == 0 ? Completed : Error;
    cb->end_time = now_seconds();
  }
  counters().completed++;
  if (failure.code != 0) counters().failed++;
  auto wake = [&] {
    std::lock_guard<std::mutex> lock(cb->mu);
    cb->done = true;
    cb->cv.notify_all();
  };
  // Metal does not order waitUntilCompleted's return against the handlers: adverse mode wakes first.
  bool early = adverse();
  if (early) wake();
  adverse_delay();
  for (void* h : cb->handlers) {
    auto* block = static_cast<BlockLayout*>(h);
    reinterpret_cast<void (*)(void*, id)>(block->invoke)(block, cb_obj);
    _Block_release(h);
  }
  cb->handlers.clear();
  if (!early) wake();
  for (Command& c : cb->commands) release_command(c);  // kept alive until the work completed
  cb->commands.clear();
  objc_autoreleasePoolPop(pool);
}

void worker_loop(std::shared_ptr<QueueState> state, DeviceObj* device) {
  for (;;) {
    id cb;
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->cv.wait(lock, [&] { return state->stop || !state->pending.empty(); });
      if (state->pending.empty()) return;
      cb = state->pending.front();
      state->pending.pop_front();
    }
    complete(cb, device);
    release(cb);  // the queue's reference; may release the queue and the device (see stop_queue)
    counters().in_flight--;
  }
}

}  // namespace

void start_queue(QueueObj* q) {
  q->state = std::make_shared<QueueState>();
  q->worker = std::thread(worker_loop, q->state, as<DeviceObj>(q->device));
}

void stop_queue(QueueObj* q) {
  {
    std::lock_guard<std::mutex> lock(q->state->mu);
    q->state->stop = true;
  }
  q->state->cv.notify_all();
  // Pending command buffers retain the queue, so nothing is pending here. On the worker itself (its
  // last command buffer dropped the queue) the thread ends on its own after this returns.
  if (q->worker.get_id() == std::this_thread::get_id()) q->worker.detach();
  else if (q->worker.joinable()) q->worker.join();
}

void enqueue(QueueObj* q, id command_buffer) {
  {
    std::lock_guard<std::mutex> lock(q->state->mu);
    q->state->pending.push_back(command_buffer);
  }
  q->state->cv.notify_one();
}

void quiesce() {
  while (counters().in_flight.load() != 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

}  // namespace mm::sim
