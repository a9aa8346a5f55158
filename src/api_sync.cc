// The extern "C" boundary of the synchronisation primitives (asyncio.Event, Lock, Semaphore,
// BoundedSemaphore, Condition, Barrier): argument and state checks, then sync.cc.
#include "api.hh"
#include "sync.hh"

namespace {

EventState *E(coio_event *e) {
    return reinterpret_cast<EventState *>(e);
}
const EventState *E(const coio_event *e) {
    return reinterpret_cast<const EventState *>(e);
}
LockState *Lk(coio_lock *l) {
    return reinterpret_cast<LockState *>(l);
}
const LockState *Lk(const coio_lock *l) {
    return reinterpret_cast<const LockState *>(l);
}
SemState *S(coio_semaphore *s) {
    return reinterpret_cast<SemState *>(s);
}
const SemState *S(const coio_semaphore *s) {
    return reinterpret_cast<const SemState *>(s);
}
CondState *C(coio_condition *c) {
    return reinterpret_cast<CondState *>(c);
}
BarrierState *B(coio_barrier *b) {
    return reinterpret_cast<BarrierState *>(b);
}
const BarrierState *B(const coio_barrier *b) {
    return reinterpret_cast<const BarrierState *>(b);
}

coio_future *out_future(Future *f) {
    return reinterpret_cast<coio_future *>(f);
}

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
        *out = out_future(fn());
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
        *out = reinterpret_cast<coio_event *>(event_new(loop));
        return COIO_OK;
    });
}

void coio_event_free(coio_event *e) {
    free_state(E(e), event_free);
}

int coio_event_set(coio_event *handle) {
    EventState *e = E(handle);
    if (int rc = check_state(e)) return rc;
    return guarded([&] {
        event_set(e);
        return COIO_OK;
    });
}

int coio_event_clear(coio_event *handle) {
    EventState *e = E(handle);
    if (int rc = check_state(e)) return rc;
    e->set = false;
    return COIO_OK;
}

int coio_event_is_set(const coio_event *e) {
    return e && E(e)->set;
}

int coio_event_wait(coio_event *handle, coio_future **out) {
    EventState *e = E(handle);
    return wait_into(e, out, [&] { return event_wait(e); });
}

// ---- Lock --------------------------------------------------------------------------------

int coio_lock_new(coio_loop *l, coio_lock **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    return guarded([&] {
        *out = reinterpret_cast<coio_lock *>(lock_new(loop));
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
        *out = reinterpret_cast<coio_semaphore *>(semaphore_new(loop, value, bounded));
        return COIO_OK;
    });
}

void coio_semaphore_free(coio_semaphore *s) {
    free_state(S(s), semaphore_free);
}

int coio_semaphore_acquire(coio_semaphore *handle, coio_future **out) {
    SemState *s = S(handle);
    return wait_into(s, out, [&] { return semaphore_acquire(s); });
}

int coio_semaphore_release(coio_semaphore *handle) {
    SemState *s = S(handle);
    if (int rc = check_state(s)) return rc;
    return guarded([&] { return semaphore_release(s); });
}

int coio_semaphore_locked(const coio_semaphore *s) {
    return s && semaphore_locked(S(s));
}

long coio_semaphore_value(const coio_semaphore *s) {
    return s ? S(s)->value : long(COIO_EINVAL);
}

// ---- Condition ---------------------------------------------------------------------------

int coio_condition_new(coio_loop *l, coio_lock *lock, coio_condition **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    LockState *shared = Lk(lock);
    if (shared && shared->loop != loop) return COIO_ELOOP;
    return guarded([&] {
        *out = reinterpret_cast<coio_condition *>(condition_new(loop, shared));
        return COIO_OK;
    });
}

void coio_condition_free(coio_condition *c) {
    free_state(C(c), condition_free);
}

coio_lock *coio_condition_lock(coio_condition *c) {
    return c ? reinterpret_cast<coio_lock *>(C(c)->lock) : nullptr;
}

int coio_condition_wait(coio_condition *handle, coio_future **out) {
    CondState *c = C(handle);
    if (int rc = check_state(c)) return rc;
    if (!out) return COIO_EINVAL;
    return guarded([&] {
        Future *f = nullptr;
        int rc = condition_wait(c, &f);
        if (rc == COIO_OK) *out = out_future(f);
        return rc;
    });
}

int coio_condition_notify(coio_condition *handle, size_t n) {
    CondState *c = C(handle);
    if (int rc = check_state(c)) return rc;
    return guarded([&] { return condition_notify(c, n); });
}

int coio_condition_notify_all(coio_condition *handle) {
    CondState *c = C(handle);
    if (int rc = check_state(c)) return rc;
    return guarded([&] { return condition_notify(c, SIZE_MAX); });
}

// ---- Barrier -----------------------------------------------------------------------------

int coio_barrier_new(coio_loop *l, unsigned parties, coio_barrier **out) {
    Loop *loop = L(l);
    if (int rc = check_new(loop, out)) return rc;
    if (parties == 0) return COIO_EINVAL; // asyncio: ValueError('parties must be >= 1')
    return guarded([&] {
        *out = reinterpret_cast<coio_barrier *>(barrier_new(loop, parties));
        return COIO_OK;
    });
}

void coio_barrier_free(coio_barrier *b) {
    free_state(B(b), barrier_free);
}

int coio_barrier_wait(coio_barrier *handle, coio_future **out) {
    BarrierState *b = B(handle);
    return wait_into(b, out, [&] { return barrier_wait(b); });
}

int coio_barrier_reset(coio_barrier *handle) {
    BarrierState *b = B(handle);
    if (int rc = check_state(b)) return rc;
    return guarded([&] {
        barrier_reset(b);
        return COIO_OK;
    });
}

int coio_barrier_abort(coio_barrier *handle) {
    BarrierState *b = B(handle);
    if (int rc = check_state(b)) return rc;
    return guarded([&] {
        barrier_abort(b);
        return COIO_OK;
    });
}

long coio_barrier_parties(const coio_barrier *b) {
    return b ? long(B(b)->parties) : long(COIO_EINVAL);
}

long coio_barrier_n_waiting(const coio_barrier *b) {
    return b ? barrier_n_waiting(B(b)) : long(COIO_EINVAL);
}

int coio_barrier_broken(const coio_barrier *b) {
    return b && B(b)->phase == BarrierState::Broken;
}

} // extern "C"
