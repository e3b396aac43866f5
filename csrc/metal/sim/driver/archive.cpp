// archive.cpp — MTLComputePipelineDescriptor and MTLBinaryArchive of the simulated driver, and pipeline
// creation from a descriptor. A real archive holds GPU binaries that Metal finds by the pipeline
// descriptor's contents (the function's compiled code, its constants), so a stale or foreign archive
// can only miss, never return the wrong code. The sim's archive file records, per entry, the FNV-1a
// hash of the source the function came from, the kernel name and the function constants: a pipeline
// found there is counted as `pipelines_from_archive` and not as a compile, which is how tests prove a
// cache hit. The file ends with an entry count and a checksum; a truncated or corrupt file fails to load
// as Metal's does (MTLBinaryArchiveErrorInvalidFile).
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "driver.h"

namespace mm::sim {

namespace {

constexpr NSUInteger kFailOnBinaryArchiveMiss = 1 << 2;  // MTLPipelineOptionFailOnBinaryArchiveMiss
constexpr NSInteger kArchiveErrorInvalidFile = 1;         // MTLBinaryArchiveErrorInvalidFile
constexpr NSInteger kArchiveErrorInternal = 4;            // MTLBinaryArchiveErrorInternalError
constexpr const char* kMagic = "metal-sim binary archive 1";

id archive_error(NSInteger code, const std::string& message) {
  return make_error(make_string("MTLBinaryArchiveDomain"), code, message);
}

ArchiveEntry entry_of(id function) {
  auto* f = as<FunctionObj>(function);
  ArchiveEntry e;
  e.source_hash = f->module->source_hash;
  e.kernel = f->kernel->name;
  e.constants_defined = f->constants_defined;
  std::memcpy(e.constants, f->constants, sizeof e.constants);
  return e;
}

bool archive_has(id archive, const ArchiveEntry& e) {
  auto* a = as<ArchiveObj>(archive);
  std::lock_guard<std::mutex> lock(a->mu);
  for (const ArchiveEntry& x : a->entries)
    if (x == e) return true;
  return false;
}

std::string body_of(const std::vector<ArchiveEntry>& entries) {
  std::string body = std::string(kMagic) + "\n";
  char line[64];
  for (const ArchiveEntry& e : entries) {
    std::snprintf(line, sizeof line, "fn %016" PRIx64 " %08x", e.source_hash, e.constants_defined);
    body += line;
    for (uint64_t c : e.constants) body += " " + std::to_string(c);
    body += " " + e.kernel + "\n";
  }
  return body;
}

std::string trailer_of(const std::string& body, size_t n) {
  char line[64];
  std::snprintf(line, sizeof line, "end %zu %016" PRIx64 "\n", n, fnv1a(body));
  return line;
}

// Parses a file written by serializeToURL:error:; false (with the reason) for anything else.
bool parse(const std::string& text, std::vector<ArchiveEntry>* out, std::string* why) {
  size_t end = text.rfind("end ");
  if (text.compare(0, std::strlen(kMagic) + 1, std::string(kMagic) + "\n") != 0) return *why = "not a binary archive", false;
  if (end == std::string::npos || (end > 0 && text[end - 1] != '\n')) return *why = "truncated (no trailer)", false;
  std::istringstream in(text.substr(std::strlen(kMagic) + 1, end - std::strlen(kMagic) - 1));
  std::string word;
  while (in >> word) {
    ArchiveEntry e;
    std::string hash, defined;
    if (word != "fn" || !(in >> hash >> defined)) return *why = "unexpected element", false;
    e.source_hash = std::strtoull(hash.c_str(), nullptr, 16);
    e.constants_defined = static_cast<uint32_t>(std::strtoul(defined.c_str(), nullptr, 16));
    for (uint64_t& c : e.constants)
      if (!(in >> c)) return *why = "unexpected element", false;
    if (!(in >> e.kernel)) return *why = "unexpected element", false;
    out->push_back(std::move(e));
  }
  if (text.substr(end) != trailer_of(text.substr(0, end), out->size())) return *why = "checksum mismatch", false;
  return true;
}

id new_archive(id descriptor, id* error) {
  auto* a = alloc_instance<ArchiveObj>(class_named("MTLSimBinaryArchive"));
  id url = descriptor ? as<ArchiveDescriptorObj>(descriptor)->url : nullptr;
  if (!url) return obj(a);  // an empty archive to add functions to
  const std::string& path = as<NSURLObj>(url)->path;
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  std::string why;
  if (!file.is_open()) {
    why = "cannot open " + path;
  } else if (parse(text.str(), &a->entries, &why)) {
    counters().archives_loaded++;
    return obj(a);
  }
  release(obj(a));
  if (error) *error = archive_error(kArchiveErrorInvalidFile, "Invalid file: " + path + ": " + why);
  return nullptr;
}

// A pipeline from a descriptor: found in one of its binary archives (no compile), else compiled,
// unless the options forbid it.
id new_pipeline_from(id descriptor, NSUInteger options, id* reflection, id* error) {
  auto* d = as<PipelineDescriptorObj>(descriptor);
  if (reflection) *reflection = nullptr;  // no reflection object: the backend reflects from the source
  if (!d->function) {
    if (error) *error = make_error(MTLLibraryErrorDomain, LibraryErrorFunctionNotFound, "computeFunction is nil");
    return nullptr;
  }
  const ArchiveEntry e = entry_of(d->function);
  if (d->archives)
    for (id archive : as<NSArrayObj>(d->archives)->items)
      if (archive_has(archive, e)) return new_pipeline(d->function, error, true);
  if (options & kFailOnBinaryArchiveMiss) {
    if (error) *error = archive_error(kArchiveErrorInvalidFile, "Pipeline " + e.kernel + " was not found in the binary archives");
    return nullptr;
  }
  return new_pipeline(d->function, error);
}

}  // namespace

void install_archive() {
  Class ns = root_class();
  Class desc = define<PipelineDescriptorObj>("MTLComputePipelineDescriptor", ns, [](Object* o) {
    auto* d = static_cast<PipelineDescriptorObj*>(o);
    release(d->function);
    release(d->archives);
  });
  def<id>(desc, "alloc", [](id self, SEL) -> id {
    return obj(alloc_instance<PipelineDescriptorObj>(reinterpret_cast<Class>(self)));
  }, true);
  def<id>(desc, "computeFunction", [](id self, SEL) -> id { return as<PipelineDescriptorObj>(self)->function; });
  def<void, id>(desc, "setComputeFunction:", [](id self, SEL, id fn) {
    auto* d = as<PipelineDescriptorObj>(self);
    id old = d->function;
    d->function = retain(fn);
    release(old);
  });
  def<id>(desc, "binaryArchives", [](id self, SEL) -> id { return as<PipelineDescriptorObj>(self)->archives; });
  def<void, id>(desc, "setBinaryArchives:", [](id self, SEL, id archives) {  // NSArray is immutable: copy = retain
    auto* d = as<PipelineDescriptorObj>(self);
    id old = d->archives;
    d->archives = retain(archives);
    release(old);
  });

  Class adesc = define<ArchiveDescriptorObj>("MTLBinaryArchiveDescriptor", ns, [](Object* o) {
    release(static_cast<ArchiveDescriptorObj*>(o)->url);
  });
  def<id>(adesc, "alloc", [](id self, SEL) -> id {
    return obj(alloc_instance<ArchiveDescriptorObj>(reinterpret_cast<Class>(self)));
  }, true);
  def<id>(adesc, "url", [](id self, SEL) -> id { return as<ArchiveDescriptorObj>(self)->url; });
  def<void, id>(adesc, "setUrl:", [](id self, SEL, id url) {  // NSURL is immutable: copy = retain
    auto* d = as<ArchiveDescriptorObj>(self);
    id old = d->url;
    d->url = retain(url);
    release(old);
  });

  Class archive = define<ArchiveObj>("MTLSimBinaryArchive", ns);
  def<BOOL, id, id*>(archive, "addComputePipelineFunctionsWithDescriptor:error:", [](id self, SEL, id descriptor, id* error) -> BOOL {
    id fn = as<PipelineDescriptorObj>(descriptor)->function;
    if (!fn) {
      if (error) *error = archive_error(kArchiveErrorInternal, "computeFunction is nil");
      return false;
    }
    const ArchiveEntry e = entry_of(fn);
    if (archive_has(self, e)) return true;
    auto* a = as<ArchiveObj>(self);
    std::lock_guard<std::mutex> lock(a->mu);
    a->entries.push_back(e);
    counters().archive_adds++;
    return true;
  });
  def<BOOL, id, id*>(archive, "serializeToURL:error:", [](id self, SEL, id url, id* error) -> BOOL {
    auto* a = as<ArchiveObj>(self);
    std::string body;
    size_t n;
    {
      std::lock_guard<std::mutex> lock(a->mu);
      body = body_of(a->entries);
      n = a->entries.size();
    }
    const std::string& path = as<NSURLObj>(url)->path;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << body << trailer_of(body, n);
    out.close();
    if (!out) {
      if (error) *error = archive_error(kArchiveErrorInternal, "cannot write " + path);
      return false;
    }
    return true;
  });

  Class device = class_named("MTLSimDevice");
  def<id, id, id*>(device, "newBinaryArchiveWithDescriptor:error:", [](id, SEL, id descriptor, id* error) -> id {
    return new_archive(descriptor, error);
  });
  def<id, id, NSUInteger, id*, id*>(device, "newComputePipelineStateWithDescriptor:options:reflection:error:",
      [](id, SEL, id descriptor, NSUInteger options, id* reflection, id* error) -> id {
    return new_pipeline_from(descriptor, options, reflection, error);
  });
}

}  // namespace mm::sim
