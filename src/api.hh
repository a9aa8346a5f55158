// What every extern "C" wrapper file (api*.cc) shares: handle casts, the checks made at the
// boundary, and the guard that turns C++ exceptions into statuses.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <new>

#include "core.hh"

namespace coio::api {

using namespace coio::detail;

inline Loop *L(coio_loop *l) {
    return reinterpret_cast<Loop *>(l);
}
inline const Loop *L(const coio_loop *l) {
    return reinterpret_cast<const Loop *>(l);
}
inline Future *F(coio_future *f) {
    return reinterpret_cast<Future *>(f);
}
inline const Future *F(const coio_future *f) {
    return reinterpret_cast<const Future *>(f);
}
inline Handle *H(coio_handle *h) {
    return reinterpret_cast<Handle *>(h);
}
inline const Handle *H(const coio_handle *h) {
    return reinterpret_cast<const Handle *>(h);
}

// Runs fn, mapping escaping C++ exceptions to statuses.
template <class Fn> inline int guarded(Fn fn) noexcept {
    try {
        return fn();
    } catch (const std::bad_alloc &) {
        return COIO_ENOMEM;
    } catch (...) {
        return COIO_EFAILED;
    }
}

// The checks every loop-thread entry point makes on an open loop.
inline int check_loop(const Loop *loop) {
    if (!loop) return COIO_EINVAL;
    if (loop->closed) return COIO_ECLOSED;
    if (loop_on_wrong_thread(loop)) return COIO_ETHREAD;
    return COIO_OK;
}

inline int check_future(const Future *f) {
    return f ? check_loop(f->loop) : COIO_EINVAL;
}

inline bool is_finite(double x) {
    return std::isfinite(x);
}

// Size-first structs (ABI rule): an older caller passes a smaller struct.  Copies the fields
// the caller knows over *out, which holds the current defaults; false for a size below `min`
// (the fields every version has) or larger than this library knows.
template <class T> inline bool widen(const T *in, std::size_t min, T *out) {
    if (in->size < min || in->size > sizeof(T)) return false;
    std::memcpy(out, in, in->size);
    out->size = sizeof(T);
    return true;
}

// Checks task options and widens them into *o (the defaults when opt is NULL).
inline int check_task_options(const coio_task_options *opt, coio_task_options *o) {
    *o = coio_task_options COIO_TASK_OPTIONS_INIT;
    if (!opt) return COIO_OK;
    if (!widen(opt, offsetof(coio_task_options, name), o)) return COIO_EINVAL;
    if (o->flags & ~(COIO_TASK_EAGER | COIO_TASK_NO_GUARD_PAGE)) return COIO_EINVAL;
    if (!coroutine_stack_size_valid(o->stack_size)) return COIO_EINVAL;
    return COIO_OK;
}

} // namespace coio::api

using namespace coio::api;
