// library.cpp — the simulated compiler and what it produces. Nothing can compile MSL at run time on
// Linux from C, so newLibraryWithSource:options:error: looks up the CPU shader module registered for
// that exact source text (mm_sim_register_module*: the built-in shaders linked into the library, or a
// user kernel the TS rewriter compiled) and otherwise fails as Metal's compiler would, with a log.
// Functions, function constants and pipelines carry the module's kernel and reflection.
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "../sim_api.h"
#include "driver.h"

namespace mm::sim {

namespace {

struct Registry {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<const Module>> by_source;
  std::unordered_set<const mm_rt_module*> initialized;
};
Registry& registry() {
  static auto* r = new Registry();
  return *r;
}

void add(const char* source, size_t length, std::shared_ptr<Module> m) {
  m->source_hash = fnv1a(std::string(source, length));
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (m->rt && r.initialized.insert(m->rt).second) m->rt->init(cpu::runtime_api());
  r.by_source[std::string(source, length)] = std::move(m);
}

std::shared_ptr<const Module> find_module(const std::string& source) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_source.find(source);
  return it == r.by_source.end() ? nullptr : it->second;
}

const mm_rt_kernel* find_kernel(const Module& m, const std::string& name) {
  for (uint32_t i = 0; i < m.rt->n_kernels; ++i)
    if (name == m.rt->kernels[i].name) return &m.rt->kernels[i];
  return nullptr;
}

id new_function(id library, id name, const ConstantValuesObj* constants) {
  auto* lib = as<LibraryObj>(library);
  const mm_rt_kernel* k = find_kernel(*lib->module, string_utf8(name));
  if (!k) return nullptr;  // Metal returns nil for a name the library does not define
  auto* f = alloc_instance<FunctionObj>(class_named("MTLSimFunction"));
  f->module = lib->module;
  f->kernel = k;
  if (constants) {
    std::memcpy(f->constants, constants->values, sizeof f->constants);
    f->constants_defined = constants->defined;
  }
  return obj(f);
}

// Bytes of one function constant value of MTLDataType `type`; 0 for types the runtime cannot take.
size_t constant_bytes(NSUInteger type) {
  switch (type) {
    case 53: case 45: case 49: return 1;  // Bool, Char, UChar
    case 16: case 37: case 41: return 2;  // Half, Short, UShort
    case 3: case 29: case 33: return 4;   // Float, Int, UInt
    case 81: case 85: return 8;           // Long, ULong
    default: return 0;
  }
}

// Metal compiles a source string with no include path: a quoted #include fails as it would on a Mac
// (the backend must hand over sources with their headers inlined). "" when there is none.
std::string unresolvable_include(const std::string& text) {
  size_t line = 1;
  for (size_t pos = 0; pos < text.size(); ++line) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    size_t i = text.find_first_not_of(" \t", pos);
    if (i < end && text[i] == '#') {
      size_t d = text.find_first_not_of(" \t", i + 1);
      for (const char* kw : {"include", "import"}) {
        size_t n = std::strlen(kw);
        if (d < end && text.compare(d, n, kw) == 0) {
          size_t q = text.find_first_not_of(" \t", d + n);
          size_t close = q < end && text[q] == '"' ? text.find('"', q + 1) : std::string::npos;
          if (close < end)
            return "program_source:" + std::to_string(line) + ":" + std::to_string(q - pos + 1) + ": fatal error: '" +
                   text.substr(q + 1, close - q - 1) + "' file not found";
        }
      }
    }
    pos = end + 1;
  }
  return "";
}

id new_library(id source, id options, id* error) {
  std::string text = string_utf8(source);
  if (std::string missing = unresolvable_include(text); !missing.empty()) {
    if (error) *error = make_error(MTLLibraryErrorDomain, LibraryErrorCompileFailure, "Compilation failed: \n\n" + missing);
    return nullptr;
  }
  std::shared_ptr<const Module> m = find_module(text);
  if (!m || !m->error_log.empty()) {
    char why[160];
    std::snprintf(why, sizeof why,
                  "program_source:1:1: error: metal-sim has no CPU module registered for this source "
                  "(%zu bytes, FNV-1a %016llx): register it with mm_sim_register_module first",
                  text.size(), static_cast<unsigned long long>(fnv1a(text)));
    if (error) *error = make_error(MTLLibraryErrorDomain, LibraryErrorCompileFailure,
                                   "Compilation failed: \n\n" + (m ? m->error_log : std::string(why)));
    return nullptr;
  }
  auto* lib = alloc_instance<LibraryObj>(class_named("MTLSimLibrary"));
  lib->module = std::move(m);
  counters().libraries++;
  if (!options || as<CompileOptionsObj>(options)->fast_math) counters().fast_math++;  // nil options: Metal's default
  return obj(lib);
}

}  // namespace

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

id new_pipeline(id function, id* error, bool from_archive) {
  if (!function) {
    if (error) *error = make_error(MTLLibraryErrorDomain, LibraryErrorFunctionNotFound, "function is nil");
    return nullptr;
  }
  auto* f = as<FunctionObj>(function);
  auto* p = alloc_instance<PipelineObj>(class_named("MTLSimComputePipelineState"));
  p->module = f->module;
  p->kernel = f->kernel;
  std::memcpy(p->constants, f->constants, sizeof p->constants);
  p->constants_defined = f->constants_defined;
  NSUInteger own = f->kernel->max_threads_per_threadgroup ? f->kernel->max_threads_per_threadgroup : kMaxThreads;
  NSUInteger knob = max_threads_override(f->kernel->name);
  p->max_threads = knob && knob < own ? knob : own;
  counters().pipelines++;
  (from_archive ? counters().pipelines_from_archive : counters().pipelines_compiled)++;
  return obj(p);
}

void install_library() {
  Class ns = root_class();
  Class opts = define<CompileOptionsObj>("MTLCompileOptions", ns);
  def<id>(opts, "alloc", [](id self, SEL) -> id {
    return obj(alloc_instance<CompileOptionsObj>(reinterpret_cast<Class>(self)));
  }, true);
  def<void, BOOL>(opts, "setFastMathEnabled:", [](id self, SEL, BOOL on) { as<CompileOptionsObj>(self)->fast_math = on; });
  def<BOOL>(opts, "fastMathEnabled", [](id self, SEL) -> BOOL { return as<CompileOptionsObj>(self)->fast_math; });
  def<void, NSUInteger>(opts, "setLanguageVersion:", [](id self, SEL, NSUInteger v) { as<CompileOptionsObj>(self)->language = v; });
  def<NSUInteger>(opts, "languageVersion", [](id self, SEL) -> NSUInteger { return as<CompileOptionsObj>(self)->language; });

  Class values = define<ConstantValuesObj>("MTLFunctionConstantValues", ns);
  def<id>(values, "alloc", [](id self, SEL) -> id {
    return obj(alloc_instance<ConstantValuesObj>(reinterpret_cast<Class>(self)));
  }, true);
  def<void, const void*, NSUInteger, NSUInteger>(values, "setConstantValue:type:atIndex:",
      [](id self, SEL, const void* value, NSUInteger type, NSUInteger index) {
    size_t n = constant_bytes(type);
    if (index >= kMaxConstants || n == 0) {
      violation("-[MTLFunctionConstantValues setConstantValue:type:atIndex:]: metal-sim supports scalar constants at "
                "indices 0..%u (index %lu, MTLDataType %lu)", kMaxConstants - 1, index, type);
      return;
    }
    auto* v = as<ConstantValuesObj>(self);
    v->values[index] = 0;
    std::memcpy(&v->values[index], value, n);
    v->defined |= 1u << index;
  });

  Class library = define<LibraryObj>("MTLSimLibrary", ns);
  def<id, id>(library, "newFunctionWithName:", [](id self, SEL, id name) -> id { return new_function(self, name, nullptr); });
  def<id, id, id, id*>(library, "newFunctionWithName:constantValues:error:",
      [](id self, SEL, id name, id constants, id* error) -> id {
    id f = new_function(self, name, as<ConstantValuesObj>(constants));
    if (!f && error)
      *error = make_error(MTLLibraryErrorDomain, LibraryErrorFunctionNotFound,
                          std::string("Function ") + string_utf8(name) + " was not found in the library");
    return f;
  });

  Class function = define<FunctionObj>("MTLSimFunction", ns);
  def<id>(function, "name", [](id self, SEL) -> id { return make_string(as<FunctionObj>(self)->kernel->name); });

  Class pipeline = define<PipelineObj>("MTLSimComputePipelineState", ns);
  def<NSUInteger>(pipeline, "maxTotalThreadsPerThreadgroup", [](id self, SEL) -> NSUInteger {
    return as<PipelineObj>(self)->max_threads;
  });
  def<NSUInteger>(pipeline, "threadExecutionWidth", [](id, SEL) -> NSUInteger { return kSimdWidth; });
  def<NSUInteger>(pipeline, "staticThreadgroupMemoryLength", [](id self, SEL) -> NSUInteger {
    return as<PipelineObj>(self)->kernel->static_tg_bytes;
  });

  Class device = class_named("MTLSimDevice");
  def<id, id, id, id*>(device, "newLibraryWithSource:options:error:", [](id, SEL, id source, id options, id* error) -> id {
    return new_library(source, options, error);
  });
  def<id, id, id*>(device, "newComputePipelineStateWithFunction:error:", [](id, SEL, id function, id* error) -> id {
    return new_pipeline(function, error);
  });
}

}  // namespace mm::sim

extern "C" {

int mm_sim_register_module(const char* source, size_t length, const mm_rt_module* module) {
  auto m = std::make_shared<mm::sim::Module>();
  m->rt = module;
  mm::sim::add(source, length, std::move(m));
  return 0;
}

int mm_sim_register_module_file(const char* source, size_t length, const char* path, char* err, size_t err_cap) {
  auto say = [&](const std::string& why) {
    if (err && err_cap) std::snprintf(err, err_cap, "%s", why.c_str());
    return -1;
  };
  void* dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char* why = dlerror();
    return say(std::string("cannot load ") + path + ": " + (why ? why : "unknown dlopen error"));
  }
  auto get = reinterpret_cast<mm_rt_module_fn>(dlsym(dl, MM_RT_MODULE_SYMBOL));
  const mm_rt_module* module = get ? get() : nullptr;
  if (!module || module->version != MM_RT_ABI_VERSION) {
    dlclose(dl);
    return say(std::string(path) + " is not a shader module of runtime ABI " + std::to_string(MM_RT_ABI_VERSION));
  }
  auto m = std::make_shared<mm::sim::Module>();
  m->rt = module;
  m->dl = dl;  // kept open: pipelines may outlive any registry entry
  mm::sim::add(source, length, std::move(m));
  return 0;
}

int mm_sim_register_compile_error(const char* source, size_t length, const char* log) {
  auto m = std::make_shared<mm::sim::Module>();
  m->error_log = log && *log ? log : "program_source: error: compilation failed";
  mm::sim::add(source, length, std::move(m));
  return 0;
}

}  // extern "C"
