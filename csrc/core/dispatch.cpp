// dispatch.cpp — all dispatch validation, shared by every backend, then one resolved Job.
// Messages name the kernel, the [[buffer(i)]] index, the argument and the numbers to fix the call.
#include <cstdio>
#include <cstring>
#include <memory>

#include "entry.h"
#include "objects.h"

namespace mm::core {

namespace {

const char* dtype_name(uint32_t d) {
  static const char* names[] = {"any", "f16", "f32", "i32", "u32", "u16", "u8", "i16", "i8", "bf16"};
  return d < sizeof names / sizeof names[0] ? names[d] : "invalid";
}

const char* kind_name(uint32_t k) { return k == MM_ARG_DEVICE ? "device" : k == MM_ARG_CONSTANT ? "constant" : "?"; }

const ArgInfo* find_arg(const KernelInfo& k, uint32_t index) {
  for (const ArgInfo& a : k.args)
    if (a.index == index && a.kind != MM_ARG_NONE) return &a;
  return nullptr;
}

// Offsets must keep the pointee aligned: the largest power of two dividing elem_bytes, at most 16.
uint64_t required_alignment(uint32_t elem_bytes) {
  if (elem_bytes == 0) return 1;
  uint64_t a = elem_bytes & (~elem_bytes + 1);
  return a > 16 ? 16 : a;
}

constexpr size_t kInlineAlign = 16;
struct alignas(kInlineAlign) Chunk {
  unsigned char b[kInlineAlign];
};
uint64_t round_up(uint64_t x) { return (x + kInlineAlign - 1) / kInlineAlign * kInlineAlign; }

int check_bytes_binding(const char* op, const char* kname, const mm_dispatch_desc* desc, const mm_binding& b,
                        const ArgInfo& a) {
  if (a.kind != MM_ARG_CONSTANT)
    return fail(MM_E_BINDING, "%s: kernel %s: buffer(%u) '%s' is a device argument and needs a buffer, not inline bytes",
                op, kname, b.index, a.arg_name.c_str());
  if (b.length == 0)
    return fail(MM_E_BINDING, "%s: kernel %s: buffer(%u) '%s': inline bytes have length 0", op, kname, b.index,
                a.arg_name.c_str());
  if (b.offset > desc->size || b.length > desc->size - b.offset)
    return fail(MM_E_BOUNDS, "%s: kernel %s: buffer(%u): inline bytes [%llu, +%llu) lie outside the desc of %u bytes",
                op, kname, b.index, static_cast<unsigned long long>(b.offset), static_cast<unsigned long long>(b.length),
                desc->size);
  if (a.elem_bytes && b.length < a.elem_bytes)
    return fail(MM_E_BINDING, "%s: kernel %s: buffer(%u) '%s': %llu inline bytes but %s is %u bytes", op, kname,
                b.index, a.arg_name.c_str(), static_cast<unsigned long long>(b.length), a.type_name.c_str(),
                a.elem_bytes);
  return MM_OK;
}

int check_buffer_binding(const char* op, const char* kname, const Device& dev, const mm_binding& b, const ArgInfo& a,
                         std::shared_ptr<Buffer>* held, JobBinding* jb) {
  char where[160];
  std::snprintf(where, sizeof where, "%s: kernel %s: buffer(%u) '%s'", op, kname, b.index, a.arg_name.c_str());
  auto buf = get_as<Buffer>(b.buffer, Tag::Buffer, where);
  if (!buf) return MM_E_BAD_HANDLE;
  if (buf->dev.get() != &dev)
    return fail(MM_E_BAD_HANDLE, "%s: buffer 0x%x belongs to device 0x%x, not to device 0x%x", where, b.buffer,
                buf->dev->handle, dev.handle);
  const uint64_t len = buf->mem.length;
  typedef unsigned long long ull;
  if (b.offset >= len)
    return fail(MM_E_BOUNDS, "%s: offset %llu is not inside the %llu-byte buffer", where, (ull)b.offset, (ull)len);
  uint64_t align = required_alignment(a.elem_bytes);
  if (b.offset % align)
    return fail(MM_E_ALIGNMENT, "%s: offset %llu is not a multiple of %llu (alignment of %s)", where, (ull)b.offset,
                (ull)align, a.type_name.c_str());
  if (b.length > len - b.offset)
    return fail(MM_E_BOUNDS, "%s: offset %llu + length %llu = %llu exceeds the buffer length %llu", where,
                (ull)b.offset, (ull)b.length, (ull)(b.offset + b.length), (ull)len);
  uint64_t visible = b.length ? b.length : len - b.offset;
  if (a.elem_bytes && visible < a.elem_bytes)
    return fail(MM_E_BOUNDS, "%s: only %llu bytes visible but one %s is %u bytes", where, (ull)visible,
                a.type_name.c_str(), a.elem_bytes);
  *held = std::move(buf);
  jb->kind = MM_BIND_BUFFER;
  jb->data = static_cast<unsigned char*>((*held)->mem.contents) + b.offset;
  jb->native = (*held)->mem.native;
  jb->offset = b.offset;
  jb->length = visible;
  return MM_OK;
}

}  // namespace

int dispatch_validated(const char* op, Device& dev, const BackendLibrary& lib, uint32_t index,
                       const mm_dispatch_desc* desc) {
  typedef unsigned long long ull;
  const KernelInfo& k = lib.kernel(index);
  const char* kn = k.name.c_str();
  if (!desc) return fail(MM_E_INVALID_ARG, "%s: kernel %s: desc is NULL", op, kn);
  if (desc->size < sizeof(mm_dispatch_desc))  // before reading any other field of the header
    return fail(MM_E_INVALID_ARG, "%s: kernel %s: desc->size = %u is smaller than the header (%zu bytes)", op, kn,
                desc->size, sizeof(mm_dispatch_desc));
  const uint64_t need = sizeof(mm_dispatch_desc) + uint64_t(desc->n_bindings) * sizeof(mm_binding);
  if (desc->size < need)
    return fail(MM_E_INVALID_ARG, "%s: kernel %s: desc->size = %u but the header and %u bindings need %llu bytes", op,
                kn, desc->size, desc->n_bindings, (ull)need);
  if (desc->function_constants_defined >> MM_MAX_FUNCTION_CONSTANTS)
    return fail(MM_E_INVALID_ARG, "%s: kernel %s: function_constants_defined = 0x%x sets bits past the %u slots", op,
                kn, desc->function_constants_defined, MM_MAX_FUNCTION_CONSTANTS);
  for (int d = 0; d < 3; ++d)
    if (desc->grid[d] == 0 || desc->threadgroup[d] == 0)
      return fail(MM_E_INVALID_ARG, "%s: kernel %s: grid %ux%ux%u and threadgroup %ux%ux%u must be >= 1 in every dimension",
                  op, kn, desc->grid[0], desc->grid[1], desc->grid[2], desc->threadgroup[0], desc->threadgroup[1],
                  desc->threadgroup[2]);
  const uint64_t tg_threads = uint64_t(desc->threadgroup[0]) * desc->threadgroup[1] * desc->threadgroup[2];
  uint32_t limit = dev.max_threads_per_threadgroup;
  if (k.max_threads_per_threadgroup && k.max_threads_per_threadgroup < limit) limit = k.max_threads_per_threadgroup;
  if (tg_threads > limit)
    return fail(MM_E_LIMIT, "%s: kernel %s: threadgroup %ux%ux%u = %llu threads exceeds the limit %u", op, kn,
                desc->threadgroup[0], desc->threadgroup[1], desc->threadgroup[2], (ull)tg_threads, limit);
  const uint64_t groups = uint64_t(desc->grid[0]) * desc->grid[1] * desc->grid[2];
  if (groups > UINT32_MAX)
    return fail(MM_E_LIMIT, "%s: kernel %s: grid %ux%ux%u = %llu threadgroups exceeds 2^32-1", op, kn, desc->grid[0],
                desc->grid[1], desc->grid[2], (ull)groups);
  for (int d = 0; d < 3; ++d)
    if (uint64_t(desc->grid[d]) * desc->threadgroup[d] > UINT32_MAX)
      return fail(MM_E_LIMIT, "%s: kernel %s: dimension %d has %llu threads (grid %u x threadgroup %u), over 2^32-1", op,
                  kn, d, (ull)(uint64_t(desc->grid[d]) * desc->threadgroup[d]), desc->grid[d], desc->threadgroup[d]);

  Job job;
  job.library = &lib;
  job.kernel = index;
  std::shared_ptr<Buffer> held[MM_MAX_BUFFERS];  // keeps bound buffers alive during the dispatch
  uint64_t inline_total = 0;
  for (uint32_t i = 0; i < desc->n_bindings; ++i) {
    const mm_binding& b = desc->bindings[i];
    if (b.index >= MM_MAX_BUFFERS)
      return fail(MM_E_BINDING, "%s: kernel %s: bindings[%u] has index %u; buffer indices are 0..%u", op, kn, i,
                  b.index, MM_MAX_BUFFERS - 1);
    if (b.kind != MM_BIND_BUFFER && b.kind != MM_BIND_BYTES)
      return fail(MM_E_INVALID_ARG, "%s: kernel %s: bindings[%u] (buffer(%u)) has kind %u; use MM_BIND_BUFFER or MM_BIND_BYTES",
                  op, kn, i, b.index, b.kind);
    if (b.dtype > MM_DTYPE_BF16)
      return fail(MM_E_INVALID_ARG, "%s: kernel %s: buffer(%u) has dtype code %u, not an MM_DTYPE_*", op, kn, b.index,
                  b.dtype);
    const ArgInfo* a = find_arg(k, b.index);
    if (!a)
      return fail(MM_E_BINDING, "%s: kernel %s: buffer(%u) is bound but the kernel declares no [[buffer(%u)]]", op, kn,
                  b.index, b.index);
    if (job.bindings[b.index].kind)
      return fail(MM_E_BINDING, "%s: kernel %s: buffer(%u) '%s' is bound twice", op, kn, b.index, a->arg_name.c_str());
    // bf16 data binds to a ushort argument too: kernels without MSL 3.1's bfloat read the raw bits.
    const bool bf16_bits = b.dtype == MM_DTYPE_BF16 && a->dtype == MM_DTYPE_U16;
    if (b.dtype && a->dtype && b.dtype != a->dtype && !bf16_bits)
      return fail(MM_E_BINDING, "%s: kernel %s: buffer(%u) is bound to a %s buffer but the kernel declares %s (%s)", op,
                  kn, b.index, dtype_name(b.dtype), a->type_name.c_str(), dtype_name(a->dtype));
    if (b.kind == MM_BIND_BYTES) {
      if (int rc = check_bytes_binding(op, kn, desc, b, *a)) return rc;
      job.bindings[b.index].kind = MM_BIND_BYTES;
      job.bindings[b.index].length = b.length;
      inline_total += round_up(b.length);
    } else if (int rc = check_buffer_binding(op, kn, dev, b, *a, &held[b.index], &job.bindings[b.index])) {
      return rc;
    }
  }
  for (const ArgInfo& a : k.args)
    if (a.kind != MM_ARG_NONE && !job.bindings[a.index].kind)
      return fail(MM_E_BINDING, "%s: kernel %s: buffer(%u) '%s' (%s %s*) is not bound", op, kn, a.index,
                  a.arg_name.c_str(), kind_name(a.kind), a.type_name.c_str());

  uint64_t tg_bytes = k.static_tg_bytes;
  for (uint32_t i = 0; i < MM_MAX_THREADGROUP_ARGS; ++i) {
    uint32_t m = desc->threadgroup_memory[i];
    if (i < k.n_threadgroup_args) {
      if (m == 0 || m % 16)
        return fail(MM_E_BINDING, "%s: kernel %s: threadgroup_memory[%u] = %u; [[threadgroup(%u)]] needs a nonzero multiple of 16 bytes",
                    op, kn, i, m, i);
    } else if (m) {
      return fail(MM_E_BINDING, "%s: kernel %s: threadgroup_memory[%u] = %u but the kernel declares no [[threadgroup(%u)]]",
                  op, kn, i, m, i);
    }
    tg_bytes += m;
    job.threadgroup_memory[i] = m;
  }
  if (tg_bytes > dev.max_threadgroup_memory)
    return fail(MM_E_LIMIT, "%s: kernel %s: threadgroup memory %u static + %llu dynamic = %llu bytes exceeds the limit %u",
                op, kn, k.static_tg_bytes, (ull)(tg_bytes - k.static_tg_bytes), (ull)tg_bytes, dev.max_threadgroup_memory);

  // Inline bytes are copied so the kernel sees 16-byte aligned data wherever they sat in the desc.
  alignas(kInlineAlign) unsigned char stack[1024];
  std::unique_ptr<Chunk[]> heap;
  unsigned char* cursor = stack;
  if (inline_total > sizeof stack) {
    heap.reset(new Chunk[inline_total / kInlineAlign]);
    cursor = reinterpret_cast<unsigned char*>(heap.get());
  }
  for (uint32_t i = 0; i < desc->n_bindings; ++i) {
    const mm_binding& b = desc->bindings[i];
    if (b.kind != MM_BIND_BYTES) continue;
    std::memcpy(cursor, reinterpret_cast<const unsigned char*>(desc) + b.offset, b.length);
    job.bindings[b.index].data = cursor;
    cursor += round_up(b.length);
  }
  for (int d = 0; d < 3; ++d) {
    job.grid[d] = desc->grid[d];
    job.threadgroup[d] = desc->threadgroup[d];
  }
  std::memcpy(job.function_constants, desc->function_constants, sizeof job.function_constants);
  job.function_constants_defined = desc->function_constants_defined;
  return dev.backend->dispatch(op, job);
}

}  // namespace mm::core
