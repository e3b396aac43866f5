// apple_abi.cpp — what Apple-ABI Objective-C compiled for Linux (clang -fobjc-runtime=macosx-13.0
// -fobjc-arc -fblocks) needs from a runtime beyond classes.cpp and objects.cpp: selector references
// (ELF section objc_selrefs) interned before main; classes that compiled code names by symbol
// (OBJC_CLASS_$_Name) built in that symbol's storage; @"..." literals (__CFConstantStringClassReference);
// ARC's entry points, blocks included (libBlocksRuntime); the Objective-C personality routine.
#include <unwind.h>

#include <cstring>

#include "runtime.h"

extern "C" {
// Linker-provided bounds of the selector-reference section (a C-identifier section name).
extern char* __start_objc_selrefs[] __attribute__((weak, visibility("hidden")));
extern char* __stop_objc_selrefs[] __attribute__((weak, visibility("hidden")));
// libBlocksRuntime
extern void* _NSConcreteStackBlock[];
extern void* _NSConcreteMallocBlock[];
extern void* _NSConcreteGlobalBlock[];
void* _Block_copy(const void*);
void _Block_release(const void*);
}

// Storage for the classes compiled code sends class messages to ([MTLCompileOptions new], ...).
#define MM_SIM_CLASS_SYMBOL(name)                                                          \
  extern "C" {                                                                            \
  alignas(64) unsigned char mm_sim_class_##name[256] __asm__("OBJC_CLASS_$_" #name);     \
  }                                                                                       \
  static const bool mm_sim_slot_##name =                                                  \
      (mm::sim::provide_class_storage(#name, mm_sim_class_##name, sizeof mm_sim_class_##name), true);
MM_SIM_CLASS_SYMBOL(NSObject)
MM_SIM_CLASS_SYMBOL(NSString)
MM_SIM_CLASS_SYMBOL(NSError)
MM_SIM_CLASS_SYMBOL(MTLCompileOptions)
MM_SIM_CLASS_SYMBOL(MTLFunctionConstantValues)
MM_SIM_CLASS_SYMBOL(NSArray)
MM_SIM_CLASS_SYMBOL(NSURL)
MM_SIM_CLASS_SYMBOL(NSProcessInfo)
MM_SIM_CLASS_SYMBOL(MTLComputePipelineDescriptor)
MM_SIM_CLASS_SYMBOL(MTLBinaryArchiveDescriptor)

// @"..." literals: {isa = &__CFConstantStringClassReference, flags, UTF-8 bytes, length}.
extern "C" {
alignas(64) unsigned char mm_sim_cfstring_class[256] __asm__("__CFConstantStringClassReference");
}
static const bool mm_sim_slot_cfstring =
    (mm::sim::provide_class_storage("__NSCFConstantString", mm_sim_cfstring_class, sizeof mm_sim_cfstring_class), true);
struct ConstantString {
  Class isa;
  int flags;
  const char* str;
  long length;
};
#define MM_SIM_CONSTANT_STRING(sym, text) \
  static ConstantString sym##_storage = {reinterpret_cast<Class>(mm_sim_cfstring_class), 0x7c8, text, sizeof(text) - 1}; \
  extern "C" const id sym = reinterpret_cast<id>(&sym##_storage);
// Error domains Metal exports (NSErrorDomain constants).
MM_SIM_CONSTANT_STRING(MTLCommandBufferErrorDomain, "MTLCommandBufferErrorDomain")
MM_SIM_CONSTANT_STRING(MTLLibraryErrorDomain, "MTLLibraryErrorDomain")

namespace {

bool is_block(id obj) {
  void* isa = reinterpret_cast<void*>(obj->isa);
  return isa == _NSConcreteStackBlock || isa == _NSConcreteMallocBlock || isa == _NSConcreteGlobalBlock;
}

void install_apple_abi() {
  // Selector references -> interned selectors.
  if (__start_objc_selrefs)
    for (char** p = __start_objc_selrefs; p < __stop_objc_selrefs; ++p) *p = reinterpret_cast<char*>(sel_registerName(*p));
  // The constant string class (the first look-up installs NSObject, Foundation and Metal).
  Class nsstring = objc_lookUpClass("NSString");
  Class cf = mm::sim::define<mm::sim::Object>("__NSCFConstantString", nsstring);
  mm::sim::set_constant(cf);
  mm::sim::def<const char*>(cf, "UTF8String", [](id self, SEL) -> const char* {
    return reinterpret_cast<ConstantString*>(self)->str;
  });
  mm::sim::def<unsigned long>(cf, "length", [](id self, SEL) -> unsigned long {
    return static_cast<unsigned long>(reinterpret_cast<ConstantString*>(self)->length);
  });
}

// After the storage registrations above (same translation unit: initialized in declaration order).
const bool g_installed = (install_apple_abi(), true);

}  // namespace

extern "C" {

id objc_retain(id obj) {
  if (!obj) return obj;
  if (is_block(obj)) return static_cast<id>(_Block_copy(obj));
  return mm::sim::retain(obj);
}
void objc_release(id obj) {
  if (!obj) return;
  if (is_block(obj)) return _Block_release(obj);
  mm::sim::release(obj);
}
id objc_autorelease(id obj) {
  if (!obj || is_block(obj)) return obj;
  return mm::sim::autorelease(obj);
}
// The return-value handshake is an optimization on Apple platforms; the plain semantics suffice here.
id objc_retainAutoreleasedReturnValue(id obj) { return objc_retain(obj); }
id objc_claimAutoreleasedReturnValue(id obj) { return objc_retain(obj); }
id objc_unsafeClaimAutoreleasedReturnValue(id obj) { return obj; }
id objc_autoreleaseReturnValue(id obj) { return objc_autorelease(obj); }
id objc_retainAutorelease(id obj) { return objc_autorelease(objc_retain(obj)); }
id objc_retainAutoreleaseReturnValue(id obj) { return objc_autorelease(objc_retain(obj)); }
id objc_retainBlock(id block) { return block ? static_cast<id>(_Block_copy(block)) : block; }
void objc_storeStrong(id* location, id obj) {
  id old = *location;
  *location = objc_retain(obj);
  objc_release(old);
}

using Send0 = id (*)(id, SEL);
id objc_alloc(Class cls) {
  return reinterpret_cast<Send0>(objc_msgSend)(reinterpret_cast<id>(cls), mm::sim::sel("alloc"));
}
id objc_alloc_init(Class cls) { return reinterpret_cast<Send0>(objc_msgSend)(objc_alloc(cls), mm::sim::sel("init")); }
id objc_opt_new(Class cls) {
  return reinterpret_cast<Send0>(objc_msgSend)(reinterpret_cast<id>(cls), mm::sim::sel("new"));
}
BOOL objc_opt_respondsToSelector(id obj, SEL sel) { return obj && class_respondsToSelector(obj->isa, sel); }
Class objc_opt_class(id obj) {
  if (!obj) return nullptr;
  return mm::sim::is_metaclass(obj->isa) ? reinterpret_cast<Class>(obj) : obj->isa;  // [obj class]
}
id objc_opt_self(id obj) { return obj; }

}  // extern "C"

// Objective-C++ frames name their own personality routine; C++'s handles them (cleanups only: no
// Objective-C exception is ever thrown here).
extern "C" _Unwind_Reason_Code __gxx_personality_v0(int, _Unwind_Action, uint64_t, _Unwind_Exception*, _Unwind_Context*);
extern "C" _Unwind_Reason_Code __objc_personality_v0(int version, _Unwind_Action actions, uint64_t cls,
                                                     _Unwind_Exception* e, _Unwind_Context* ctx) {
  return __gxx_personality_v0(version, actions, cls, e, ctx);
}
