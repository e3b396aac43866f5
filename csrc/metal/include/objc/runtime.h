/* Linux stand-in for Apple's <objc/runtime.h>: the part of the runtime C API the simulated frameworks
 * use. Class pairs are built at run time by csrc/metal/sim; compiled code defines no classes. */
#ifndef MM_STANDIN_OBJC_RUNTIME_H
#define MM_STANDIN_OBJC_RUNTIME_H
#include <objc/objc.h>
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
Class object_getClass(id obj);
id objc_getClass(const char* name);
Class objc_lookUpClass(const char* name);
const char* class_getName(Class cls);
Class class_getSuperclass(Class cls);
BOOL class_respondsToSelector(Class cls, SEL sel);
Class objc_allocateClassPair(Class superclass, const char* name, size_t extraBytes);
void objc_registerClassPair(Class cls);
BOOL class_addMethod(Class cls, SEL name, IMP imp, const char* types);
#ifdef __cplusplus
}
#endif
#endif
