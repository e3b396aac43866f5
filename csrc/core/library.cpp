// library.cpp — mm_library_* and mm_kernel_*: libraries from the backend, kernel handles cached
// per library (there is no mm_kernel_free: a kernel lives as long as its library).
#include <cstring>
#include <string>

#include "entry.h"
#include "objects.h"

namespace mm::core {

namespace {

void copy_str(char* dst, size_t cap, const std::string& s) {
  size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

// Registers a library object for `impl` as a child of dev.
int register_library(const char* op, const std::shared_ptr<Device>& dev, std::shared_ptr<BackendLibrary> impl,
                     mm_library* out) {
  auto lib = std::make_shared<Library>();
  lib->dev = dev;
  lib->impl = std::move(impl);
  uint32_t h = adopt_child(*dev, Tag::Library, lib, op);
  if (!h) return MM_E_OUT_OF_MEMORY;
  *out = h;
  return MM_OK;
}

// Up to 10 kernel names of lib, for "unknown kernel" messages.
std::string some_names(const BackendLibrary& lib) {
  std::string s;
  uint32_t n = lib.kernel_count();
  for (uint32_t i = 0; i < n && i < 10; ++i) {
    if (i) s += ", ";
    s += lib.kernel(i).name;
  }
  if (n > 10) s += ", ... (" + std::to_string(n - 10) + " more)";
  if (n == 0) s = "(none: the library is empty)";
  return s;
}

void fill_kernel_info(const KernelInfo& k, mm_kernel_info* out) {
  uint32_t size = out->size;
  mm_kernel_info info{};
  info.size = sizeof info;
  info.n_buffers = k.args.empty() ? 0 : k.args.back().index + 1;
  info.n_threadgroup_args = k.n_threadgroup_args;
  info.static_tg_bytes = k.static_tg_bytes;
  info.max_threads_per_threadgroup = k.max_threads_per_threadgroup;
  info.line = k.line;
  copy_str(info.file, sizeof info.file, k.file);
  std::memcpy(out, &info, size < sizeof info ? size : sizeof info);
  out->size = size;
}

}  // namespace

int find_kernel(const char* op, const BackendLibrary& lib, const char* name, uint32_t* index) {
  uint32_t n = lib.kernel_count();
  for (uint32_t i = 0; i < n; ++i)
    if (lib.kernel(i).name == name) {
      *index = i;
      return MM_OK;
    }
  return fail(MM_E_UNKNOWN_KERNEL, "%s: no kernel named \"%.96s\" in the library; it has %u: %s", op, name, n,
              some_names(lib).c_str());
}

// Loads the device's builtin library once. Caller must not hold dev.mu.
int device_builtin(const char* op, Device& dev, std::shared_ptr<BackendLibrary>* out) {
  std::lock_guard<std::mutex> lock(dev.mu);
  if (!dev.builtin) {
    if (int rc = dev.backend->builtin_library(op, &dev.builtin)) return rc;
  }
  *out = dev.builtin;
  return MM_OK;
}

int builtin_kernel_info(mm_device h, const char* kernel_name, mm_kernel_info* out) {
  static const char* op = "builtin_kernel_info";
  return guarded(op, [&] {
    if (!out || !kernel_name) return fail(MM_E_INVALID_ARG, "%s: kernel_name or out is NULL", op);
    if (out->size == 0) return fail(MM_E_INVALID_ARG, "%s: out->size is 0; set it to sizeof(mm_kernel_info)", op);
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    std::shared_ptr<BackendLibrary> lib;
    if (int rc = device_builtin(op, *dev, &lib)) return rc;
    uint32_t index = 0;
    if (int rc = find_kernel(op, *lib, kernel_name, &index)) return rc;
    fill_kernel_info(lib->kernel(index), out);
    return MM_OK;
  });
}

}  // namespace mm::core

using namespace mm::core;

extern "C" {

MM_API int mm_library_builtin(mm_device h, mm_library* out) {
  static const char* op = "mm_library_builtin";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = 0;
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    std::shared_ptr<BackendLibrary> impl;
    if (int rc = device_builtin(op, *dev, &impl)) return rc;
    {  // one handle per device while it is live
      std::lock_guard<std::mutex> lock(dev->mu);
      if (dev->builtin_handle && dev->children.count(dev->builtin_handle)) {
        *out = dev->builtin_handle;
        return MM_OK;
      }
    }
    if (int rc = register_library(op, dev, impl, out)) return rc;
    std::lock_guard<std::mutex> lock(dev->mu);
    dev->builtin_handle = *out;
    return MM_OK;
  });
}

MM_API int mm_library_load(mm_device h, const char* path, mm_library* out) {
  static const char* op = "mm_library_load";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = 0;
    if (!path || !*path) return fail(MM_E_INVALID_ARG, "%s: path is NULL or empty", op);
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    std::shared_ptr<BackendLibrary> impl;
    if (int rc = dev->backend->load_library(op, path, &impl)) return rc;
    return register_library(op, dev, std::move(impl), out);
  });
}

MM_API int mm_library_compile(mm_device h, const char* source, mm_library* out) {
  static const char* op = "mm_library_compile";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = 0;
    if (!source) return fail(MM_E_INVALID_ARG, "%s: source is NULL", op);
    auto dev = get_as<Device>(h, Tag::Device, op);
    if (!dev) return MM_E_BAD_HANDLE;
    std::shared_ptr<BackendLibrary> impl;
    if (int rc = dev->backend->compile_library(op, source, &impl)) return rc;
    return register_library(op, dev, std::move(impl), out);
  });
}

MM_API int mm_library_free(mm_library h) {
  static const char* op = "mm_library_free";
  return guarded(op, [&] {
    auto lib = std::static_pointer_cast<Library>(handle_remove(h, Tag::Library, op));
    if (!lib) return MM_E_BAD_HANDLE;
    std::unordered_map<std::string, uint32_t> kernels;
    {
      std::lock_guard<std::mutex> lock(lib->mu);
      kernels.swap(lib->kernels);
    }
    for (auto& kv : kernels) release_child(*lib->dev, kv.second, Tag::Kernel);  // its kernels go too
    std::lock_guard<std::mutex> lock(lib->dev->mu);
    lib->dev->children.erase(h);
    return MM_OK;
  });
}

MM_API uint32_t mm_library_kernel_count(mm_library h) {
  static const char* op = "mm_library_kernel_count";
  return guarded_value<uint32_t>(op, 0, [&]() -> uint32_t {
    auto lib = get_as<Library>(h, Tag::Library, op);
    return lib ? lib->impl->kernel_count() : 0;
  });
}

MM_API const char* mm_library_kernel_name(mm_library h, uint32_t i) {
  static const char* op = "mm_library_kernel_name";
  return guarded_value<const char*>(op, nullptr, [&]() -> const char* {
    auto lib = get_as<Library>(h, Tag::Library, op);
    if (!lib) return nullptr;
    // The string lives in the backend library, which lives while the library handle does.
    return i < lib->impl->kernel_count() ? lib->impl->kernel(i).name.c_str() : nullptr;
  });
}

MM_API int mm_kernel_get(mm_library h, const char* name, mm_kernel* out) {
  static const char* op = "mm_kernel_get";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    *out = 0;
    if (!name) return fail(MM_E_INVALID_ARG, "%s: name is NULL", op);
    auto lib = get_as<Library>(h, Tag::Library, op);
    if (!lib) return MM_E_BAD_HANDLE;
    std::lock_guard<std::mutex> lock(lib->mu);
    auto it = lib->kernels.find(name);
    if (it != lib->kernels.end()) {
      *out = it->second;
      return MM_OK;
    }
    uint32_t index = 0;
    if (int rc = find_kernel(op, *lib->impl, name, &index)) return rc;
    auto k = std::make_shared<Kernel>();
    k->dev = lib->dev;
    k->impl = lib->impl;
    k->index = index;
    uint32_t kh = adopt_child(*lib->dev, Tag::Kernel, k, op);
    if (!kh) return MM_E_OUT_OF_MEMORY;
    lib->kernels.emplace(name, kh);
    *out = kh;
    return MM_OK;
  });
}

MM_API int mm_kernel_info_get(mm_kernel h, mm_kernel_info* out) {
  static const char* op = "mm_kernel_info_get";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    if (out->size == 0)
      return fail(MM_E_INVALID_ARG, "%s: out->size is 0; set it to sizeof(mm_kernel_info) = %zu", op,
                  sizeof(mm_kernel_info));
    auto k = get_as<Kernel>(h, Tag::Kernel, op);
    if (!k) return MM_E_BAD_HANDLE;
    fill_kernel_info(k->info(), out);
    return MM_OK;
  });
}

MM_API int mm_kernel_arg_info(mm_kernel h, uint32_t index, mm_arg_info* out) {
  static const char* op = "mm_kernel_arg_info";
  return guarded(op, [&] {
    if (!out) return fail(MM_E_INVALID_ARG, "%s: out is NULL", op);
    if (out->size == 0)
      return fail(MM_E_INVALID_ARG, "%s: out->size is 0; set it to sizeof(mm_arg_info) = %zu", op,
                  sizeof(mm_arg_info));
    auto k = get_as<Kernel>(h, Tag::Kernel, op);
    if (!k) return MM_E_BAD_HANDLE;
    if (index >= MM_MAX_BUFFERS)
      return fail(MM_E_INVALID_ARG, "%s: index %u is not a buffer index (0..%u)", op, index, MM_MAX_BUFFERS - 1);
    mm_arg_info info{};
    info.size = sizeof info;
    info.kind = MM_ARG_NONE;  // an index the kernel does not use reports MM_ARG_NONE
    for (const ArgInfo& a : k->info().args)
      if (a.index == index) {
        info.kind = a.kind;
        info.access = a.access;
        info.dtype = a.dtype;
        info.elem_bytes = a.elem_bytes;
        info.line = a.line;
        copy_str(info.type_name, sizeof info.type_name, a.type_name);
        copy_str(info.arg_name, sizeof info.arg_name, a.arg_name);
      }
    uint32_t size = out->size;
    std::memcpy(out, &info, size < sizeof info ? size : sizeof info);
    out->size = size;
    return MM_OK;
  });
}

}  // extern "C"
