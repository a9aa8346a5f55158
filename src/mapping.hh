// Memory coio maps itself (coroutine stacks, the timer heap): the page size, and what
// AddressSanitizer and LeakSanitizer must be told about it, since their allocator does not
// see it (in other builds those hooks compile to nothing).
#pragma once

#include <unistd.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define COIO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COIO_ASAN 1
#endif
#endif
#ifdef COIO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

namespace coio::detail {

inline std::size_t page_size() {
    static const std::size_t ps = std::size_t(sysconf(_SC_PAGESIZE));
    return ps;
}

// ASan's shadow outlives munmap: the poison a coroutine's frames left on a stack would
// greet whatever is mapped at that address next.  Called on a mapping coio made, before it
// goes and after a new one arrives (the shadow may be stale from someone else's munmap).
inline void mapping_unpoison(void *p, std::size_t n) {
#ifdef COIO_ASAN
    __asan_unpoison_memory_region(p, n);
#else
    (void)p, (void)n;
#endif
}

// LeakSanitizer looks for pointers in malloc's blocks, stacks and globals, not in coio's own
// mappings: one that holds pointers to heap objects is a root region while it exists.
inline void leak_roots_add(const void *p, std::size_t n) {
#ifdef COIO_ASAN
    __lsan_register_root_region(p, n);
#else
    (void)p, (void)n;
#endif
}
inline void leak_roots_remove(const void *p, std::size_t n) {
#ifdef COIO_ASAN
    __lsan_unregister_root_region(p, n);
#else
    (void)p, (void)n;
#endif
}

} // namespace coio::detail
