// foundation.cpp — the Foundation classes the backend touches: NSString (UTF-8 backed, immutable, so a
// copy is a retain), NSError (domain, code, localizedDescription), NSArray (immutable), file NSURLs and
// NSProcessInfo's OS version. Factories return autoreleased objects, as Foundation's do.
#include <sys/utsname.h>

#include <cstdlib>
#include <cstring>

#include "driver.h"

namespace mm::sim {

namespace {

std::mutex& label_mutex() {
  static auto* mu = new std::mutex();
  return *mu;
}

using Utf8Fn = const char* (*)(id, SEL);

}  // namespace

id make_string(const std::string& utf8) {
  auto* s = alloc_instance<NSStringObj>(class_named("NSString"));
  s->utf8 = utf8;
  return autorelease(obj(s));
}

const char* string_utf8(id str) {
  if (!str) return "";
  const char* s = reinterpret_cast<Utf8Fn>(objc_msgSend)(str, sel("UTF8String"));
  return s ? s : "";
}

id make_error(id domain, NSInteger code, const std::string& message) {
  auto* e = alloc_instance<NSErrorObj>(class_named("NSError"));
  e->domain = retain(domain);
  e->code = code;
  e->message = retain(make_string(message));
  return autorelease(obj(e));
}

void set_label(id* slot, id value) {
  id copy = value ? retain(make_string(string_utf8(value))) : nullptr;  // `copy` property semantics
  id old;
  {
    std::lock_guard<std::mutex> lock(label_mutex());
    old = *slot;
    *slot = copy;
  }
  release(old);
}

std::string label_of(id* slot) {
  std::lock_guard<std::mutex> lock(label_mutex());
  return *slot ? as<NSStringObj>(*slot)->utf8 : std::string();
}

void install_foundation() {
  Class ns = root_class();
  Class str = define<NSStringObj>("NSString", ns);
  def<id>(str, "alloc", [](id self, SEL) -> id {
    return obj(alloc_instance<NSStringObj>(reinterpret_cast<Class>(self)));
  }, true);
  def<id, const char*>(str, "stringWithUTF8String:", [](id, SEL, const char* s) -> id {
    return s ? make_string(s) : nullptr;
  }, true);
  def<const char*>(str, "UTF8String", [](id self, SEL) -> const char* { return as<NSStringObj>(self)->utf8.c_str(); });
  def<NSUInteger>(str, "length", [](id self, SEL) -> NSUInteger { return as<NSStringObj>(self)->utf8.size(); });
  def<BOOL, id>(str, "isEqualToString:", [](id self, SEL, id other) -> BOOL {
    return other && std::strcmp(string_utf8(self), string_utf8(other)) == 0;
  });
  def<BOOL, id>(str, "isEqual:", [](id self, SEL, id other) -> BOOL {
    return other && std::strcmp(string_utf8(self), string_utf8(other)) == 0;
  });
  def<id>(str, "description", [](id self, SEL) -> id { return self; });

  Class err = define<NSErrorObj>("NSError", ns, [](Object* o) {
    auto* e = static_cast<NSErrorObj*>(o);
    release(e->domain);
    release(e->message);
  });
  def<id>(err, "domain", [](id self, SEL) -> id { return as<NSErrorObj>(self)->domain; });
  def<NSInteger>(err, "code", [](id self, SEL) -> NSInteger { return as<NSErrorObj>(self)->code; });
  def<id>(err, "localizedDescription", [](id self, SEL) -> id { return as<NSErrorObj>(self)->message; });
  def<id>(err, "description", [](id self, SEL) -> id {
    auto* e = as<NSErrorObj>(self);
    return make_string(std::string("Error Domain=") + string_utf8(e->domain) + " Code=" + std::to_string(e->code) +
                       " \"" + string_utf8(e->message) + "\"");
  });

  Class array = define<NSArrayObj>("NSArray", ns, [](Object* o) {
    for (id item : static_cast<NSArrayObj*>(o)->items) release(item);
  });
  def<id, const id*, NSUInteger>(array, "arrayWithObjects:count:", [](id, SEL, const id* objects, NSUInteger count) -> id {
    auto* a = alloc_instance<NSArrayObj>(class_named("NSArray"));
    for (NSUInteger i = 0; i < count; ++i) a->items.push_back(retain(objects[i]));
    return autorelease(obj(a));
  }, true);

  Class url = define<NSURLObj>("NSURL", ns);
  def<id, id>(url, "fileURLWithPath:", [](id, SEL, id path) -> id {
    auto* u = alloc_instance<NSURLObj>(class_named("NSURL"));
    u->path = string_utf8(path);
    return autorelease(obj(u));
  }, true);

  // Foundation returns one shared instance; an autoreleased one per call is the same to a caller (it
  // owns neither) and keeps the leak report free of a process-lifetime object.
  Class info = define<Object>("NSProcessInfo", ns);
  def<id>(info, "processInfo", [](id, SEL) -> id {
    return autorelease(obj(alloc_instance<Object>(class_named("NSProcessInfo"))));
  }, true);
  // Foundation's wording ("Version 14.2 (Build 23C64)"); MM_SIM_OS_VERSION stands in for an OS update.
  def<id>(info, "operatingSystemVersionString", [](id, SEL) -> id {
    const char* v = std::getenv("MM_SIM_OS_VERSION");
    utsname u{};
    uname(&u);
    return make_string(std::string("Version ") + (v && *v ? v : "metal-sim") + " (Linux " + u.release + ")");
  });
}

}  // namespace mm::sim
