// runtime_test.cpp — the C API of the metal-sim Objective-C runtime, called directly as compiled code
// (and clang's ARC/blocks lowering) calls it: class introspection, the ARC entry points, blocks,
// reference counts, zombies and autorelease pools.
#include <objc/message.h>
#include <objc/runtime.h>

#include "harness.h"

extern "C" {
id objc_retain(id);
void objc_release(id);
id objc_autorelease(id);
id objc_retainAutoreleasedReturnValue(id);
id objc_claimAutoreleasedReturnValue(id);
id objc_unsafeClaimAutoreleasedReturnValue(id);
id objc_autoreleaseReturnValue(id);
id objc_retainAutorelease(id);
id objc_retainAutoreleaseReturnValue(id);
id objc_retainBlock(id);
void objc_storeStrong(id*, id);
id objc_alloc(Class);
id objc_alloc_init(Class);
id objc_opt_new(Class);
BOOL objc_opt_respondsToSelector(id, SEL);
Class objc_opt_class(id);
id objc_opt_self(id);
void* objc_autoreleasePoolPush(void);
void objc_autoreleasePoolPop(void*);
}

namespace {

unsigned long retain_count(id obj) {
  return reinterpret_cast<unsigned long (*)(id, SEL)>(objc_msgSend)(obj, sel_registerName("retainCount"));
}

}  // namespace

TEST(runtime_class_introspection) {
  Class options = objc_lookUpClass("MTLCompileOptions");
  Class root = objc_lookUpClass("NSObject");
  CHECK(options && root && reinterpret_cast<Class>(objc_getClass("MTLCompileOptions")) == options);
  CHECK(objc_lookUpClass("NoSuchClass") == nullptr);
  CHECK(std::strcmp(class_getName(options), "MTLCompileOptions") == 0 && class_getSuperclass(options) == root);
  CHECK(class_getSuperclass(root) == nullptr && std::strcmp(class_getName(nullptr), "nil") == 0);
  CHECK(class_respondsToSelector(options, sel_registerName("setFastMathEnabled:")));
  CHECK(!class_respondsToSelector(options, sel_registerName("commit")));
  CHECK(sel_registerName("commit") == sel_registerName("commit"));
  CHECK(std::strcmp(sel_getName(sel_registerName("commit")), "commit") == 0);
  id obj = objc_opt_new(options);
  CHECK(object_getClass(obj) == options && std::strcmp(object_getClassName(obj), "MTLCompileOptions") == 0);
  CHECK(objc_opt_class(obj) == options && objc_opt_class(reinterpret_cast<id>(options)) == options);
  CHECK(objc_opt_respondsToSelector(obj, sel_registerName("fastMathEnabled")) && objc_opt_self(obj) == obj);
  CHECK(objc_opt_class(nullptr) == nullptr && object_getClass(nullptr) == nullptr);
  objc_release(obj);
}

TEST(runtime_arc_entry_points_balance) {
  long before = mm_sim_live_objects(0);
  Class options = objc_lookUpClass("MTLCompileOptions");
  id obj = objc_alloc_init(options);
  CHECK(retain_count(obj) == 1);
  CHECK(objc_retain(obj) == obj && retain_count(obj) == 2);
  objc_release(obj);
  id slot = nullptr;
  objc_storeStrong(&slot, obj);
  CHECK(slot == obj && retain_count(obj) == 2);
  objc_storeStrong(&slot, nullptr);
  CHECK(slot == nullptr && retain_count(obj) == 1);
  void* pool = objc_autoreleasePoolPush();
  objc_retainAutorelease(obj);              // +1 now, -1 at the pop
  objc_retainAutoreleaseReturnValue(obj);   // same
  objc_autoreleaseReturnValue(objc_retainAutoreleasedReturnValue(obj));
  objc_release(objc_claimAutoreleasedReturnValue(obj));
  CHECK(objc_unsafeClaimAutoreleasedReturnValue(obj) == obj && retain_count(obj) == 4);
  objc_autoreleasePoolPop(pool);
  CHECK(retain_count(obj) == 1);
  objc_release(obj);
  id plain = objc_alloc(objc_lookUpClass("NSObject"));  // a bare NSObject
  CHECK(std::strcmp(object_getClassName(plain), "NSObject") == 0);
  objc_release(plain);
  CHECK(objc_retain(nullptr) == nullptr && objc_autorelease(nullptr) == nullptr && objc_retainBlock(nullptr) == nullptr);
  objc_release(nullptr);
  CHECK(mm_sim_live_objects(0) == before);
}

TEST(runtime_blocks_are_copied_and_released) {
  int calls = 0;
  int* counter = &calls;
  void (^stack)(void) = ^{ ++*counter; };
  id heap = objc_retainBlock(reinterpret_cast<id>(stack));  // _Block_copy: a malloc block
  CHECK(heap != nullptr);
  reinterpret_cast<void (^)(void)>(heap)();
  id again = objc_retain(heap);  // blocks are retained by copying, too
  objc_release(again);
  CHECK(objc_autorelease(heap) == heap);  // blocks never go into a pool
  objc_release(heap);
  CHECK(calls == 1);
}

TEST(runtime_class_objects_ignore_reference_counting) {
  id cls = reinterpret_cast<id>(objc_lookUpClass("MTLCompileOptions"));
  CHECK(objc_retain(cls) == cls);
  objc_release(cls);
  CHECK(objc_autorelease(cls) == cls);
  CHECK(harness::take_violations().empty());
}

TEST(runtime_zombies_report_retain_and_release) {
  id obj = objc_opt_new(objc_lookUpClass("MTLFunctionConstantValues"));
  objc_release(obj);  // now a zombie
  objc_retain(obj);
  CHECK_VIOLATION("*** -[MTLFunctionConstantValues retain]: message sent to deallocated instance");
  objc_release(obj);
  CHECK_VIOLATION("*** -[MTLFunctionConstantValues release]: message sent to deallocated instance");
  CHECK(retain_count(obj) == 0);
  CHECK_VIOLATION("*** -[MTLFunctionConstantValues retainCount]: message sent to deallocated instance");
}

TEST(runtime_zombie_quarantine_is_bounded) {
  // More releases than the quarantine holds (65536): the oldest zombies are really freed (ASan checks
  // that path), and the live count is unchanged.
  long before = mm_sim_live_objects(0);
  Class cls = objc_lookUpClass("MTLFunctionConstantValues");
  for (int i = 0; i < 70000; ++i) objc_release(objc_opt_new(cls));
  CHECK(mm_sim_live_objects(0) == before);
}
