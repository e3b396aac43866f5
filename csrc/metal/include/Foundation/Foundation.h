// Linux stand-in for <Foundation/Foundation.h> (never on macOS, where the SDK's header is used): only
// what csrc/metal uses, declared as the macOS 14.2 SDK declares it (arm64: BOOL is bool), checked by
// scripts/check-metal-api.sh. Compiled as Apple-ABI Objective-C (-fobjc-runtime=macosx-13.0), so the
// calls clang emits are the ones it emits on a Mac; csrc/metal/sim implements them.
#pragma once
#include <objc/objc.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned long NSUInteger;
typedef long NSInteger;
typedef double CFTimeInterval;

#define NS_RETURNS_RETAINED __attribute__((ns_returns_retained))
#define NS_RETURNS_INNER_POINTER __attribute__((objc_returns_inner_pointer))
#define NS_ENUM(_type, _name) enum _name : _type _name; enum _name : _type
#define NS_OPTIONS(_type, _name) enum _name : _type _name; enum _name : _type
#define NS_ASSUME_NONNULL_BEGIN _Pragma("clang assume_nonnull begin")
#define NS_ASSUME_NONNULL_END _Pragma("clang assume_nonnull end")
#define API_AVAILABLE(...)
#ifdef __cplusplus
#define FOUNDATION_EXPORT extern "C"
#else
#define FOUNDATION_EXPORT extern
#endif

NS_ASSUME_NONNULL_BEGIN

@class NSString;

@protocol NSObject
- (BOOL)respondsToSelector:(SEL)aSelector;
- (BOOL)isEqual:(id)object;
@property (readonly) NSUInteger hash;
@property (readonly, copy) NSString* description;
@end

__attribute__((objc_root_class))
@interface NSObject <NSObject> {
  Class isa;
}
+ (instancetype)alloc;
+ (instancetype)new;
+ (Class)class;
- (instancetype)init;
@end

@interface NSString : NSObject
+ (nullable instancetype)stringWithUTF8String:(const char*)nullTerminatedCString;
@property (nullable, readonly) const char* UTF8String NS_RETURNS_INNER_POINTER;
@property (readonly) NSUInteger length;
- (BOOL)isEqualToString:(NSString*)aString;
@end

typedef NSString* NSErrorDomain;

// The cache of compiled pipelines (csrc/metal/metal_cache.mm): file URLs, the one-element array of
// binary archives a pipeline descriptor takes (@[...] literals), and the OS version in the cache key.
@interface NSArray<__covariant ObjectType> : NSObject
+ (instancetype)arrayWithObjects:(const ObjectType _Nonnull[_Nonnull])objects count:(NSUInteger)cnt;
@end

@interface NSURL : NSObject
+ (NSURL*)fileURLWithPath:(NSString*)path;
@end

@interface NSProcessInfo : NSObject
@property (class, readonly, strong) NSProcessInfo* processInfo;
@property (readonly, copy) NSString* operatingSystemVersionString;
@end

@interface NSError : NSObject
@property (readonly, copy) NSErrorDomain domain;
@property (readonly) NSInteger code;
@property (readonly, copy) NSString* localizedDescription;
@end

NS_ASSUME_NONNULL_END
