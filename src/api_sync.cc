// The extern "C" boundary of the synchronisation primitives (asyncio.Event, Lock, Semaphore,
// BoundedSemaphore, Condition, Barrier): argument and state checks, then sync.cc.
#include "api.hh"
#include "future.hh"
#include "loop.hh"
#include "sync.hh"

using namespace coio::detail;
using namespace coio::api;

namespace {

// A primitive's handle: not NULL, its loop open and (debug mode) driven by this thread.
int check_state(const SyncState *s) {
    return s ? check_loop(s->loop) : COIO_EINVAL;
}

// The checks of a coio_X_new: loop and out.
int check_new(const Loop *loop, const void *out) {
    if (int rc = check_loop(loop)) return rc;
    return out ? COIO_OK : COIO_EINVAL;
}

// Runs a wait that returns its future, into *out.
template <class Fn> int wait_into(const SyncState *s, coio_future **out, Fn fn) {
    if (int rc = check_state(s)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        *out = to_c(fn());
        return COIO_OK;
    });
}

// coio_X_free: NULL is a no-op; nothing escapes (the internals do not allocate there).
template <class T, class Fn> void free_state(T *s, Fn fn) {
    if (!s) return;
    try {
        fn(s);
    } catch (...) {
    }
}

} // namespace

extern "C" {

// ---- Event -------------------------------------------------------------------------------

int coio_event_new(coio_loop *l, coio_event **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    return guarded([&] {
        *out = to_c(event_new(loop));
        return COIO_OK;
    });
}

void coio_event_free(coio_event *e) {
    free_state(Ev(e), event_free);
}

int coio_event_set(coio_event *handle) {
    EventState *e = Ev(handle);
    if (int rc = check_state(e)) return rc;
    return guarded([&] {
        event_set(e);
        return COIO_OK;
    });
}

int coio_event_clear(coio_event *handle) {
    EventState *e = Ev(handle);
    if (int rc = check_state(e)) return rc;
    e->set = false;
    return COIO_OK;
}

int coio_event_is_set(const coio_event *e) {
    return e && Ev(e)->set;
}

int coio_event_wait(coio_event *handle, coio_future **out) {
    EventState *e = Ev(handle);
    return wait_into(e, out, [&] { return event_wait(e); });
}

// ---- Lock --------------------------------------------------------------------------------

int coio_lock_new(coio_loop *l, coio_lock **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    return guarded([&] {
        *out = to_c(lock_new(loop));
        return COIO_OK;
    });
}

void coio_lock_free(coio_lock *l) {
    free_state(Lk(l), lock_free);
}

int coio_lock_acquire(coio_lock *handle, coio_future **out) {
    LockState *l = Lk(handle);
    return wait_into(l, out, [&] { return lock_acquire(l); });
}

int coio_lock_release(coio_lock *handle) {
    LockState *l = Lk(handle);
    if (int rc = check_state(l)) return rc;
    return guarded([&] { return lock_release(l); });
}

int coio_lock_locked(const coio_lock *l) {
    return l && Lk(l)->locked;
}

// ---- Semaphore ---------------------------------------------------------------------------

int coio_semaphore_new(coio_loop *l, unsigned value, unsigned flags, coio_semaphore **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    if (flags & ~COIO_SEMAPHORE_BOUNDED) return COIO_EINVAL;
    return guarded([&] {
        bool bounded = flags & COIO_SEMAPHORE_BOUNDED;
        *out = to_c(semaphore_new(loop, value, bounded));
        return COIO_OK;
    });
}

void coio_semaphore_free(coio_semaphore *s) {
    free_state(Sem(s), semaphore_free);
}

int coio_semaphore_acquire(coio_semaphore *handle, coio_future **out) {
    SemState *s = Sem(handle);
    return wait_into(s, out, [&] { return semaphore_acquire(s); });
}

int coio_semaphore_release(coio_semaphore *handle) {
    SemState *s = Sem(handle);
    if (int rc = check_state(s)) return rc;
    return guarded([&] { return semaphore_release(s); });
}

int coio_semaphore_locked(const coio_semaphore *s) {
    return s && semaphore_locked(Sem(s));
}

long coio_semaphore_value(const coio_semaphore *s) {
    return s ? Sem(s)->value : long(COIO_EINVAL);
}

// ---- Condition ---------------------------------------------------------------------------

int coio_condition_new(coio_loop *l, coio_lock *lock, coio_condition **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    LockState *shared = Lk(lock);
    if (shared && shared->loop != loop) return COIO_ELOOP;
    return guarded([&] {
        *out = to_c(condition_new(loop, shared));
        return COIO_OK;
    });
}

void coio_condition_free(coio_condition *c) {
    free_state(Cond(c), condition_free);
}

coio_lock *coio_condition_lock(coio_condition *c) {
    return c ? to_c(Cond(c)->lock) : nullptr;
}

int coio_condition_wait(coio_condition *handle, coio_future **out) {
    CondState *c = Cond(handle);
    if (int rc = check_state(c)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        Future *f = nullptr;
        int rc = condition_wait(c, &f);
        if (rc == COIO_OK) *out = to_c(f);
        return rc;
    });
}

int coio_condition_notify(coio_condition *handle, size_t n) {
    CondState *c = Cond(handle);
    if (int rc = check_state(c)) return rc;
    return guarded([&] { return condition_notify(c, n); });
}

int coio_condition_notify_all(coio_condition *handle) {
    CondState *c = Cond(handle);
    if (int rc = check_state(c)) return rc;
    return guarded([&] { return condition_notify(c, SIZE_MAX); });
}

// ---- Barrier -----------------------------------------------------------------------------

int coio_barrier_new(coio_loop *l, unsigned parties, coio_barrier **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    if (parties == 0) return COIO_EINVAL; // asyncio: ValueError('parties must be >= 1')
    return guarded([&] {
        *out = to_c(barrier_new(loop, parties));
        return COIO_OK;
    });
}

void coio_barrier_free(coio_barrier *b) {
    free_state(Bar(b), barrier_free);
}

int coio_barrier_wait(coio_barrier *handle, coio_future **out) {
    BarrierState *b = Bar(handle);
    return wait_into(b, out, [&] { return barrier_wait(b); });
}

int coio_barrier_reset(coio_barrier *handle) {
    BarrierState *b = Bar(handle);
    if (int rc = check_state(b)) return rc;
    return guarded([&] {
        barrier_reset(b);
        return COIO_OK;
    });
}

int coio_barrier_abort(coio_barrier *handle) {
    BarrierState *b = Bar(handle);
    if (int rc = check_state(b)) return rc;
    return guarded([&] {
        barrier_abort(b);
        return COIO_OK;
    });
}

long coio_barrier_parties(const coio_barrier *b) {
    return b ? long(Bar(b)->parties) : long(COIO_EINVAL);
}

long coio_barrier_n_waiting(const coio_barrier *b) {
    return b ? barrier_n_waiting(Bar(b)) : long(COIO_EINVAL);
}

int coio_barrier_broken(const coio_barrier *b) {
    return b && Bar(b)->phase == BarrierState::Broken;
}

} // extern "C"
