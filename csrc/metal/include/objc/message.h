/* Linux stand-in for Apple's <objc/message.h>: the dispatch entry points with Apple's non-variadic
 * prototypes, so every direct call must be cast to the exact function type (as on arm64 macOS, where
 * variadic arguments go on the stack and an uncast call would break). */
#ifndef MM_STANDIN_OBJC_MESSAGE_H
#define MM_STANDIN_OBJC_MESSAGE_H
#include <objc/objc.h>
#ifdef __cplusplus
extern "C" {
#endif
void objc_msgSend(void /* id self, SEL op, ... */);
#if defined(__x86_64__)
void objc_msgSend_stret(void /* void* result, id self, SEL op, ... */); /* x86-64 only, as on Apple */
#endif
#ifdef __cplusplus
}
#endif
#endif
