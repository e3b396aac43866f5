// command_buffer.cpp — the simulated MTLCommandBuffer and MTLCommandQueue as the encoding thread sees
// them: creating encoders, adding completion handlers, commit, waitUntilCompleted, status and error.
// Execution happens on the queue's thread (queue.cpp). Rules of Metal's validation layer are recorded
// (runtime/violations.cpp) with Apple's wording; the offending call then has no effect.
#include "driver.h"

namespace mm::sim {

namespace {

constexpr const char* kWho = "-[MTLDebugCommandBuffer";

void finalize_command_buffer(Object* o) {
  auto* cb = static_cast<CommandBufferObj*>(o);
  for (Command& c : cb->commands) release_command(c);  // never committed: nothing ran
  cb->commands.clear();
  for (void* h : cb->handlers) _Block_release(h);
  cb->handlers.clear();
  release(cb->error);
  release(cb->label);
  release(cb->queue);
}

NSUInteger status_of(id self) {
  auto* cb = as<CommandBufferObj>(self);
  std::lock_guard<std::mutex> lock(cb->mu);
  return cb->status;
}

id compute_encoder(id self) {
  auto* cb = as<CommandBufferObj>(self);
  if (status_of(self) != NotEnqueued) {
    violation("%s computeCommandEncoder]: failed assertion `Command buffer has already been committed: no encoder can "
              "be created.'", kWho);
    return nullptr;
  }
  if (cb->active_encoder) {
    violation("%s computeCommandEncoder]: failed assertion `A command encoder is already encoding to this command "
              "buffer (call endEncoding first).'", kWho);
    return nullptr;
  }
  auto* e = alloc_instance<EncoderObj>(class_named("MTLSimComputeCommandEncoder"));
  e->command_buffer = retain(self);
  cb->active_encoder = obj(e);
  return autorelease(obj(e));
}

void add_completed_handler(id self, void* block) {
  if (status_of(self) != NotEnqueued) {
    violation("%s addCompletedHandler:]: failed assertion `Completed handler provided after commit call'", kWho);
    return;
  }
  as<CommandBufferObj>(self)->handlers.push_back(_Block_copy(block));
}

void commit(id self) {
  auto* cb = as<CommandBufferObj>(self);
  if (status_of(self) != NotEnqueued) {
    violation("%s commit]: failed assertion `commit an already committed command buffer'", kWho);
    return;
  }
  if (cb->active_encoder) {
    violation("%s commit]: failed assertion `commit command buffer with uncommitted encoder'", kWho);
    return;  // on a Mac the process stops here; the buffer stays uncommitted
  }
  {
    std::lock_guard<std::mutex> lock(cb->mu);
    cb->status = Committed;
  }
  counters().committed++;
  counters().in_flight++;
  enqueue(as<QueueObj>(cb->queue), retain(self));  // the queue's reference, dropped after completion
}

void wait_until_completed(id self) {
  auto* cb = as<CommandBufferObj>(self);
  std::unique_lock<std::mutex> lock(cb->mu);
  if (cb->status == NotEnqueued) {
    lock.unlock();
    // Hangs forever on a GPU; fails loudly here.
    violation("%s waitUntilCompleted]: failed assertion `waitUntilCompleted on a command buffer that was never "
              "committed (this would hang)'", kWho);
    return;
  }
  cb->cv.wait(lock, [&] { return cb->done; });
}

}  // namespace

void install_command_buffer() {
  Class cbuf = define<CommandBufferObj>("MTLSimCommandBuffer", root_class(), finalize_command_buffer);
  def<id>(cbuf, "computeCommandEncoder", [](id self, SEL) -> id { return compute_encoder(self); });
  def<void, void*>(cbuf, "addCompletedHandler:", [](id self, SEL, void* block) { add_completed_handler(self, block); });
  def<void>(cbuf, "commit", [](id self, SEL) { commit(self); });
  def<void>(cbuf, "waitUntilCompleted", [](id self, SEL) { wait_until_completed(self); });
  def<NSUInteger>(cbuf, "status", [](id self, SEL) -> NSUInteger { return status_of(self); });
  def<id>(cbuf, "error", [](id self, SEL) -> id {
    auto* cb = as<CommandBufferObj>(self);
    std::lock_guard<std::mutex> lock(cb->mu);
    return cb->error;
  });
  def<double>(cbuf, "GPUStartTime", [](id self, SEL) -> double {
    auto* cb = as<CommandBufferObj>(self);
    std::lock_guard<std::mutex> lock(cb->mu);
    return cb->start_time;
  });
  def<double>(cbuf, "GPUEndTime", [](id self, SEL) -> double {
    auto* cb = as<CommandBufferObj>(self);
    std::lock_guard<std::mutex> lock(cb->mu);
    return cb->end_time;
  });
  def<id>(cbuf, "label", [](id self, SEL) -> id {
    std::string l = label_of(&as<CommandBufferObj>(self)->label);
    return l.empty() ? nullptr : make_string(l);
  });
  def<void, id>(cbuf, "setLabel:", [](id self, SEL, id label) { set_label(&as<CommandBufferObj>(self)->label, label); });

  Class queue = define<QueueObj>("MTLSimCommandQueue", root_class(), [](Object* o) {
    auto* q = static_cast<QueueObj*>(o);
    stop_queue(q);
    release(q->device);
  });
  def<id>(queue, "commandBuffer", [](id self, SEL) -> id {
    auto* cb = alloc_instance<CommandBufferObj>(class_named("MTLSimCommandBuffer"));
    cb->queue = retain(self);
    counters().created++;
    return autorelease(obj(cb));
  });
}

}  // namespace mm::sim
