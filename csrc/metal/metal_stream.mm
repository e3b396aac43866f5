// metal_stream.mm — encoding and committing work: one labelled compute encoder per dispatch, one
// command buffer per kDispatchesPerCommandBuffer dispatches, never a wait per dispatch. Committed
// command buffers are kept (in commit order) until they complete; a failure is kept and returned,
// typed and naming the kernel, by the next synchronize. Command buffers retain every MTLBuffer they
// encode, so memory freed by core while work is in flight lives until that work completes.
#include <cstdio>
#include <cstring>

#include "../core/internal.h"
#include "metal_internal.h"

namespace mm::metal {

using core::fail;

namespace {

NSUInteger round16(uint32_t n) { return (static_cast<NSUInteger>(n) + 15) / 16 * 16; }

// Metal's command-buffer error codes as the closest MM_E_* (the message keeps Metal's own text).
int code_of(NSError* error) {
  switch (error ? error.code : MTLCommandBufferErrorInternal) {
    case MTLCommandBufferErrorTimeout: return MM_E_DEADLOCK;  // a kernel that never finishes
    case MTLCommandBufferErrorPageFault: return MM_E_BOUNDS;
    case MTLCommandBufferErrorOutOfMemory: return MM_E_OUT_OF_MEMORY;
    case MTLCommandBufferErrorInvalidResource: return MM_E_BINDING;
    default: return MM_E_INTERNAL;
  }
}

}  // namespace

CommandStream::~CommandStream() {
  // Work still queued holds buffers core is about to forget: let it finish first.
  reap(true);
}

int CommandStream::encode(const char* op, id<MTLDevice> device, id<MTLComputePipelineState> pso, const core::Job& job) {
  const core::KernelInfo& k = job.library->kernel(job.kernel);
  if (open_ == nil) {
    open_ = [queue_ commandBuffer];
    if (open_ == nil) return fail(MM_E_OUT_OF_MEMORY, "%s: kernel %s: the queue gave no command buffer", op, k.name.c_str());
  }
  id<MTLComputeCommandEncoder> enc = [open_ computeCommandEncoder];
  if (enc == nil) return fail(MM_E_OUT_OF_MEMORY, "%s: kernel %s: no compute encoder", op, k.name.c_str());
  enc.label = [NSString stringWithUTF8String:k.name.c_str()];
  [enc setComputePipelineState:pso];
  for (uint32_t i = 0; i < MM_MAX_BUFFERS; ++i) {
    const core::JobBinding& b = job.bindings[i];
    if (b.kind == MM_BIND_BUFFER) {
      [enc setBuffer:(__bridge id<MTLBuffer>)b.native offset:b.offset atIndex:i];
    } else if (b.kind == MM_BIND_BYTES && b.length <= kMaxSetBytes) {
      [enc setBytes:b.data length:b.length atIndex:i];
    } else if (b.kind == MM_BIND_BYTES) {
      // Over setBytes' 4 KB: a shared buffer the command buffer keeps alive until it completes.
      id<MTLBuffer> tmp = [device newBufferWithLength:b.length options:MTLResourceStorageModeShared];
      if (tmp == nil) {
        [enc endEncoding];
        return fail(MM_E_OUT_OF_MEMORY, "%s: kernel %s: buffer(%u): no %llu-byte buffer for inline bytes", op,
                    k.name.c_str(), i, static_cast<unsigned long long>(b.length));
      }
      std::memcpy(tmp.contents, b.data, b.length);
      [enc setBuffer:tmp offset:0 atIndex:i];
    }
  }
  for (uint32_t i = 0; i < k.n_threadgroup_args; ++i)
    [enc setThreadgroupMemoryLength:round16(job.threadgroup_memory[i]) atIndex:i];
  [enc dispatchThreadgroups:MTLSizeMake(job.grid[0], job.grid[1], job.grid[2])
      threadsPerThreadgroup:MTLSizeMake(job.threadgroup[0], job.threadgroup[1], job.threadgroup[2])];
  [enc endEncoding];
  if (open_kernels_.size() < 160) open_kernels_ += (open_dispatches_ ? ", " : "") + k.name;
  if (++open_dispatches_ >= kDispatchesPerCommandBuffer) commit_open();
  return MM_OK;
}

void CommandStream::commit_open() {
  if (open_ == nil) return;
  char label[224];
  std::snprintf(label, sizeof label, "metal-marlin #%llu: %s", static_cast<unsigned long long>(++batches_),
                open_kernels_.c_str());
  open_.label = [NSString stringWithUTF8String:label];
  [open_ commit];
  in_flight_.push_back(open_);
  open_ = nil;
  open_dispatches_ = 0;
  open_kernels_.clear();
  reap(false);
}

// Drops completed command buffers from the front, keeping the first failure. With `wait`, waits for
// each (commit order = completion order on one queue). Reads status/error after the wait, never state
// a completion handler wrote: Metal may wake waiters before it runs the handlers.
void CommandStream::reap(bool wait) {
  size_t done = 0;
  for (id<MTLCommandBuffer> cb : in_flight_) {
    if (wait) [cb waitUntilCompleted];
    MTLCommandBufferStatus status = cb.status;
    if (status != MTLCommandBufferStatusCompleted && status != MTLCommandBufferStatusError) break;
    if (status == MTLCommandBufferStatusError && first_code_ == 0) {
      NSError* error = cb.error;
      first_code_ = code_of(error);
      first_error_ = error ? error.localizedDescription.UTF8String : "command buffer failed without an error";
    }
    ++done;
  }
  in_flight_.erase(in_flight_.begin(), in_flight_.begin() + static_cast<std::ptrdiff_t>(done));
}

int CommandStream::synchronize(const char* op) {
  commit_open();
  reap(true);
  if (first_code_ == 0) return MM_OK;
  int code = first_code_;
  std::string msg = std::move(first_error_);
  first_code_ = 0;
  first_error_.clear();
  return fail(code, "%s: a command buffer failed on the device: %s", op, msg.c_str());
}

uint64_t CommandStream::pending() {
  commit_open();
  reap(false);  // status, not a handler's count: Metal may report completion before handlers ran
  return in_flight_.size();
}

}  // namespace mm::metal
