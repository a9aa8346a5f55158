// What every extern "C" wrapper file (api*.cc) shares: handle casts, the checks made at the
// boundary, and the guard that turns C++ exceptions into statuses.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>
#include <new>

#include "future.hh"
#include "handle.hh"
#include "loop.hh"
#include "task.hh"

namespace coio::detail {
struct Queue;
struct EventState;
struct LockState;
struct SemState;
struct CondState;
struct BarrierState;
struct Remote;
struct Completion;
struct Timeout;
struct TaskGroup;
struct AsCompleted;
} // namespace coio::detail

namespace coio::api {

namespace d = coio::detail;

// The handle casts, one name per handle type: Name(coio_x *) gives the internal object,
// to_c(internal *) the handle (and to_c(Task *) a coio_future *, through Future).
#define COIO_API_CAST(Name, CType, Type)                                                           \
    inline d::Type *Name(CType *p) {                                                               \
        return reinterpret_cast<d::Type *>(p);                                                     \
    }                                                                                              \
    inline const d::Type *Name(const CType *p) {                                                   \
        return reinterpret_cast<const d::Type *>(p);                                               \
    }                                                                                              \
    inline CType *to_c(d::Type *p) {                                                               \
        return reinterpret_cast<CType *>(p);                                                       \
    }
COIO_API_CAST(L, coio_loop, Loop)
COIO_API_CAST(F, coio_future, Future)
COIO_API_CAST(H, coio_handle, Handle)
COIO_API_CAST(Q, coio_queue, Queue)
COIO_API_CAST(Ev, coio_event, EventState)
COIO_API_CAST(Lk, coio_lock, LockState)
COIO_API_CAST(Sem, coio_semaphore, SemState)
COIO_API_CAST(Cond, coio_condition, CondState)
COIO_API_CAST(Bar, coio_barrier, BarrierState)
COIO_API_CAST(Rem, coio_remote, Remote)
COIO_API_CAST(Cpl, coio_completion, Completion)
COIO_API_CAST(Tmo, coio_timeout, Timeout)
COIO_API_CAST(Grp, coio_task_group, TaskGroup)
COIO_API_CAST(Iter, coio_as_completed_iter, AsCompleted)
#undef COIO_API_CAST

// An array of future handles as the internal futures.
inline d::Future *const *FS(coio_future *const *fs) {
    return reinterpret_cast<d::Future *const *>(fs);
}

// Drops a caller's reference to an object of `loop` (unref()).  On a closed loop it then ends
// what an operation left queued there (loop_discard_leftovers), holding the loop meanwhile:
// the object may have held its last reference.
template <class Unref> inline void release_in(d::Loop *loop, Unref unref) {
    if (!loop->closed) [[likely]] {
        unref();
        return;
    }
    d::loop_ref(loop);
    unref();
    d::loop_discard_leftovers(loop);
    d::loop_unref(loop);
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
inline int check_loop(const d::Loop *loop) {
    if (!loop) return COIO_EINVAL;
    if (loop->closed) return COIO_ECLOSED;
    if (d::loop_on_wrong_thread(loop)) return COIO_ETHREAD;
    return COIO_OK;
}

inline int check_future(const d::Future *f) {
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
    if (!d::coroutine_stack_size_valid(o->stack_size)) return COIO_EINVAL;
    return COIO_OK;
}

} // namespace coio::api
