// encoder.cpp — the simulated MTLComputeCommandEncoder. It records dispatches (pipeline, bindings,
// threadgroup memory, sizes) into its command buffer, retaining what they use, and checks each call
// against the rules of Metal's API validation layer; a broken rule is recorded (runtime/violations.cpp)
// with Apple's wording and the call has no effect.
#include <cinttypes>
#include <cstring>

#include "driver.h"

namespace mm::sim {

namespace {

constexpr const char* kWho = "-[MTLDebugComputeCommandEncoder";

// False (and a recorded violation) when the encoder may no longer be used.
bool usable(id self, const char* method) {
  if (as<EncoderObj>(self)->ended) {
    violation("%s %s]: failed assertion `Command encoder has already ended encoding (endEncoding was called).'", kWho,
              method);
    return false;
  }
  return true;
}

void finalize_encoder(Object* o) {
  auto* e = static_cast<EncoderObj*>(o);
  if (!e->ended) {
    violation("%s dealloc]: failed assertion `Command encoder released without endEncoding'", kWho);
    as<CommandBufferObj>(e->command_buffer)->active_encoder = nullptr;
  }
  release_command(e->state);
  release(e->label);
  release(e->command_buffer);
}

// Checks a dispatch against the pipeline and device limits; true when it may be recorded.
bool dispatch_ok(EncoderObj* e, const MTLSize& grid, const MTLSize& tpg) {
  const char* m = "dispatchThreadgroups:threadsPerThreadgroup:]";
  if (!e->state.pipeline) {
    violation("%s %s: failed assertion `No compute pipeline state set (setComputePipelineState: first).'", kWho, m);
    return false;
  }
  auto* p = as<PipelineObj>(e->state.pipeline);
  const char* kn = p->kernel->name;
  if (!grid.width || !grid.height || !grid.depth || !tpg.width || !tpg.height || !tpg.depth) {
    violation("%s %s: failed assertion `threadgroupsPerGrid(%lu, %lu, %lu) and threadsPerThreadgroup(%lu, %lu, %lu) "
              "must be non-zero.'", kWho, m, grid.width, grid.height, grid.depth, tpg.width, tpg.height, tpg.depth);
    return false;
  }
  NSUInteger threads = tpg.width * tpg.height * tpg.depth;
  if (threads > p->max_threads) {
    violation("%s %s: failed assertion `(threadsPerThreadgroup.width(%lu) * threadsPerThreadgroup.height(%lu) * "
              "threadsPerThreadgroup.depth(%lu))(%lu) must be <= %lu. (kernel threadgroup size limit of %s)'",
              kWho, m, tpg.width, tpg.height, tpg.depth, threads, p->max_threads, kn);
    return false;
  }
  NSUInteger tg_total = p->kernel->static_tg_bytes;
  for (NSUInteger len : e->state.tg_mem) tg_total += len;
  if (tg_total > kMaxTgMem) {
    violation("%s %s: failed assertion `Threadgroup memory size (%lu) exceeds the maximum threadgroup memory allowed "
              "(%lu) for %s.'", kWho, m, tg_total, kMaxTgMem, kn);
    return false;
  }
  for (uint32_t i = 0; i < p->kernel->n_args; ++i) {
    const mm_rt_arg& a = p->kernel->args[i];
    if (!e->state.bindings[a.index].set) {
      violation("%s %s: failed assertion `Compute Function(%s): missing buffer binding at index %u for %s[0].'", kWho, m,
                kn, a.index, a.arg_name ? a.arg_name : "?");
      return false;
    }
  }
  for (uint32_t i = 0; i < p->kernel->n_threadgroup_args; ++i)
    if (!e->state.tg_mem[i]) {
      violation("%s %s: failed assertion `Compute Function(%s): missing threadgroupMemory binding at index %u.'", kWho, m,
                kn, i);
      return false;
    }
  return true;
}

void set_buffer(id self, id buffer, NSUInteger offset, NSUInteger index) {
  if (!usable(self, "setBuffer:offset:atIndex:")) return;
  if (index >= kMaxBindings) {
    violation("%s setBuffer:offset:atIndex:]: failed assertion `index(%lu) must be < %lu.'", kWho, index, kMaxBindings);
    return;
  }
  if (buffer && offset >= as<BufferObj>(buffer)->length) {
    violation("%s setBuffer:offset:atIndex:]: failed assertion `Set Buffer Validation offset(%lu) must be < [buffer "
              "length](%lu).'", kWho, offset, as<BufferObj>(buffer)->length);
    return;
  }
  Binding& b = as<EncoderObj>(self)->state.bindings[index];
  id old = b.buffer;
  b = Binding{};
  b.buffer = retain(buffer);
  b.offset = offset;
  b.set = buffer != nullptr;
  release(old);
}

void set_bytes(id self, const void* bytes, NSUInteger length, NSUInteger index) {
  if (!usable(self, "setBytes:length:atIndex:")) return;
  if (index >= kMaxBindings) {
    violation("%s setBytes:length:atIndex:]: failed assertion `index(%lu) must be < %lu.'", kWho, index, kMaxBindings);
    return;
  }
  if (length > kMaxBytes) {
    violation("%s setBytes:length:atIndex:]: failed assertion `Set Bytes Validation length(%lu) must be <= %lu.'", kWho,
              length, kMaxBytes);
    return;
  }
  Binding& b = as<EncoderObj>(self)->state.bindings[index];
  release(b.buffer);
  b = Binding{};
  b.bytes.assign(static_cast<const unsigned char*>(bytes), static_cast<const unsigned char*>(bytes) + length);
  b.set = true;
}

void set_tg_memory(id self, NSUInteger length, NSUInteger index) {
  const char* m = "setThreadgroupMemoryLength:atIndex:]";
  if (!usable(self, "setThreadgroupMemoryLength:atIndex:")) return;
  if (index >= kMaxBindings) {
    violation("%s %s: failed assertion `index(%lu) must be < %lu.'", kWho, m, index, kMaxBindings);
  } else if (length % 16) {
    violation("%s %s: failed assertion `length(%lu) must be a multiple of 16 bytes.'", kWho, m, length);
  } else if (length > kMaxTgMem) {
    violation("%s %s: failed assertion `length(%lu) must be <= %lu.'", kWho, m, length, kMaxTgMem);
  } else {
    as<EncoderObj>(self)->state.tg_mem[index] = length;
  }
}

void dispatch(id self, MTLSize grid, MTLSize tpg) {
  if (!usable(self, "dispatchThreadgroups:threadsPerThreadgroup:")) return;
  auto* e = as<EncoderObj>(self);
  if (!dispatch_ok(e, grid, tpg)) return;
  Command c;
  c.pipeline = retain(e->state.pipeline);
  for (NSUInteger i = 0; i < kMaxBindings; ++i) {
    c.bindings[i] = e->state.bindings[i];
    retain(c.bindings[i].buffer);
    c.tg_mem[i] = e->state.tg_mem[i];
  }
  c.grid = grid;
  c.tpg = tpg;
  c.encoder_label = label_of(&e->label);
  as<CommandBufferObj>(e->command_buffer)->commands.push_back(std::move(c));
  counters().encoded++;
}

}  // namespace

void release_command(Command& c) {
  release(c.pipeline);
  c.pipeline = nullptr;
  for (Binding& b : c.bindings) {
    release(b.buffer);
    b.buffer = nullptr;
  }
}

void install_encoder() {
  Class encoder = define<EncoderObj>("MTLSimComputeCommandEncoder", root_class(), finalize_encoder);
  def<void, id>(encoder, "setComputePipelineState:", [](id self, SEL, id pipeline) {
    if (!usable(self, "setComputePipelineState:")) return;
    auto* e = as<EncoderObj>(self);
    id old = e->state.pipeline;
    e->state.pipeline = retain(pipeline);
    release(old);
  });
  def<void, id, NSUInteger, NSUInteger>(encoder, "setBuffer:offset:atIndex:", [](id self, SEL, id buffer, NSUInteger offset, NSUInteger index) {
    set_buffer(self, buffer, offset, index);
  });
  def<void, const void*, NSUInteger, NSUInteger>(encoder, "setBytes:length:atIndex:", [](id self, SEL, const void* bytes, NSUInteger length, NSUInteger index) {
    set_bytes(self, bytes, length, index);
  });
  def<void, NSUInteger, NSUInteger>(encoder, "setThreadgroupMemoryLength:atIndex:", [](id self, SEL, NSUInteger length, NSUInteger index) {
    set_tg_memory(self, length, index);
  });
  def<void, MTLSize, MTLSize>(encoder, "dispatchThreadgroups:threadsPerThreadgroup:", [](id self, SEL, MTLSize grid, MTLSize tpg) {
    dispatch(self, grid, tpg);
  });
  def<void>(encoder, "endEncoding", [](id self, SEL) {
    if (!usable(self, "endEncoding")) return;
    auto* e = as<EncoderObj>(self);
    e->ended = true;
    as<CommandBufferObj>(e->command_buffer)->active_encoder = nullptr;
  });
  def<id>(encoder, "label", [](id self, SEL) -> id {
    std::string l = label_of(&as<EncoderObj>(self)->label);
    return l.empty() ? nullptr : make_string(l);
  });
  def<void, id>(encoder, "setLabel:", [](id self, SEL, id label) { set_label(&as<EncoderObj>(self)->label, label); });
}

}  // namespace mm::sim
