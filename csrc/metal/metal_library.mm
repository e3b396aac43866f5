// metal_library.mm — shader libraries of the Metal backend: compiling MSL source with
// newLibraryWithSource (language version 3.0 = macOS 13, fast math OFF: our tolerances assume the
// compiler does not reassociate the float accumulators), reflection from the project's front end,
// and one pipeline per kernel + function constants.
#include <dlfcn.h>

#include <cstring>

#include "../core/entry.h"
#include "../core/internal.h"
#include "metal_internal.h"
#if defined(MM_METAL_SIM)
#include "sim/sim_api.h"
#endif

// The build generates the strong definition (the shipped .metal sources, includes inlined, in the
// order of mm_rt_builtin_modules); this default lets a build without shaders link.
extern "C" __attribute__((weak)) const mm::metal::BuiltinSource* mm_metal_builtin_sources(uint32_t* count) {
  *count = 0;
  return nullptr;
}
extern "C" const mm_rt_module* const* mm_rt_builtin_modules(uint32_t* count);

namespace mm::metal {

using core::fail;

namespace {

struct Registry {
  std::mutex mu;
  std::unordered_map<std::string, const mm_rt_module*> by_source;
};
Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: modules stay loaded for the process
  return *r;
}

std::string pipeline_key(const core::Job& job) {
  std::string key = std::to_string(job.kernel);
  for (uint32_t i = 0; i < MM_MAX_FUNCTION_CONSTANTS; ++i)
    if (job.function_constants_defined & (1u << i)) key += "," + std::to_string(i) + "=" + std::to_string(job.function_constants[i]);
  return key;
}

}  // namespace

const BuiltinSource* builtin_sources(uint32_t* count) { return mm_metal_builtin_sources(count); }

const mm_rt_module* registered_module(const std::string& source) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_source.find(source);
  return it == r.by_source.end() ? nullptr : it->second;
}

std::vector<core::KernelInfo> reflect_module(const mm_rt_module* m) {
  std::vector<core::KernelInfo> out;
  for (uint32_t i = 0; i < m->n_kernels; ++i) {
    const mm_rt_kernel& k = m->kernels[i];
    core::KernelInfo info;
    info.name = k.name;
    info.file = k.file ? k.file : (m->source_name ? m->source_name : "");
    info.line = k.line;
    info.n_threadgroup_args = k.n_threadgroup_args;
    info.static_tg_bytes = k.static_tg_bytes;
    info.max_threads_per_threadgroup = k.max_threads_per_threadgroup ? k.max_threads_per_threadgroup : 1024;
    for (uint32_t j = 0; j < k.n_args; ++j) {
      const mm_rt_arg& a = k.args[j];
      core::ArgInfo ai;
      ai.index = a.index;
      ai.kind = a.kind;
      ai.access = a.access;
      ai.dtype = a.dtype;
      ai.elem_bytes = a.elem_bytes;
      ai.line = a.line;
      ai.type_name = a.type_name ? a.type_name : "";
      ai.arg_name = a.arg_name ? a.arg_name : "";
      info.args.push_back(std::move(ai));
    }
    out.push_back(std::move(info));
  }
  return out;
}

void MetalLibrary::add(id<MTLLibrary> library, std::vector<core::KernelInfo> infos) {
  for (core::KernelInfo& k : infos) {
    infos_.push_back(std::move(k));
    library_of_.push_back(libraries_.size());
  }
  libraries_.push_back(library);
}

int MetalLibrary::pipeline(const char* op, id<MTLDevice> device, const core::Job& job,
                           id<MTLComputePipelineState>* out) const {
  const std::string key = pipeline_key(job);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pipelines_.find(key);
  if (it != pipelines_.end()) {
    *out = it->second;
    return MM_OK;
  }
  const core::KernelInfo& k = infos_[job.kernel];
  NSString* name = [NSString stringWithUTF8String:k.name.c_str()];
  NSError* error = nil;
  id<MTLFunction> fn = nil;
  if (job.function_constants_defined) {
    // The C ABI carries each constant as a 64-bit slot; kernels declare them ulong.
    MTLFunctionConstantValues* values = [[MTLFunctionConstantValues alloc] init];
    for (uint32_t i = 0; i < MM_MAX_FUNCTION_CONSTANTS; ++i)
      if (job.function_constants_defined & (1u << i))
        [values setConstantValue:&job.function_constants[i] type:MTLDataTypeULong atIndex:i];
    fn = [libraries_[library_of_[job.kernel]] newFunctionWithName:name constantValues:values error:&error];
  } else {
    fn = [libraries_[library_of_[job.kernel]] newFunctionWithName:name];
  }
  if (fn == nil)
    return fail(MM_E_COMPILE, "%s: kernel %s: the Metal library has no such function%s%s", op, k.name.c_str(),
                error ? ": " : "", error ? error.localizedDescription.UTF8String : "");
  id<MTLComputePipelineState> pso = [device newComputePipelineStateWithFunction:fn error:&error];
  if (pso == nil)
    return fail(MM_E_COMPILE, "%s: kernel %s: pipeline creation failed: %s", op, k.name.c_str(),
                error ? error.localizedDescription.UTF8String : "no error given");
  pipelines_.emplace(key, pso);
  *out = pso;
  return MM_OK;
}

int compile_into(const char* op, id<MTLDevice> device, const std::string& source, const mm_rt_module* module,
                 MetalLibrary* out) {
  MTLCompileOptions* options = [[MTLCompileOptions alloc] init];
  options.languageVersion = MTLLanguageVersion3_0;
  options.fastMathEnabled = NO;
  NSError* error = nil;
  NSString* text = [NSString stringWithUTF8String:source.c_str()];
  if (text == nil) return fail(MM_E_INVALID_ARG, "%s: the source is not valid UTF-8", op);
  id<MTLLibrary> library = [device newLibraryWithSource:text options:options error:&error];
  if (library == nil)
    return fail(MM_E_COMPILE, "%s: Metal compile failed:\n%s", op,
                error ? error.localizedDescription.UTF8String : "(no log)");
  if (!module)
    return fail(MM_E_COMPILE, "%s: no reflection registered for this source (mm_metal_register_module)", op);
  out->add(library, reflect_module(module));
  return MM_OK;
}

}  // namespace mm::metal

extern "C" MM_API int mm_metal_register_module(const char* source, const char* module_path) {
  static const char* op = "mm_metal_register_module";
  return mm::core::guarded(op, [&] {
    if (!source || !module_path) return mm::core::fail(MM_E_INVALID_ARG, "%s: source or module_path is NULL", op);
    // Kept open for the process: the registry hands the module's tables to every later library.
    void* dl = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return mm::core::fail(MM_E_LOAD, "%s: cannot load %s: %s", op, module_path, dlerror());
    auto get = reinterpret_cast<mm_rt_module_fn>(dlsym(dl, MM_RT_MODULE_SYMBOL));
    const mm_rt_module* m = get ? get() : nullptr;
    if (!m || m->version != MM_RT_ABI_VERSION)
      return mm::core::fail(MM_E_LOAD, "%s: %s is not a shader module of runtime ABI %u", op, module_path,
                            MM_RT_ABI_VERSION);
#if defined(MM_METAL_SIM)
    // The simulated compiler "compiles" this source into the same module.
    mm_sim_register_module(source, std::strlen(source), m);
#endif
    auto& r = mm::metal::registry();
    std::lock_guard<std::mutex> lock(r.mu);
    r.by_source[source] = m;
    return MM_OK;
  });
}
