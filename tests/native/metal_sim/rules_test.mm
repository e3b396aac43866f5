// rules_test.mm — every rule the simulated driver enforces, broken once through a test-only path: each
// test asserts the recorded message (Apple's wording) and that the offending call had no effect.
// Process-level checks (exit-time leak report, MM_SIM_ABORT) are the --child scenarios at the end.
#include <thread>

#include "harness.h"

extern "C" void* objc_autoreleasePoolPush(void);
extern "C" void objc_autoreleasePoolPop(void* pool);

@protocol MMSimNotImplemented
- (void)frobnicate;
@end

namespace {

struct Setup {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  id<MTLCommandQueue> queue = [device newCommandQueue];
  id<MTLLibrary> library;
  Setup() {
    NSError* error = nil;
    library = [device newLibraryWithSource:[NSString stringWithUTF8String:harness::g_kernels_source.c_str()]
                                   options:nil
                                     error:&error];
  }
  id<MTLComputePipelineState> pso(NSString* name) {
    NSError* error = nil;
    return [device newComputePipelineStateWithFunction:[library newFunctionWithName:name] error:&error];
  }
  id<MTLBuffer> buffer(NSUInteger bytes) { return [device newBufferWithLength:bytes options:MTLResourceStorageModeShared]; }
};

// A command buffer with an open encoder set up for `capped` (count buffer bound).
struct Open {
  id<MTLCommandBuffer> cb;
  id<MTLComputeCommandEncoder> enc;
  id<MTLBuffer> count;
  explicit Open(Setup& s, NSString* kernel = @"capped") {
    cb = [s.queue commandBuffer];
    enc = [cb computeCommandEncoder];
    count = s.buffer(64);
    [enc setComputePipelineState:s.pso(kernel)];
    [enc setBuffer:count offset:0 atIndex:0];
  }
  // Ends, commits and waits; returns the count the kernel left.
  uint32_t finish() {
    [enc endEncoding];
    [cb commit];
    [cb waitUntilCompleted];
    return *static_cast<uint32_t*>(count.contents);
  }
};

}  // namespace

TEST(set_bytes_at_most_4096) {
  Setup s;
  Open o(s);
  std::vector<char> big(8192);
  [o.enc setBytes:big.data() length:big.size() atIndex:1];
  CHECK_VIOLATION("-[MTLDebugComputeCommandEncoder setBytes:length:atIndex:]: failed assertion `Set Bytes Validation length(8192) must be <= 4096.'");
  [o.enc setBytes:big.data() length:4096 atIndex:1];  // the limit itself is fine
  CHECK(o.finish() == 0);
}

TEST(threadgroup_memory_multiple_of_16_and_within_32k) {
  Setup s;
  Open o(s, @"tg_reverse");
  [o.enc setThreadgroupMemoryLength:20 atIndex:0];
  CHECK_VIOLATION("length(20) must be a multiple of 16 bytes.");
  [o.enc setThreadgroupMemoryLength:32784 atIndex:0];
  CHECK_VIOLATION("length(32784) must be <= 32768.");
  [o.enc setThreadgroupMemoryLength:32768 atIndex:0];
  [o.enc setThreadgroupMemoryLength:16 atIndex:1];
  [o.enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(16, 1, 1)];
  CHECK_VIOLATION("Threadgroup memory size (32784) exceeds the maximum threadgroup memory allowed (32768) for tg_reverse.");
  [o.enc endEncoding];
}

TEST(threads_per_threadgroup_within_the_pipeline_limit) {
  Setup s;
  Open o(s);  // capped: [[max_total_threads_per_threadgroup(64)]]
  [o.enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 4, 1)];
  CHECK_VIOLATION("(threadsPerThreadgroup.width(32) * threadsPerThreadgroup.height(4) * threadsPerThreadgroup.depth(1))(128) must be <= 64. (kernel threadgroup size limit of capped)");
  mm_sim_set_max_threads("capped", 32);
  [o.enc setComputePipelineState:s.pso(@"capped")];
  mm_sim_set_max_threads(nullptr, 0);
  [o.enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(64, 1, 1)];
  CHECK_VIOLATION("(64) must be <= 32.");
  [o.enc dispatchThreadgroups:MTLSizeMake(0, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  CHECK_VIOLATION("must be non-zero");
  [o.enc dispatchThreadgroups:MTLSizeMake(2, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  CHECK(o.finish() == 64);  // only the valid dispatch ran
}

TEST(every_kernel_argument_bound) {
  Setup s;
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
  [enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(1, 1, 1)];
  CHECK_VIOLATION("No compute pipeline state set");
  [enc setComputePipelineState:s.pso(@"axpy")];
  [enc setBuffer:s.buffer(64) offset:0 atIndex:0];
  [enc setBuffer:s.buffer(64) offset:0 atIndex:1];
  [enc setBuffer:s.buffer(64) offset:0 atIndex:2];
  [enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(1, 1, 1)];
  CHECK_VIOLATION("Compute Function(axpy): missing buffer binding at index 3 for n[0].");
  [enc setComputePipelineState:s.pso(@"tg_reverse")];
  [enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(1, 1, 1)];
  CHECK_VIOLATION("Compute Function(tg_reverse): missing threadgroupMemory binding at index 0.");
  [enc endEncoding];
}

TEST(buffer_bindings_within_range) {
  Setup s;
  Open o(s);
  [o.enc setBuffer:o.count offset:64 atIndex:0];
  CHECK_VIOLATION("Set Buffer Validation offset(64) must be < [buffer length](64).");
  [o.enc setBuffer:o.count offset:0 atIndex:31];
  CHECK_VIOLATION("index(31) must be < 31.");
  [o.enc setBytes:"x" length:1 atIndex:40];
  CHECK_VIOLATION("index(40) must be < 31.");
  [o.enc setThreadgroupMemoryLength:16 atIndex:31];
  CHECK_VIOLATION("index(31) must be < 31.");
  [o.enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  CHECK(o.finish() == 32);
}

TEST(no_copy_buffers_page_aligned) {
  Setup s;
  void* host = std::aligned_alloc(16384, 32768);
  CHECK([s.device newBufferWithBytesNoCopy:static_cast<char*>(host) + 4096 length:16384
                                   options:MTLResourceStorageModeShared deallocator:nil] == nil);
  CHECK_VIOLATION("is not 16384 byte aligned.");
  CHECK([s.device newBufferWithBytesNoCopy:host length:20000 options:MTLResourceStorageModeShared deallocator:nil] == nil);
  CHECK_VIOLATION("length(20000) must be a multiple of 16384 bytes.");
  id<MTLBuffer> ok = [s.device newBufferWithBytesNoCopy:host length:32768 options:MTLResourceStorageModeShared deallocator:nil];
  CHECK(ok != nil && ok.contents == host && ok.length == 32768);
  ok = nil;
  std::free(host);
}

TEST(buffer_options_and_length) {
  Setup s;
  CHECK([s.device newBufferWithLength:0 options:MTLResourceStorageModeShared] == nil);
  CHECK_VIOLATION("length(0) must be > 0.");
  CHECK([s.device newBufferWithLength:64 options:MTLResourceStorageModePrivate] == nil);
  CHECK_VIOLATION("MTLResourceStorageModeShared only (options = 0x20)");
}

TEST(encoder_lifecycle) {
  Setup s;
  Open o(s);
  id<MTLComputeCommandEncoder> second = [o.cb computeCommandEncoder];
  CHECK(second == nil);
  CHECK_VIOLATION("A command encoder is already encoding to this command buffer");
  [o.cb commit];
  CHECK_VIOLATION("-[MTLDebugCommandBuffer commit]: failed assertion `commit command buffer with uncommitted encoder'");
  CHECK(o.cb.status == MTLCommandBufferStatusNotEnqueued);
  [o.enc endEncoding];
  [o.enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  CHECK_VIOLATION("dispatchThreadgroups:threadsPerThreadgroup:]: failed assertion `Command encoder has already ended encoding");
  [o.enc endEncoding];
  CHECK_VIOLATION("endEncoding]: failed assertion `Command encoder has already ended encoding");
  id<MTLComputeCommandEncoder> next = [o.cb computeCommandEncoder];  // a new one after endEncoding is fine
  [next endEncoding];
  [o.cb commit];
  [o.cb waitUntilCompleted];
  CHECK(*static_cast<uint32_t*>(o.count.contents) == 0);
}

TEST(encoder_released_without_end_encoding) {
  Setup s;
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  @autoreleasepool {
    id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
    (void)enc;
  }
  CHECK_VIOLATION("failed assertion `Command encoder released without endEncoding'");
  [cb commit];  // the released encoder no longer blocks the commit
  [cb waitUntilCompleted];
  CHECK(cb.status == MTLCommandBufferStatusCompleted);
}

TEST(commit_once_and_handlers_before_commit) {
  Setup s;
  Open o(s);
  [o.enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(32, 1, 1)];
  CHECK(o.finish() == 32);
  [o.cb commit];
  CHECK_VIOLATION("failed assertion `commit an already committed command buffer'");
  __block bool ran = false;
  [o.cb addCompletedHandler:^(id<MTLCommandBuffer>) { ran = true; }];
  CHECK_VIOLATION("failed assertion `Completed handler provided after commit call'");
  CHECK([o.cb computeCommandEncoder] == nil);
  CHECK_VIOLATION("Command buffer has already been committed");
  mm_sim_live_objects(0);
  CHECK(!ran && *static_cast<uint32_t*>(o.count.contents) == 32);
}

TEST(wait_on_a_never_committed_buffer_fails_instead_of_hanging) {
  Setup s;
  id<MTLCommandBuffer> cb = [s.queue commandBuffer];
  [cb waitUntilCompleted];
  CHECK_VIOLATION("waitUntilCompleted on a command buffer that was never committed (this would hang)");
}

TEST(messages_to_deallocated_instances) {
  Setup s;
  __unsafe_unretained id<MTLBuffer> dangling = nil;
  @autoreleasepool {
    id<MTLBuffer> b = s.buffer(64);
    dangling = b;
  }
  CHECK(dangling.length == 0);  // the message returns nil/0 after it is recorded
  CHECK_VIOLATION("*** -[MTLSimBuffer length]: message sent to deallocated instance");
}

TEST(autoreleased_objects_used_past_their_pool) {
  Setup s;
  __unsafe_unretained id<MTLCommandBuffer> cb = nil;
  @autoreleasepool {
    cb = [s.queue commandBuffer];  // autoreleased: owned by this pool only
  }
  [cb commit];
  CHECK_VIOLATION("*** -[MTLSimCommandBuffer commit]: message sent to deallocated instance");
}

TEST(unrecognized_selectors) {
  Setup s;
  id<MTLBuffer> b = s.buffer(64);
  [(id<MMSimNotImplemented>)b frobnicate];
  CHECK_VIOLATION("-[MTLSimBuffer frobnicate]: unrecognized selector sent to instance");
  [(id<MMSimNotImplemented>)[MTLCompileOptions class] frobnicate];
  CHECK_VIOLATION("+[MTLCompileOptions frobnicate]: unrecognized selector sent to class");
}

TEST(autorelease_without_a_pool) {
  Setup s;
  long before = mm_sim_live_objects(0);
  void* leaked = nullptr;
  std::thread([&] {
    // A thread without @autoreleasepool: the autoreleased command buffer has no pool to go to.
    id<MTLCommandBuffer> cb = [s.queue commandBuffer];
    leaked = (__bridge void*)cb;
  }).join();
  CHECK_VIOLATION("autoreleased with no pool in place - just leaking");
  CHECK(mm_sim_live_objects(0) == before + 1);  // leaked, as on a Mac
  @autoreleasepool {
    id cb = (__bridge_transfer id)leaked;  // give the leaked reference back to ARC to end the test clean
    (void)cb;
  }
  CHECK(mm_sim_live_objects(0) == before);
}

TEST(autorelease_pools_popped_in_order) {
  void* outer = objc_autoreleasePoolPush();
  void* inner = objc_autoreleasePoolPush();
  (void)inner;
  objc_autoreleasePoolPop(outer);  // pops inner too, as Apple's runtime does
  objc_autoreleasePoolPop(outer);
  CHECK_VIOLATION("Invalid or prematurely-freed autorelease pool");
}

TEST(function_constants_scalar_only) {
  MTLFunctionConstantValues* values = [MTLFunctionConstantValues new];
  float f = 1;
  [values setConstantValue:&f type:MTLDataTypeFloat atIndex:16];
  CHECK_VIOLATION("supports scalar constants at indices 0..15 (index 16, MTLDataType 3)");
}

namespace harness {

int run_child(const char* name) {
  Setup s;
  if (std::strcmp(name, "leak") == 0) {
    id<MTLBuffer> b = s.buffer(64);
    void* kept = (__bridge_retained void*)b;  // never given back: reported at exit
    (void)kept;
    return 0;
  }
  if (std::strcmp(name, "abort") == 0) {  // with MM_SIM_ABORT=1 the first violation aborts
    Open o(s);
    std::vector<char> big(8192);
    [o.enc setBytes:big.data() length:big.size() atIndex:1];
    return 0;
  }
  return 2;
}

}  // namespace harness
