// metal_cache.mm — the on-disk cache of compiled pipelines: one MTLBinaryArchive per shader library,
// the mechanism Apple documents for reusing compiled pipeline functions across launches. A file is named
// by a hash of everything that decides what the GPU binary is (the library's sources, our compile
// options, the OS version, the GPU, the cache format); inside, Metal matches entries by the pipeline
// descriptor's contents, so a stale or foreign file can only miss. Every failure (no directory, corrupt
// or truncated file, failed write) degrades to compiling in memory: the cache never fails a call.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "metal_internal.h"

namespace mm::metal {

namespace {

// Bumped when what the backend puts into an archive changes; part of the key.
constexpr int kCacheFormat = 1;

// 128 bits of FNV-1a (two 64-bit lanes with different offsets): names files, does not guard content.
std::string hash_hex(const std::string& s) {
  uint64_t a = 1469598103934665603ull, b = 0x84222325cbf29ce4ull;
  for (unsigned char c : s) {
    a = (a ^ c) * 1099511628211ull;
    b = (b ^ (c + 0x5bu)) * 1099511628211ull;
  }
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return out;
}

// mkdir -p with 0700 (the cache holds nothing secret, but nothing others should replace either).
bool make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st{};
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && access(dir.c_str(), W_OK) == 0;
}

bool file_exists(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

std::string cache_dir() {
  const char* on = std::getenv("MM_METAL_CACHE");
  if (on && std::string(on) == "0") return "";
  if (const char* dir = std::getenv("MM_METAL_CACHE_DIR"); dir && *dir) return dir;
  const char* home = std::getenv("HOME");
#if defined(__APPLE__)
  return home && *home ? std::string(home) + "/Library/Caches/metal-marlin" : "";
#else
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/metal-marlin";
  return home && *home ? std::string(home) + "/.cache/metal-marlin" : "";
#endif
}

void PipelineCache::open(id<MTLDevice> device, const char* kind, const std::string& sources) {
  const std::string dir = cache_dir();
  if (dir.empty()) {
    state_ = MM_LIBRARY_CACHE_DISABLED;
    return;
  }
  // Everything that decides the compiled code: sources, the compile options of compile_into, the OS
  // (its Metal compiler), the GPU, and our format.
  const std::string key = "metal-marlin cache " + std::to_string(kCacheFormat) + " abi " + std::to_string(MM_ABI_VERSION) +
                          "\nlanguage 3.0 fastMath 0\nos " +
                          NSProcessInfo.processInfo.operatingSystemVersionString.UTF8String + "\ngpu " +
                          device.name.UTF8String + "\n" + sources;
  path_ = dir + "/" + kind + "-" + hash_hex(key) + ".metalarchive";
  MTLBinaryArchiveDescriptor* desc = [[MTLBinaryArchiveDescriptor alloc] init];
  NSError* error = nil;
  if (file_exists(path_)) {
    desc.url = [NSURL fileURLWithPath:[NSString stringWithUTF8String:path_.c_str()]];
    archive_ = [device newBinaryArchiveWithDescriptor:desc error:&error];
    if (archive_ != nil) {
      state_ = MM_LIBRARY_CACHE_HIT;
      return;
    }
    desc.url = nil;  // corrupt, truncated or from another OS: start over, the next flush replaces it
  }
  state_ = make_dirs(dir) ? MM_LIBRARY_CACHE_MISS : MM_LIBRARY_CACHE_MEMORY;
  if (state_ == MM_LIBRARY_CACHE_MEMORY) return;
  archive_ = [device newBinaryArchiveWithDescriptor:desc error:&error];
  if (archive_ == nil) state_ = MM_LIBRARY_CACHE_MEMORY;
}

id<MTLComputePipelineState> PipelineCache::pipeline(id<MTLDevice> device, id<MTLFunction> fn, NSError** error) {
  if (archive_ == nil) return [device newComputePipelineStateWithFunction:fn error:error];
  MTLComputePipelineDescriptor* desc = [[MTLComputePipelineDescriptor alloc] init];
  desc.computeFunction = fn;
  desc.binaryArchives = @[ archive_ ];
  NSError* miss = nil;
  id<MTLComputePipelineState> pso = [device newComputePipelineStateWithDescriptor:desc
                                                                          options:MTLPipelineOptionFailOnBinaryArchiveMiss
                                                                       reflection:nil error:&miss];
  if (pso != nil) return pso;
  pso = [device newComputePipelineStateWithDescriptor:desc options:MTLPipelineOptionNone reflection:nil error:error];
  // A function that cannot be added is only not cached; the pipeline itself is fine.
  if (pso != nil && [archive_ addComputePipelineFunctionsWithDescriptor:desc error:&miss]) dirty_ = true;
  return pso;
}

void PipelineCache::flush() {
  if (!dirty_ || archive_ == nil) return;
  dirty_ = false;
  // serializeToURL writes in place: into a name no other writer uses, then rename(2), which replaces the
  // file atomically, so a reader (or a second process compiling at the same time) never sees half a file.
  static std::atomic<unsigned> serial{0};
  const std::string tmp = path_ + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(serial++);
  NSError* error = nil;
  if (![archive_ serializeToURL:[NSURL fileURLWithPath:[NSString stringWithUTF8String:tmp.c_str()]] error:&error] ||
      std::rename(tmp.c_str(), path_.c_str()) != 0) {
    std::remove(tmp.c_str());
    state_ = MM_LIBRARY_CACHE_MEMORY;  // kept in memory for this process; nothing to report to the caller
  }
}

}  // namespace mm::metal
