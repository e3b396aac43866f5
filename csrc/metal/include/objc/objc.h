/* Linux stand-in for Apple's <objc/objc.h> (used only with -Icsrc/metal/include, never on macOS):
 * the same names and types as the arm64 SDK header with OBJC_OLD_DISPATCH_PROTOTYPES=0, where BOOL is
 * bool. The simulated runtime (csrc/metal/sim/runtime) implements the functions. */
#ifndef MM_STANDIN_OBJC_OBJC_H
#define MM_STANDIN_OBJC_OBJC_H
#include <stdbool.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct objc_class* Class;
struct objc_object {
  Class isa;
};
typedef struct objc_object* id;
typedef struct objc_selector* SEL;
typedef void (*IMP)(void /* id, SEL, ... */);
typedef bool BOOL; /* arm64 macOS: OBJC_BOOL_IS_BOOL */
#define YES true
#define NO false
#ifndef nil
#ifdef __cplusplus
#define nil nullptr
#define Nil nullptr
#else
#define nil ((void*)0)
#define Nil ((void*)0)
#endif
#endif
const char* sel_getName(SEL sel);
SEL sel_registerName(const char* str);
const char* object_getClassName(id obj);
#ifdef __cplusplus
}
#endif
#endif
