// async_test.mm — asynchronous execution of the simulated Metal: commit order, completion handlers on
// the queue thread, the adverse mode's ordering, what command buffers keep alive, failures inside a
// command buffer (status, error naming the kernel and labels), counters.
#include <atomic>
#include <thread>

#include "harness.h"

namespace {

struct Setup {
  id<MTLDevice> device;
  id<MTLCommandQueue> queue;
  id<MTLLibrary> library;
};
Setup setup() {
  Setup s;
  s.device = MTLCreateSystemDefaultDevice();
  s.queue = [s.device newCommandQueue];
  NSError* error = nil;
  NSString* source = [NSString stringWithUTF8String:harness::g_kernels_source.c_str()];
  s.library = [s.device newLibraryWithSource:source options:nil error:&error];
  CHECK(s.library != nil);
  return s;
}
id<MTLComputePipelineState> pso(const Setup& s, NSString* name) {
  NSError* error = nil;
  return [s.device newComputePipelineStateWithFunction:[s.library newFunctionWithName:name] error:&error];
}
// Encodes one `capped` dispatch adding grid*tpg to *count.
void encode_count(id<MTLCommandBuffer> cb, id<MTLComputePipelineState> p, id<MTLBuffer> count, NSUInteger groups) {
  id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
  [enc setComputePipelineState:p];
  [enc setBuffer:count offset:0 atIndex:0];
  [enc dispatchThreadgroups:MTLSizeMake(groups, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  [enc endEncoding];
}

}  // namespace

TEST(command_buffers_complete_in_commit_order_on_the_queue_thread) {
  Setup s = setup();
  id<MTLComputePipelineState> p = pso(s, @"capped");
  id<MTLBuffer> count = [s.device newBufferWithLength:4 options:MTLResourceStorageModeShared];
  __block std::vector<int> order;
  __block std::vector<uint32_t> seen;
  std::thread::id main_thread = std::this_thread::get_id();
  __block bool handler_on_main = false;
  id<MTLCommandBuffer> last = nil;
  for (int i = 0; i < 8; ++i) {
    id<MTLCommandBuffer> cb = [s.queue commandBuffer];
    encode_count(cb, p, count, 1);
    [cb addCompletedHandler:^(id<MTLCommandBuffer> done) {
      order.push_back(i);  // handlers run one at a time on the queue thread
      seen.push_back(*static_cast<uint32_t*>(count.contents));
      handler_on_main = handler_on_main || std::this_thread::get_id() == main_thread;
      CHECK(done.status == MTLCommandBufferStatusCompleted);
    }];
    [cb commit];
    last = cb;
  }
  [last waitUntilCompleted];  // the last one done: all earlier ones are
  CHECK(order.size() == 8 && !handler_on_main);
  for (int i = 0; i < (int)order.size(); ++i) CHECK(order[i] == i && seen[i] == 32u * (i + 1));
}

TEST(handlers_run_before_waiters_wake_by_default) {
  Setup s = setup();
  CHECK(!mm_sim_adverse());
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  std::atomic<bool> ran_flag{false};
  std::atomic<bool>* ran = &ran_flag;  // blocks capture the pointer (atomics cannot be copied)
  [cb addCompletedHandler:^(id<MTLCommandBuffer>) { *ran = true; }];
  [cb commit];
  [cb waitUntilCompleted];
  CHECK(ran->load());
}

TEST(adverse_mode_wakes_waiters_before_handlers) {
  Setup s = setup();
  mm_sim_set_adverse(1);
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  std::atomic<bool> flags[2] = {false, false};
  std::atomic<bool>*go = &flags[0], *ran = &flags[1];
  [cb addCompletedHandler:^(id<MTLCommandBuffer>) {
    while (!go->load()) std::this_thread::yield();  // would deadlock if waiters woke only after handlers
    *ran = true;
  }];
  [cb commit];
  [cb waitUntilCompleted];
  CHECK(!ran->load() && cb.status == MTLCommandBufferStatusCompleted);  // stale: the handler has not run
  *go = true;
  while (!ran->load()) std::this_thread::yield();
  mm_sim_set_adverse(0);
}

TEST(encoded_resources_live_until_the_work_completes) {
  Setup s = setup();
  mm_sim_set_adverse(1);  // delays execution, so the references below are gone before it runs
  const NSUInteger bytes = 16384;
  void* host = std::aligned_alloc(16384, bytes);
  std::memset(host, 0, bytes);
  std::atomic<int> deallocated_n{0};
  std::atomic<uint32_t> count_n{0};
  std::atomic<int>* deallocated = &deallocated_n;
  std::atomic<uint32_t>* count_when_freed = &count_n;
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  @autoreleasepool {
    id<MTLBuffer> wrapped = [s.device newBufferWithBytesNoCopy:host
                                                        length:bytes
                                                       options:MTLResourceStorageModeShared
                                                   deallocator:^(void* pointer, NSUInteger length) {
                                                     *count_when_freed = *static_cast<uint32_t*>(pointer);
                                                     *deallocated += length == bytes ? 1 : 100;
                                                   }];
    encode_count(cb, pso(s, @"capped"), wrapped, 2);
  }
  CHECK(deallocated->load() == 0);  // the command buffer holds it
  [cb commit];
  [cb waitUntilCompleted];
  mm_sim_live_objects(0);  // waits until the queue dropped its references
  CHECK(deallocated->load() == 1 && count_when_freed->load() == 64u);
  std::free(host);
  mm_sim_set_adverse(0);
}

TEST(a_failing_kernel_sets_status_and_error_naming_it) {
  Setup s = setup();
  id<MTLBuffer> x = [s.device newBufferWithLength:256 options:MTLResourceStorageModeShared];
  id<MTLComputePipelineState> broken = pso(s, @"broken_barrier"), counter = pso(s, @"capped");
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  cb.label = @"batch 7";
  CHECK([cb.label isEqualToString:@"batch 7"]);
  id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
  enc.label = @"broken_barrier #1";
  [enc setComputePipelineState:broken];
  [enc setBuffer:x offset:0 atIndex:0];
  [enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  [enc setComputePipelineState:counter];  // never runs: the command buffer stops at the failure
  [enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  [enc endEncoding];
  __block MTLCommandBufferStatus in_handler = MTLCommandBufferStatusNotEnqueued;
  [cb addCompletedHandler:^(id<MTLCommandBuffer> done) { in_handler = done.status; }];
  [cb commit];
  [cb waitUntilCompleted];
  CHECK(cb.status == MTLCommandBufferStatusError && in_handler == MTLCommandBufferStatusError);
  NSError* error = cb.error;
  CHECK(error != nil && error.code == MTLCommandBufferErrorTimeout);
  CHECK([error.domain isEqualToString:MTLCommandBufferErrorDomain]);
  const char* text = error.localizedDescription.UTF8String;
  CHECK(std::strstr(text, "kernel broken_barrier") && std::strstr(text, "\"batch 7\"") &&
        std::strstr(text, "\"broken_barrier #1\"") && std::strstr(text, "kernels.metal"));
  CHECK(*static_cast<uint32_t*>(x.contents) == 0);  // the second dispatch did not run
  // The queue goes on with the next command buffer.
  id<MTLCommandBuffer> next = [s.queue commandBuffer];
  encode_count(next, counter, x, 1);
  [next commit];
  [next waitUntilCompleted];
  CHECK(next.status == MTLCommandBufferStatusCompleted && *static_cast<uint32_t*>(x.contents) == 32u);
}

TEST(counters_count_buffers_and_dispatches) {
  Setup s = setup();
  mm_sim_reset_counters();
  id<MTLComputePipelineState> p = pso(s, @"capped");
  id<MTLBuffer> count = [s.device newBufferWithLength:4 options:MTLResourceStorageModeShared];
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  for (int i = 0; i < 5; ++i) encode_count(cb, p, count, 1);
  [cb commit];
  id<MTLCommandBuffer> never = [s.queue commandBuffer];  // created, never committed
  (void)never;
  [cb waitUntilCompleted];
  mm_sim_live_objects(0);
  mm_sim_counters c;
  mm_sim_get_counters(&c);
  CHECK(c.command_buffers_created == 2 && c.command_buffers_committed == 1 && c.command_buffers_completed == 1);
  CHECK(c.dispatches_encoded == 5 && c.dispatches_executed == 5 && c.command_buffers_failed == 0);
  CHECK(c.pipelines_created == 1 && c.buffers_created == 1);
  CHECK(*static_cast<uint32_t*>(count.contents) == 160u);
}

TEST(fast_math_and_library_counters) {
  mm_sim_reset_counters();
  Setup s = setup();  // options nil: Metal's default is fast math
  MTLCompileOptions* precise = [[MTLCompileOptions alloc] init];
  CHECK(precise.fastMathEnabled);
  precise.fastMathEnabled = NO;
  CHECK(!precise.fastMathEnabled && precise.languageVersion == MTLLanguageVersion3_1);
  NSError* error = nil;
  NSString* source = [NSString stringWithUTF8String:harness::g_kernels_source.c_str()];
  CHECK([s.device newLibraryWithSource:source options:precise error:&error] != nil);
  mm_sim_counters c;
  mm_sim_get_counters(&c);
  CHECK(c.libraries_compiled == 2 && c.libraries_fast_math == 1);
}

TEST(gpu_times_and_labels) {
  Setup s = setup();
  id<MTLBuffer> b = [s.device newBufferWithLength:64 options:MTLResourceStorageModeShared];
  CHECK(b.label == nil && b.length == 64);
  b.label = @"weights";
  CHECK([b.label isEqualToString:@"weights"]);
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  CHECK(cb.GPUStartTime == 0 && cb.status == MTLCommandBufferStatusNotEnqueued);
  encode_count(cb, pso(s, @"capped"), b, 1);
  [cb commit];
  [cb waitUntilCompleted];
  CHECK(cb.GPUStartTime > 0 && cb.GPUEndTime >= cb.GPUStartTime);
}

TEST(a_queue_released_by_its_last_handler) {
  Setup s = setup();
  s.queue = nil;
  long before = mm_sim_live_objects(0);
  std::atomic<bool> done_flag{false};
  std::atomic<bool>* done = &done_flag;
  @autoreleasepool {
    __block id<MTLCommandQueue> queue = [s.device newCommandQueue];
    id<MTLCommandBuffer> cb = [queue commandBuffer];
    [cb addCompletedHandler:^(id<MTLCommandBuffer>) {
      queue = nil;  // the last strong reference besides the command buffer's own
      *done = true;
    }];
    [cb commit];
  }
  while (!done->load()) std::this_thread::yield();
  CHECK(mm_sim_live_objects(0) == before);  // queue thread released queue and buffer without deadlock
}
