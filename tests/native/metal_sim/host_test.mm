// host_test.mm — the simulated Metal driven the way the backend drives it (Objective-C++ with ARC
// against the stand-in headers): compiling, pipelines, buffers, encoding, asynchronous completion,
// errors, counters, and kernels (test kernels and the built-in gemm_splitk_reduce) executed on the CPU
// shader runtime with the encoded bindings.
#include <algorithm>
#include <atomic>
#include <thread>

#include "harness.h"

extern "C" const mm_rt_module* mm_rt_builtin_gemm(void);

namespace {

id<MTLLibrary> kernels_library(id<MTLDevice> device) {
  MTLCompileOptions* options = [MTLCompileOptions new];
  options.fastMathEnabled = NO;
  options.languageVersion = MTLLanguageVersion3_0;
  NSError* error = nil;
  NSString* source = [NSString stringWithUTF8String:harness::g_kernels_source.c_str()];
  id<MTLLibrary> library = [device newLibraryWithSource:source options:options error:&error];
  CHECK(library != nil && error == nil);
  return library;
}

id<MTLComputePipelineState> pipeline(id<MTLDevice> device, id<MTLLibrary> library, NSString* name) {
  id<MTLFunction> function = [library newFunctionWithName:name];
  CHECK(function != nil);
  NSError* error = nil;
  id<MTLComputePipelineState> pso = [device newComputePipelineStateWithFunction:function error:&error];
  CHECK(pso != nil && error == nil);
  return pso;
}

// Runs axpy over n floats (a[i] = i, b[i] = 10) in one command buffer; returns out.
std::vector<float> run_axpy(id<MTLDevice> device, id<MTLComputePipelineState> pso, uint32_t n) {
  id<MTLCommandQueue> queue = [device newCommandQueue];
  id<MTLBuffer> a = [device newBufferWithLength:n * 4 options:MTLResourceStorageModeShared];
  id<MTLBuffer> b = [device newBufferWithLength:n * 4 options:MTLResourceStorageModeShared];
  id<MTLBuffer> out = [device newBufferWithLength:n * 4 options:MTLResourceStorageModeShared];
  for (uint32_t i = 0; i < n; ++i) {
    static_cast<float*>(a.contents)[i] = float(i);
    static_cast<float*>(b.contents)[i] = 10.0f;
  }
  id<MTLCommandBuffer> cb = [queue commandBuffer];
  id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
  [enc setComputePipelineState:pso];
  [enc setBuffer:a offset:0 atIndex:0];
  [enc setBuffer:b offset:0 atIndex:1];
  [enc setBuffer:out offset:0 atIndex:2];
  [enc setBytes:&n length:sizeof n atIndex:3];
  [enc dispatchThreadgroups:MTLSizeMake((n + 63) / 64, 1, 1) threadsPerThreadgroup:MTLSizeMake(64, 1, 1)];
  [enc endEncoding];
  [cb commit];
  [cb waitUntilCompleted];
  CHECK(cb.status == MTLCommandBufferStatusCompleted && cb.error == nil);
  const float* o = static_cast<const float*>(out.contents);
  return std::vector<float>(o, o + n);
}

}  // namespace

TEST(device_reports_an_apple7_gpu) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  CHECK(device != nil);
  CHECK([device supportsFamily:MTLGPUFamilyApple7]);
  CHECK(![device supportsFamily:MTLGPUFamilyApple8]);
  MTLSize max = device.maxThreadsPerThreadgroup;  // 24-byte struct: objc_msgSend_stret on x86-64
  CHECK(max.width == 1024 && max.height == 1024 && max.depth == 1024);
  CHECK(device.maxThreadgroupMemoryLength == 32768);
  CHECK(device.hasUnifiedMemory);
  CHECK(device.maxBufferLength > 0 && device.recommendedMaxWorkingSetSize > device.maxBufferLength);
  CHECK(std::strstr(device.name.UTF8String, "metal-sim") != nullptr);
}

TEST(foundation_strings_and_errors) {
  NSString* literal = @"a literal";
  CHECK(std::strcmp(literal.UTF8String, "a literal") == 0 && literal.length == 9);
  NSString* made = [NSString stringWithUTF8String:"a literal"];
  CHECK([made isEqualToString:literal] && [literal isEqualToString:made]);
  CHECK(![made isEqualToString:@"other"]);
  CHECK([made respondsToSelector:@selector(UTF8String)] && ![made respondsToSelector:@selector(commit)]);
  CHECK(std::strcmp(made.description.UTF8String, "a literal") == 0);
  NSError* error = nil;
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  CHECK([device newLibraryWithSource:@"kernel void nothing_registered() {}" options:nil error:&error] == nil);
  CHECK(error != nil && error.code == MTLLibraryErrorCompileFailure);
  CHECK([error.domain isEqualToString:MTLLibraryErrorDomain]);
  CHECK(std::strstr(error.description.UTF8String, "Code=3") != nullptr);
}

TEST(axpy_runs_on_the_cpu_runtime_with_function_constants) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  id<MTLLibrary> library = kernels_library(device);
  std::vector<float> plain = run_axpy(device, pipeline(device, library, @"axpy"), 100);
  for (uint32_t i = 0; i < 100; ++i) CHECK(plain[i] == float(i) + 10.0f);

  MTLFunctionConstantValues* values = [MTLFunctionConstantValues new];
  float scale = 3.0f;
  [values setConstantValue:&scale type:MTLDataTypeFloat atIndex:0];
  NSError* error = nil;
  id<MTLFunction> fn = [library newFunctionWithName:@"axpy" constantValues:values error:&error];
  CHECK(fn != nil && error == nil && [fn.name isEqualToString:@"axpy"]);
  id<MTLComputePipelineState> pso = [device newComputePipelineStateWithFunction:fn error:&error];
  std::vector<float> scaled = run_axpy(device, pso, 100);
  for (uint32_t i = 0; i < 100; ++i) CHECK(scaled[i] == 3.0f * float(i) + 10.0f);
}

TEST(threadgroup_memory_and_barriers) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  id<MTLComputePipelineState> pso = pipeline(device, kernels_library(device), @"tg_reverse");
  id<MTLCommandQueue> queue = [device newCommandQueue];
  id<MTLBuffer> x = [device newBufferWithLength:256 * 4 options:MTLResourceStorageModeShared];
  for (int i = 0; i < 256; ++i) static_cast<float*>(x.contents)[i] = float(i);
  id<MTLCommandBuffer> cb = [queue commandBuffer];
  id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
  [enc setComputePipelineState:pso];
  [enc setBuffer:x offset:128 * 4 atIndex:0];  // the second half only: offsets reach the kernel
  [enc setThreadgroupMemoryLength:64 * 4 atIndex:0];
  [enc dispatchThreadgroups:MTLSizeMake(2, 1, 1) threadsPerThreadgroup:MTLSizeMake(64, 1, 1)];
  [enc endEncoding];
  [cb commit];
  [cb waitUntilCompleted];
  CHECK(cb.status == MTLCommandBufferStatusCompleted);
  const float* v = static_cast<const float*>(x.contents);
  for (int i = 0; i < 128; ++i) CHECK(v[i] == float(i));
  for (int g = 0; g < 2; ++g)
    for (int t = 0; t < 64; ++t) CHECK(v[128 + g * 64 + t] == float(128 + g * 64 + 63 - t));
}

TEST(builtin_gemm_splitk_reduce_runs_with_the_encoded_bindings) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  NSError* error = nil;
  NSString* source = [NSString stringWithUTF8String:harness::g_gemm_source.c_str()];
  id<MTLLibrary> library = [device newLibraryWithSource:source options:nil error:&error];
  CHECK(library != nil);
  id<MTLComputePipelineState> pso = pipeline(device, library, @"gemm_splitk_reduce");
  CHECK(pso.maxTotalThreadsPerThreadgroup == 1024 && pso.threadExecutionWidth == 32);
  const uint32_t M = 3, N = 7, splits = 4;
  id<MTLBuffer> part = [device newBufferWithLength:splits * M * N * 4 options:MTLResourceStorageModeShared];
  id<MTLBuffer> c = [device newBufferWithLength:M * N * 2 options:MTLResourceStorageModeShared];
  id<MTLBuffer> unused = [device newBufferWithLength:64 options:MTLResourceStorageModeShared];
  auto* p = static_cast<float*>(part.contents);
  for (uint32_t i = 0; i < splits * M * N; ++i) p[i] = 0.25f * float(i % 13) - 1.0f;
  uint32_t params[24] = {};
  params[0] = sizeof params;  // GemmParams: size, M, N, K, Kw, Np, ldb, lda, ldc, ..., batch, ...
  params[1] = M;
  params[2] = N;
  params[8] = N;        // ldc
  params[10] = 1;       // batch
  params[18] = splits;  // splits
  id<MTLCommandQueue> queue = [device newCommandQueue];
  id<MTLCommandBuffer> cb = [queue commandBuffer];
  id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
  [enc setComputePipelineState:pso];
  [enc setBuffer:part offset:0 atIndex:3];
  [enc setBuffer:c offset:0 atIndex:4];
  [enc setBytes:params length:sizeof params atIndex:5];
  // Scales, zeros (1, 2), bias, residual (6, 7) and the up weight's scales and zeros (9, 10): bound because
  // the function declares them; read only with the epilogue bits or per-channel flags, none set here.
  for (NSUInteger index : {1, 2, 6, 7, 9, 10}) [enc setBuffer:unused offset:0 atIndex:index];
  [enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(256, 1, 1)];
  [enc endEncoding];
  [cb commit];
  [cb waitUntilCompleted];
  CHECK(cb.status == MTLCommandBufferStatusCompleted);
  const auto* out = static_cast<const _Float16*>(c.contents);
  for (uint32_t i = 0; i < M * N; ++i) {
    float sum = 0;
    for (uint32_t q = 0; q < splits; ++q) sum += p[q * M * N + i];
    CHECK(float(out[i]) == float(_Float16(sum)));
  }
}

TEST(compile_errors_carry_the_log) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  const char* bad = "kernel void k(device float* x [[buffer(0)]]) { x[0] = y; }\n";
  mm_sim_register_compile_error(bad, std::strlen(bad), "user.metal:1:54: error: use of undeclared identifier 'y'");
  NSError* error = nil;
  id<MTLLibrary> library = [device newLibraryWithSource:[NSString stringWithUTF8String:bad] options:nil error:&error];
  CHECK(library == nil && error.code == MTLLibraryErrorCompileFailure);
  CHECK(std::strstr(error.localizedDescription.UTF8String, "user.metal:1:54: error: use of undeclared") != nullptr);
  error = nil;
  CHECK([device newLibraryWithSource:@"kernel void other() {}" options:nil error:&error] == nil);
  CHECK(std::strstr(error.localizedDescription.UTF8String, "program_source:1:1: error: metal-sim has no CPU module") !=
        nullptr);
  // No include path at run time: a quoted include fails as on a Mac, registered or not.
  std::string raw = harness::read_file(MM_SIM_TEST_ROOT "/shaders/gemm.metal");
  mm_sim_register_module(raw.data(), raw.size(), mm_rt_builtin_gemm());
  error = nil;
  CHECK([device newLibraryWithSource:[NSString stringWithUTF8String:raw.c_str()] options:nil error:&error] == nil);
  // The message names the first quoted include by its line in the source (as Apple's compiler does).
  size_t at = raw.find("#include \"");
  CHECK(at != std::string::npos);
  const size_t open = at + 10, close = raw.find('"', open);
  const std::string header = raw.substr(open, close - open);
  const std::string want = "program_source:" + std::to_string(1 + std::count(raw.begin(), raw.begin() + at, '\n')) +
                           ":10: fatal error: '" + header + "' file not found";
  CHECK(std::strstr(error.localizedDescription.UTF8String, want.c_str()) != nullptr);
}

TEST(unknown_functions_are_nil) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  id<MTLLibrary> library = kernels_library(device);
  CHECK([library newFunctionWithName:@"missing"] == nil);
  NSError* error = nil;
  MTLFunctionConstantValues* values = [[MTLFunctionConstantValues alloc] init];
  CHECK([library newFunctionWithName:@"missing" constantValues:values error:&error] == nil);
  CHECK(error.code == MTLLibraryErrorFunctionNotFound);
}

TEST(pipeline_limits_follow_the_kernel_and_the_knob) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  id<MTLLibrary> library = kernels_library(device);
  CHECK(pipeline(device, library, @"capped").maxTotalThreadsPerThreadgroup == 64);
  mm_sim_set_max_threads("axpy", 256);
  CHECK(pipeline(device, library, @"axpy").maxTotalThreadsPerThreadgroup == 256);
  CHECK(pipeline(device, library, @"tg_reverse").maxTotalThreadsPerThreadgroup == 1024);
  mm_sim_set_max_threads(nullptr, 512);
  CHECK(pipeline(device, library, @"tg_reverse").maxTotalThreadsPerThreadgroup == 512);
  CHECK(pipeline(device, library, @"axpy").maxTotalThreadsPerThreadgroup == 256);  // by name wins
  CHECK(pipeline(device, library, @"capped").maxTotalThreadsPerThreadgroup == 64);  // never raised
  mm_sim_set_max_threads("axpy", 0);
  CHECK(pipeline(device, library, @"axpy").maxTotalThreadsPerThreadgroup == 512);
  mm_sim_set_max_threads(nullptr, 0);
  CHECK(pipeline(device, library, @"axpy").maxTotalThreadsPerThreadgroup == 1024);
  CHECK(pipeline(device, library, @"tg_reverse").staticThreadgroupMemoryLength == 0);
}

TEST(scalar_function_constants_of_each_width) {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  id<MTLLibrary> library = kernels_library(device);
  MTLFunctionConstantValues* values = [MTLFunctionConstantValues new];
  bool flag = true;
  uint16_t small = 0xBEEF;
  int64_t big = -1234567890123;
  [values setConstantValue:&flag type:MTLDataTypeBool atIndex:1];
  [values setConstantValue:&small type:MTLDataTypeUShort atIndex:2];
  [values setConstantValue:&big type:MTLDataTypeLong atIndex:3];
  NSError* error = nil;
  id<MTLFunction> fn = [library newFunctionWithName:@"constants_probe" constantValues:values error:&error];
  id<MTLComputePipelineState> pso = [device newComputePipelineStateWithFunction:fn error:&error];
  id<MTLCommandQueue> queue = [device newCommandQueue];
  id<MTLBuffer> out = [device newBufferWithLength:3 * 8 options:MTLResourceStorageModeShared];
  id<MTLCommandBuffer> cb = [queue commandBuffer];
  id<MTLComputeCommandEncoder> enc = [cb computeCommandEncoder];
  [enc setComputePipelineState:pso];
  [enc setBuffer:out offset:0 atIndex:0];
  [enc dispatchThreadgroups:MTLSizeMake(1, 1, 1) threadsPerThreadgroup:MTLSizeMake(1, 1, 1)];
  [enc endEncoding];
  [cb commit];
  [cb waitUntilCompleted];
  const auto* v = static_cast<const int64_t*>(out.contents);
  CHECK(v[0] == 1 && v[1] == 0xBEEF && v[2] == big);
}

TEST(modules_registered_from_shared_objects) {
  const char* so = std::getenv("MM_SIM_TEST_SO");  // kernels.metal built as a run-time module
  CHECK(so != nullptr);
  if (!so) return;
  std::string source = harness::g_kernels_source + "\n// the run-time module copy\n";
  char err[256] = "";
  CHECK(mm_sim_register_module_file(source.data(), source.size(), so, err, sizeof err) == 0);
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
  NSError* error = nil;
  id<MTLLibrary> library = [device newLibraryWithSource:[NSString stringWithUTF8String:source.c_str()]
                                                options:nil
                                                  error:&error];
  CHECK(library != nil);
  std::vector<float> out = run_axpy(device, pipeline(device, library, @"axpy"), 40);
  for (uint32_t i = 0; i < 40; ++i) CHECK(out[i] == float(i) + 10.0f);
  CHECK(mm_sim_register_module_file("x", 1, "/nonexistent/module.so", err, sizeof err) == -1);
  CHECK(std::strstr(err, "cannot load /nonexistent/module.so") != nullptr);
  CHECK(mm_sim_register_module_file("x", 1, "libBlocksRuntime.so.0", err, sizeof err) == -1);
  CHECK(std::strstr(err, "is not a shader module of runtime ABI") != nullptr);
}
