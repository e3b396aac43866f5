// classes.cpp — classes, selectors and message lookup of the metal-sim Objective-C runtime: a registry
// of classes by name, interned selectors, per-class method tables (filled once, before the first
// message, then read-only), and mm_objc_lookup, which the objc_msgSend trampolines call. Unknown
// selectors and messages to deallocated instances are recorded with the wording of Apple's runtime.
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "runtime.h"

struct objc_class {
  Class isa;         // metaclass (for a class); the root metaclass (for a metaclass)
  Class superclass;  // a root metaclass's superclass is the root class, as in Apple's runtime
  const char* name;
  bool is_meta;
  bool is_constant;  // instances are static (constant strings): retain/release do nothing
  void (*finalize)(mm::sim::Object*);
  void (*free)(mm::sim::Object*);
  std::unordered_map<SEL, IMP> methods;
};

namespace {

std::mutex& registry_mutex() {
  static auto* mu = new std::mutex();
  return *mu;
}
std::unordered_map<std::string, std::string*>& selectors() {
  static auto* m = new std::unordered_map<std::string, std::string*>();
  return *m;
}
std::unordered_map<std::string, Class>& classes() {
  static auto* m = new std::unordered_map<std::string, Class>();
  return *m;
}
std::unordered_map<std::string, void*>& storages() {
  static auto* m = new std::unordered_map<std::string, void*>();
  return *m;
}

// Messages to nil return zero; a recorded violation continues as if the receiver were nil.
long nil_imp(id, SEL) { return 0; }

IMP find(Class cls, SEL sel) {
  for (Class c = cls; c; c = c->superclass) {
    auto it = c->methods.find(sel);
    if (it != c->methods.end()) return it->second;
  }
  return nullptr;
}

void install_root();

// Installation looks classes up itself (a class refers to another): those look-ups skip the once-guard.
thread_local bool t_installing = false;
void ensure_installed() {
  if (t_installing) return;
  static std::once_flag once;
  std::call_once(once, [] {
    t_installing = true;
    install_root();
    mm::sim::install_frameworks();
    t_installing = false;
  });
}

}  // namespace

namespace mm::sim {

Class define_class(const char* name, Class super, void (*finalize)(Object*), void (*free)(Object*)) {
  Class cls = objc_allocateClassPair(super, name, 0);
  cls->finalize = finalize;
  cls->free = free;
  objc_registerClassPair(cls);
  return cls;
}

Class root_class() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  return classes().at("NSObject");
}
void set_constant(Class cls) { cls->is_constant = true; }
bool is_constant(Class cls) { return cls->is_meta || cls->is_constant; }
bool is_metaclass(Class cls) { return cls && cls->is_meta; }
const char* class_name(Class cls) { return cls ? cls->name : "nil"; }
Class superclass_of(Class cls) { return cls ? cls->superclass : nullptr; }

void provide_class_storage(const char* name, void* storage, size_t size) {
  if (size < sizeof(objc_class)) violation("class storage for %s is %zu bytes, needs %zu", name, size, sizeof(objc_class));
  else storages()[name] = storage;
}

void add_method(Class cls, const char* name, IMP imp, bool meta) {
  Class target = meta ? cls->isa : cls;
  class_addMethod(target, sel_registerName(name), imp, "");
}

SEL sel(const char* name) { return sel_registerName(name); }

// Finalizes an object whose last reference went away (objects.cpp frees or quarantines it).
void run_finalize(Object* o) {
  for (Class c = o->isa; c; c = c->superclass)
    if (c->finalize) {
      c->finalize(o);
      return;
    }
}
void run_free(Object* o) { o->isa->free(o); }

}  // namespace mm::sim

extern "C" {

SEL sel_registerName(const char* str) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& m = selectors();
  auto it = m.find(str);
  if (it == m.end()) it = m.emplace(str, new std::string(str)).first;
  return reinterpret_cast<SEL>(const_cast<char*>(it->second->c_str()));
}
const char* sel_getName(SEL sel) { return sel ? reinterpret_cast<const char*>(sel) : "<null selector>"; }

Class objc_lookUpClass(const char* name) {
  ensure_installed();
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = classes().find(name);
  return it == classes().end() ? nullptr : it->second;
}
id objc_getClass(const char* name) { return reinterpret_cast<id>(objc_lookUpClass(name)); }
Class object_getClass(id obj) { return obj ? obj->isa : nullptr; }
const char* class_getName(Class cls) { return mm::sim::class_name(cls); }
Class class_getSuperclass(Class cls) { return mm::sim::superclass_of(cls); }
const char* object_getClassName(id obj) { return obj ? obj->isa->name : "nil"; }

Class objc_allocateClassPair(Class super, const char* name, size_t) {
  auto* meta = new objc_class{nullptr, nullptr, name, true, false, nullptr, nullptr, {}};
  // Compiled Objective-C refers to classes by symbol (OBJC_CLASS_$_Name): build the class in that
  // symbol's storage when the image provides one (apple_abi.cpp).
  void* storage = nullptr;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = storages().find(name);
    if (it != storages().end()) storage = it->second;
  }
  Class cls = storage ? new (storage) objc_class{meta, super, name, false, false, nullptr, nullptr, {}}
                      : new objc_class{meta, super, name, false, false, nullptr, nullptr, {}};
  meta->superclass = super ? super->isa : cls;  // class methods fall back to the root's instance methods
  meta->isa = super ? super->isa->isa : meta;    // every metaclass's isa is the root metaclass
  return cls;
}
void objc_registerClassPair(Class cls) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  classes()[cls->name] = cls;
}
BOOL class_addMethod(Class cls, SEL name, IMP imp, const char*) { return cls->methods.emplace(name, imp).second; }
BOOL class_respondsToSelector(Class cls, SEL sel) { return cls && find(cls, sel); }

// Called by the objc_msgSend trampolines (msgsend_*.S) with the receiver and the selector.
IMP mm_objc_lookup(id self, SEL sel) {
  if (!self) return reinterpret_cast<IMP>(&nil_imp);
  Class cls = self->isa;
  if (!cls->is_meta && !cls->is_constant && mm::sim::is_zombie(self)) {
    mm::sim::violation("*** -[%s %s]: message sent to deallocated instance %p", cls->name, sel_getName(sel),
                       static_cast<void*>(self));
    return reinterpret_cast<IMP>(&nil_imp);
  }
  if (IMP imp = find(cls, sel)) return imp;
  bool is_class = cls->is_meta;
  mm::sim::violation("%c[%s %s]: unrecognized selector sent to %s %p", is_class ? '+' : '-',
                     is_class ? reinterpret_cast<Class>(self)->name : cls->name, sel_getName(sel),
                     is_class ? "class" : "instance", static_cast<void*>(self));
  return reinterpret_cast<IMP>(&nil_imp);
}

}  // extern "C"

namespace {

using mm::sim::def;
using Send0 = id (*)(id, SEL);

// NSObject: the root class with the messages every object answers (memory management for code built
// without ARC, and the introspection the backend may use).
void install_root() {
  Class ns = mm::sim::define<mm::sim::Object>("NSObject", nullptr);
  def<id>(ns, "alloc", [](id self, SEL) -> id {
    return mm::sim::obj(mm::sim::alloc_instance<mm::sim::Object>(reinterpret_cast<Class>(self)));
  }, true);
  def<id>(ns, "new", [](id self, SEL) -> id {
    id fresh = reinterpret_cast<Send0>(objc_msgSend)(self, mm::sim::sel("alloc"));
    return reinterpret_cast<Send0>(objc_msgSend)(fresh, mm::sim::sel("init"));
  }, true);
  def<id>(ns, "init", [](id self, SEL) -> id { return self; });
  def<id>(ns, "retain", [](id self, SEL) -> id { return mm::sim::retain(self); });
  def<void>(ns, "release", [](id self, SEL) { mm::sim::release(self); });
  def<id>(ns, "autorelease", [](id self, SEL) -> id { return mm::sim::autorelease(self); });
  def<unsigned long>(ns, "retainCount", [](id self, SEL) -> unsigned long {
    return static_cast<unsigned long>(mm::sim::retain_count(self));
  });
  def<BOOL, SEL>(ns, "respondsToSelector:", [](id self, SEL, SEL s) -> BOOL {
    return class_respondsToSelector(self->isa, s);
  });
  def<BOOL, id>(ns, "isEqual:", [](id self, SEL, id other) -> BOOL { return self == other; });
  def<unsigned long>(ns, "hash", [](id self, SEL) -> unsigned long { return reinterpret_cast<unsigned long>(self); });
  def<Class>(ns, "class", [](id self, SEL) -> Class { return self->isa; });
  def<Class>(ns, "class", [](id self, SEL) -> Class { return reinterpret_cast<Class>(self); }, true);
}

}  // namespace
