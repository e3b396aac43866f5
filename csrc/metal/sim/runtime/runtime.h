// runtime.h — the small Objective-C runtime of metal-sim, as seen by the simulated frameworks
// (driver/) and its own parts: objects, classes and their methods, reference counting, autorelease
// pools, zombies, the leak report and the record of rule violations.
#pragma once

#include <objc/message.h>
#include <objc/runtime.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mm::sim {

// Every simulated instance starts with this header; `isa` stays at offset 0 (no virtual functions).
struct Object {
  Class isa = nullptr;
  std::atomic<long> rc{1};
  std::atomic<bool> zombie{false};
};

// ---- classes (classes.cpp) ----
// Defines a class and its metaclass. At the last release `finalize` (the first one found up the
// superclass chain) drops the references the object holds and checks end-of-life rules; then `free`
// releases the memory, unless zombies are on and the object waits in quarantine.
Class define_class(const char* name, Class super, void (*finalize)(Object*), void (*free)(Object*));
template <class T>
Class define(const char* name, Class super, void (*finalize)(Object*) = nullptr) {
  return define_class(name, super, finalize, [](Object* o) { delete static_cast<T*>(o); });
}
Class root_class();                 // NSObject
void set_constant(Class cls);       // instances are static (constant strings): retain/release do nothing
bool is_constant(Class cls);        // class objects and constant-instance classes
bool is_metaclass(Class cls);       // its instances are classes
const char* class_name(Class cls);  // never null
Class superclass_of(Class cls);
// Builds class `name` in `storage` (the OBJC_CLASS_$_name symbol compiled code refers to) when defined.
void provide_class_storage(const char* name, void* storage, size_t size);

// Registers an instance method (or, with meta = true, a class method). The explicit template arguments
// are the method's exact C signature; scripts/check-metal-api.sh compares them with Apple's.
template <class T>
struct identity {
  using type = T;
};
void add_method(Class cls, const char* sel, IMP imp, bool meta);
template <class R, class... A>
void def(Class cls, const char* sel, typename identity<R (*)(id, SEL, A...)>::type fn, bool meta = false) {
  add_method(cls, sel, reinterpret_cast<IMP>(fn), meta);
}

// Cached selector lookup for C++ callers (sel_registerName takes a lock).
SEL sel(const char* name);

// ---- objects and memory (objects.cpp) ----
Object* track_new(Object* o, Class cls);  // a new instance, retain count 1 (owned by the caller)
template <class T>
T* alloc_instance(Class cls) {
  return static_cast<T*>(track_new(new T(), cls));
}
template <class T>
T* as(id obj) {
  return reinterpret_cast<T*>(obj);
}
inline id obj(Object* o) { return reinterpret_cast<id>(o); }
id retain(id obj);
void release(id obj);
id autorelease(id obj);
bool is_zombie(id obj);
long retain_count(id obj);

// Instances alive now (each "Class(rc=N)" when `report` is non-null, one line to stderr prefixed by it).
long live_objects(const char* report);

// ---- rule violations (violations.cpp) ----
// Records a failed rule (what Metal's validation layer or Apple's runtime would abort with), prints it
// to stderr prefixed "metal-sim: ", and aborts when MM_SIM_ABORT=1. The offending call then does nothing.
void violation(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
long violation_count();
std::vector<std::string> take_violations();  // and clears the record
std::vector<std::string> peek_violations();

// ---- framework installation (driver/) ----
// Installs the simulated Foundation and Metal classes; called once, before the first class look-up.
void install_frameworks();
// Waits until no committed command buffer is still executing or holding references (driver/queue).
void quiesce();

}  // namespace mm::sim
