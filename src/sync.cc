// Synchronisation primitives: asyncio.Event, Lock, Semaphore / BoundedSemaphore, Condition and
// Barrier of CPython 3.13 (Lib/asyncio/locks.py).
//
// Every wait is a future, a SyncWaiter (a custom future holding a reference to the state of
// its primitive).  Completing it with a result *is* the grant: the lock is held, the permit
// taken, the condition's lock re-acquired, the barrier passed.  asyncio wakes a waiter with a
// bare set_result and lets it take what it waited for when its task runs; here the grant is
// made when the waiter is woken, and FutureOps::refused gives it back when the waiter's task
// is cancelled before it saw the grant (asyncio: the woken task gets CancelledError and wakes
// the next one), so nothing is lost.  Waiters cancelled before they were woken leave their
// line at once (asyncio skips them: they are done, and leave _waiters when their task runs).
//
// Two primitives also have to mirror what asyncio's woken task does *when it runs*:
//  - Semaphore: a woken waiter counts in locked() until then (it stays in _waiters), and then
//    runs acquire()'s `finally` (wake more waiters while the value allows).  A done callback
//    registered when the waiter is created runs right before the awaiting task's wake-up:
//    that is when "the task runs".
//  - Condition and Barrier: a notified wait looks at the world again only when its task runs
//    (re-acquire the lock; re-check the barrier's state).  Notifying schedules a "resume"
//    entry in the ready queue, exactly where asyncio's wake-up of that task would be, and the
//    resume does what the task would do; when the wait ends there, the awaiting task goes on
//    in that same slot (resume_run).  Who gets the lock, and which index or error a barrier
//    wait gets, is then decided as in asyncio, pass for pass.
// Cancelling a Condition or Barrier wait is also what asyncio's task does on CancelledError:
// the wait does not end at once; it ends (cancelled) when its resume has re-acquired the lock
// (Condition) or left the barrier (Barrier).
#include <climits>
#include <cstdint>

#include "sync.hh"
#include "callback_names.hh"
#include "future.hh"
#include "loop.hh"

namespace coio::detail {

enum class SyncStage : std::uint8_t {
    Waiting,   // in its primitive's line (a Condition wait: not notified yet)
    Resuming,  // Condition / Barrier: a resume entry is scheduled
    Acquiring, // Condition: in the lock's line, re-acquiring it
    Done,      // completed by the primitive
};

struct SyncWaiter : CustomFuture {
    // (these four sit in CustomFuture's tail padding)
    SyncStage stage;
    bool linked;           // in a WaitList (which one: line_of)
    bool cancel_requested; // Condition / Barrier: end cancelled (f->error holds the error)
    bool flag;             // Semaphore: woken (counted in woken); Barrier: entered (has index)
    SyncWaiter *prev, *next;
    SyncState *owner;     // a reference
    std::uintptr_t index; // Barrier: asyncio's `index = self._count`
};

// Waiters come from the loop's pool of small custom futures: no malloc per wait.
static_assert(sizeof(SyncWaiter) <= kSmallCustomFuture, "keep SyncWaiter pooled");

namespace {

constexpr const char *kBarrierAborted = "Barrier aborted";
constexpr const char *kBarrierBroken = "Abort or reset of barrier";

SyncWaiter *as_waiter(Future *f) {
    return static_cast<SyncWaiter *>(static_cast<CustomFuture *>(f));
}

// ---- lines -------------------------------------------------------------------------------

void list_push(WaitList &l, SyncWaiter *w) {
    w->prev = l.tail;
    w->next = nullptr;
    if (l.tail)
        l.tail->next = w;
    else
        l.head = w;
    l.tail = w;
    l.n++;
    w->linked = true;
}

void list_remove(WaitList &l, SyncWaiter *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        l.head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l.tail = w->prev;
    w->prev = w->next = nullptr;
    l.n--;
    w->linked = false;
}

// The line a linked waiter is in: its primitive's, or for a Condition wait re-acquiring the
// lock, the lock's.
WaitList &line_of(SyncWaiter *w) {
    SyncState *s = w->owner;
    switch (s->kind) {
    case SyncState::Event:
        return static_cast<EventState *>(s)->waiters;
    case SyncState::Lock:
        return static_cast<LockState *>(s)->waiters;
    case SyncState::Semaphore:
        return static_cast<SemState *>(s)->waiters;
    case SyncState::Condition: {
        auto *c = static_cast<CondState *>(s);
        return w->stage == SyncStage::Acquiring ? c->lock->waiters : c->waiters;
    }
    default:
        return static_cast<BarrierState *>(s)->waiters;
    }
}

void unlink(SyncWaiter *w) {
    if (w->linked) list_remove(line_of(w), w);
}

// The first pending waiter of a line (it stays in the line).  A waiter can only be done and
// still linked if someone completed the future by hand: it just leaves.
SyncWaiter *first_pending(WaitList &l) {
    while (SyncWaiter *w = l.head) {
        if (w->state == Future::Pending) return w;
        list_remove(l, w);
    }
    return nullptr;
}

// ---- states ------------------------------------------------------------------------------

template <class T> T *state_new(Loop *loop, SyncState::Kind kind) {
    T *s = new T{};
    s->loop = loop;
    s->refs = 1;
    s->kind = kind;
    loop_ref(loop);
    return s;
}

void state_ref(SyncState *s) {
    s->refs++;
}

void state_unref(SyncState *s) {
    if (--s->refs) return;
    Loop *loop = s->loop;
    switch (s->kind) {
    case SyncState::Event:
        delete static_cast<EventState *>(s);
        break;
    case SyncState::Lock:
        delete static_cast<LockState *>(s);
        break;
    case SyncState::Semaphore:
        delete static_cast<SemState *>(s);
        break;
    case SyncState::Condition: {
        auto *c = static_cast<CondState *>(s);
        LockState *l = c->lock;
        delete c;
        state_unref(l);
        break;
    }
    case SyncState::Barrier:
        delete static_cast<BarrierState *>(s);
        break;
    }
    loop_unref(loop);
}

void report_oom(Loop *loop, const char *what) {
    coio_exception_context ctx = COIO_EXCEPTION_CONTEXT_INIT;
    ctx.message = what;
    ctx.code = COIO_ENOMEM;
    loop_report(loop, &ctx);
}

// Makes room in the ready queue for n completions or resumes, so that an operation cannot
// fail half-way (each pushes at most one entry).
void reserve(Loop *loop, std::size_t n) {
    loop->ready.reserve(n);
}

// ---- waiters -----------------------------------------------------------------------------

SyncWaiter *waiter_new(SyncState *s, const FutureOps *ops) {
    SyncWaiter *w = custom_future_new<SyncWaiter>(s->loop, ops);
    w->owner = s;
    state_ref(s);
    return w;
}

// Completes w with a result (the grant).  Needs a reserved ready slot.
void grant(SyncWaiter *w, void *value) {
    w->stage = SyncStage::Done;
    future_set_result(w, value, nullptr);
}

// The last reference went: a waiter still in a line leaves it.
void waiter_finalize(Future *f) {
    SyncWaiter *w = as_waiter(f);
    SyncState *s = w->owner;
    // A barrier wait inside a filling barrier leaves it, as a cancelled one does (the next
    // wait must not trip the barrier with it as a party).  Only a wait still in the line can
    // be freed here: a released or cancelled one is held by its resume entry.
    if (s->kind == SyncState::Barrier && w->flag && w->linked &&
        static_cast<BarrierState *>(s)->phase == BarrierState::Filling)
        static_cast<BarrierState *>(s)->count--;
    unlink(w);
    if (s->kind == SyncState::Semaphore && w->flag) static_cast<SemState *>(s)->woken--;
    state_unref(s);
}

// coio_future_cancel on an Event, Lock or Semaphore wait (directly, or through the task
// awaiting it): it ends cancelled and leaves its line.
bool plain_cancel(Future *f, const char *msg) {
    if (!future_cancel(f, msg)) return false; // throws before any change
    SyncWaiter *w = as_waiter(f);
    unlink(w);
    w->stage = SyncStage::Done;
    return true;
}

// w leaves its line and is cancelled (coio_*_free); on a closed loop nothing completes any
// more: it only leaves, and stays pending until released.  The line's link is weak:
// cancelling runs user code (inline watchers: a wait_for lets its inner future go) that may
// release the last reference to w, or change the line; w is held, and the line read again.
void leave_cancelled(Loop *loop, WaitList &l, SyncWaiter *w) {
    list_remove(l, w);
    if (w->state != Future::Pending || loop->closed) return;
    FutureHold hold(w);
    try {
        future_cancel(w, nullptr);
        w->stage = SyncStage::Done;
    } catch (...) { // out of memory: it stays pending
    }
}

// Cancels every pending waiter of a line (coio_event_free, coio_semaphore_free).
void cancel_line(Loop *loop, WaitList &l) {
    while (SyncWaiter *w = l.head)
        leave_cancelled(loop, l, w);
}

void resume_run(void *arg);

void resume_drop(void *arg) {
    future_unref(static_cast<Future *>(arg));
}

// Condition / Barrier: w looks again on the next pass, where asyncio's wake-up of its task
// would run.  The entry holds a reference.  Needs a reserved ready slot.
void schedule_resume(SyncWaiter *w) {
    w->stage = SyncStage::Resuming;
    future_ref(w);
    ready_push_callback(w->loop, resume_run, w, resume_drop);
}

// Records a cancellation a Condition or Barrier wait delivers once it may end: the error it
// will complete with (the latest message wins: asyncio re-raises the most recent
// CancelledError).  Throws before any change.
void request_cancel(SyncWaiter *w, const char *msg) {
    FutureError *e = error_new(COIO_ECANCELLED, msg, nullptr);
    FutureError *old = w->error;
    w->error = e;
    w->cancel_requested = true;
    future_free_error(old);
}

// Completes w as cancelled with the error request_cancel stored.  Needs a reserved slot.
void end_cancelled(SyncWaiter *w) {
    w->stage = SyncStage::Done;
    future_complete(w, Future::Cancelled);
}

// Completes w as failed with a prepared error (made before the state changed, so that the
// completion cannot fail after it).  Needs a reserved slot.
void end_failed(SyncWaiter *w, FutureError *e) {
    FutureError *old = w->error;
    w->error = e;
    w->stage = SyncStage::Done;
    future_complete(w, Future::Failed);
    future_free_error(old);
}

// coio_future_cancel on a Condition or Barrier wait: asyncio's task gets CancelledError and
// still has to re-acquire the lock / leave the barrier before the wait ends.  A wait still in
// its line leaves it and resumes on the next pass (a Condition wait re-acquiring the lock goes
// to the back of the lock's line then: asyncio's acquire() is cancelled and retried); a wait
// already resuming just records it.  True: a cancellation was requested.
bool deferred_cancel(Future *f, const char *msg) {
    if (f->state != Future::Pending) return false;
    SyncWaiter *w = as_waiter(f);
    if (w->stage != SyncStage::Resuming) reserve(f->loop, 1);
    request_cancel(w, msg);
    if (w->stage != SyncStage::Resuming) {
        unlink(w);
        schedule_resume(w);
    }
    return true;
}

// ---- Event -------------------------------------------------------------------------------

// Nothing to give back when a woken Event waiter is cancelled: set() woke everyone anyway.
constexpr FutureOps kEventOps{plain_cancel, nullptr, waiter_finalize};

// ---- Lock --------------------------------------------------------------------------------

void cond_granted(SyncWaiter *w);

// The lock is released: it goes straight to the first pending waiter (it stays locked), else
// it is unlocked.  asyncio unlocks and lets the woken waiter lock it again when its task runs,
// so its locked() reads False for that one pass; a new acquire() queues behind the woken
// waiter all the same (`all(w.cancelled() for w in self._waiters)` is false), so handing over
// changes nobody's turn.  Needs a reserved ready slot.
void lock_pass_on(LockState *l) {
    SyncWaiter *w = first_pending(l->waiters);
    if (!w) {
        l->locked = false;
        return;
    }
    list_remove(l->waiters, w);
    if (w->owner == l)
        grant(w, nullptr);
    else
        cond_granted(w); // a Condition wait re-acquiring the lock
}

// The task of a waiter granted the lock is cancelled before it saw it: the lock goes on to
// the next waiter (asyncio: the cancelled acquire() wakes the first waiter, `if not
// self._locked: self._wake_up_first()`).
void lock_refused(Future *f) {
    auto *l = static_cast<LockState *>(as_waiter(f)->owner);
    if (first_pending(l->waiters)) {
        try {
            reserve(l->loop, 1);
        } catch (...) {
            // No room to wake the next waiter: unlocked, it goes on with the next release.
            l->locked = false;
            report_oom(l->loop, "out of memory passing a lock on");
            return;
        }
    }
    lock_pass_on(l);
}

constexpr FutureOps kLockOps{plain_cancel, lock_refused, waiter_finalize};

// ---- Semaphore ---------------------------------------------------------------------------

// asyncio's _wake_up_next: the first pending waiter takes a permit (the value drops now, as
// in 3.13) and counts as woken until its task runs.  Needs a reserved ready slot.
bool sem_wake_next(SemState *s) {
    SyncWaiter *w = first_pending(s->waiters);
    if (!w) return false;
    list_remove(s->waiters, w);
    s->value--;
    s->woken++;
    w->flag = true;
    grant(w, nullptr);
    return true;
}

// acquire()'s `finally`: "New waiters may have arrived but had to wait due to FIFO.  Wake up
// as many as are allowed."
void sem_wake_while_free(SemState *s) {
    std::size_t n = s->waiters.n;
    if (s->value > 0 && std::size_t(s->value) < n) n = std::size_t(s->value);
    reserve(s->loop, n);
    while (s->value > 0 && sem_wake_next(s)) {
    }
}

// Leaves the woken count (asyncio: the waiter leaves _waiters when its task runs).
void sem_unwoken(SyncWaiter *w) {
    if (!w->flag) return;
    w->flag = false;
    static_cast<SemState *>(w->owner)->woken--;
}

// The first done callback of a waiting acquire: runs right before the awaiting task resumes,
// whatever the outcome (asyncio's acquire() after `await fut`, up to its `finally`).
void sem_delivered(coio_future *, void *arg) {
    auto *w = static_cast<SyncWaiter *>(arg);
    sem_unwoken(w);
    sem_wake_while_free(static_cast<SemState *>(w->owner));
}

// The task of a waiter granted a permit is cancelled before it saw it: the permit goes back
// and on to the next waiter (asyncio: `if fut.done() and not fut.cancelled(): self._value
// += 1`, then the `finally` wakes whom it can).
void sem_refused(Future *f) {
    SyncWaiter *w = as_waiter(f);
    auto *s = static_cast<SemState *>(w->owner);
    sem_unwoken(w);
    s->value++;
    try {
        sem_wake_while_free(s);
    } catch (...) { // out of memory: the permit is back; the next release or wake-up goes on
        report_oom(s->loop, "out of memory passing a semaphore permit on");
    }
}

constexpr FutureOps kSemOps{plain_cancel, sem_refused, waiter_finalize};

// ---- Condition ---------------------------------------------------------------------------

// asyncio's _notify(n): the first n waits not yet notified are woken; each re-acquires the
// lock when it resumes on the next pass.
void cond_notify(CondState *c, std::size_t n) {
    reserve(c->loop, n < c->waiters.n ? n : c->waiters.n);
    for (; n > 0; n--) {
        SyncWaiter *w = first_pending(c->waiters);
        if (!w) break;
        list_remove(c->waiters, w);
        schedule_resume(w);
    }
}

// The lock is now held for w: the wait ends, notified or cancelled.  Needs a reserved slot.
void cond_granted(SyncWaiter *w) {
    if (w->cancel_requested)
        end_cancelled(w);
    else
        grant(w, nullptr);
}

// The wait resumes where asyncio's task would: re-acquire the lock (its fast path when the
// lock is free, else the back of the lock's line).
void cond_resume(SyncWaiter *w) {
    LockState *l = static_cast<CondState *>(w->owner)->lock;
    reserve(w->loop, 1);
    if (!l->locked) { // no pending waiter either (the lock is handed over while it has some)
        l->locked = true;
        cond_granted(w);
        return;
    }
    w->stage = SyncStage::Acquiring;
    list_push(l->waiters, w);
}

// The first done callback of a wait: runs right before the awaiting task resumes.  3.13's
// wait() ends every exception, once the lock is re-acquired, with `self._notify(1)`: "Any
// error raised out of here _may_ have occurred after this Task believed to have been
// successfully notified.  Make sure to notify another Task instead."
void cond_delivered(coio_future *, void *arg) {
    auto *w = static_cast<SyncWaiter *>(arg);
    if (w->state == Future::Cancelled && w->stage == SyncStage::Done)
        cond_notify(static_cast<CondState *>(w->owner), 1);
}

// The task of a wait that was notified and re-acquired the lock is cancelled before it saw
// it: asyncio's wait() gets CancelledError after the notification, re-acquires the lock and
// passes the notification on.  The lock stays held: the caller holds it after every wait.
void cond_refused(Future *f) {
    auto *c = static_cast<CondState *>(as_waiter(f)->owner);
    try {
        cond_notify(c, 1);
    } catch (...) {
        report_oom(c->loop, "out of memory passing a condition notification on");
    }
}

constexpr FutureOps kCondOps{deferred_cancel, cond_refused, waiter_finalize};

// ---- Barrier -----------------------------------------------------------------------------
//
// asyncio's Barrier is built on a Condition whose lock is never held across a suspension, so
// every step of it is atomic; what remains of the condition is its waiters line (waits
// blocked while the barrier drains or resets, and waits filling it, in one FIFO) and the
// resume of a notified wait on the next pass, where it looks at the state again.

// The room a barrier step needs: a resume for every waiter in the line, plus the step's own
// completion and the one waiter it may put back in the line.
void barrier_reserve(BarrierState *b) {
    reserve(b->loop, b->waiters.n + 2);
}

// The internal condition's _notify(n) / notify_all().
void barrier_notify(BarrierState *b, std::size_t n) {
    for (; n > 0; n--) {
        SyncWaiter *w = first_pending(b->waiters);
        if (!w) break;
        list_remove(b->waiters, w);
        schedule_resume(w);
    }
}

// asyncio's _exit(): the last task out ends the draining or resetting.
void barrier_exit(BarrierState *b) {
    if (b->count != 0) return;
    if (b->phase == BarrierState::Resetting || b->phase == BarrierState::Draining)
        b->phase = BarrierState::Filling;
    barrier_notify(b, SIZE_MAX);
}

// Back into the line: the condition's wait_for found its predicate still false.
void barrier_rewait(BarrierState *b, SyncWaiter *w) {
    w->stage = SyncStage::Waiting;
    list_push(b->waiters, w);
}

// wait() past _block: take the next index (asyncio's `index = self._count`: after a waiter
// was cancelled two waits can share an index, as in asyncio); the last party trips it.
void barrier_enter(BarrierState *b, SyncWaiter *w) {
    long index = b->count++;
    if (index + 1 == long(b->parties)) {
        b->phase = BarrierState::Draining; // _release()
        barrier_notify(b, SIZE_MAX);
        b->count--; // wait()'s finally
        barrier_exit(b);
        grant(w, reinterpret_cast<void *>(std::uintptr_t(index)));
        return;
    }
    w->flag = true;
    w->index = std::uintptr_t(index);
    barrier_rewait(b, w);
}

// _block's wait_for looks again.
void barrier_resume_blocked(BarrierState *b, SyncWaiter *w) {
    if (b->phase == BarrierState::Draining || b->phase == BarrierState::Resetting) {
        barrier_rewait(b, w);
    } else if (b->phase == BarrierState::Broken) {
        end_failed(w, error_new(COIO_EBROKEN, kBarrierAborted, nullptr));
    } else {
        barrier_enter(b, w);
    }
}

// _wait's wait_for looks again; once the barrier is no longer filling, wait()'s finally
// leaves it (the outcome is judged before: _exit may end a reset).
void barrier_resume_entered(BarrierState *b, SyncWaiter *w) {
    if (b->phase == BarrierState::Filling) {
        barrier_rewait(b, w);
        return;
    }
    FutureError *e = nullptr;
    if (b->phase == BarrierState::Broken || b->phase == BarrierState::Resetting)
        e = error_new(COIO_EBROKEN, kBarrierBroken, nullptr);
    b->count--;
    barrier_exit(b);
    if (e)
        end_failed(w, e);
    else
        grant(w, reinterpret_cast<void *>(w->index));
}

void barrier_resume(SyncWaiter *w) {
    auto *b = static_cast<BarrierState *>(w->owner);
    barrier_reserve(b);
    if (b->freed && !w->cancel_requested) request_cancel(w, nullptr);
    if (w->cancel_requested) {
        // CancelledError out of the condition's wait(): `self._notify(1)` (3.13), then
        // wait()'s finally if the wait had entered.  A cancelled waiter just leaves: the
        // barrier is not broken (asyncio).
        barrier_notify(b, 1);
        if (w->flag) {
            b->count--;
            barrier_exit(b);
        }
        end_cancelled(w);
    } else if (w->flag) {
        barrier_resume_entered(b, w);
    } else {
        barrier_resume_blocked(b, w);
    }
}

// Once a barrier wait completed, the barrier was passed (or not): nothing to give back.
constexpr FutureOps kBarrierOps{deferred_cancel, nullptr, waiter_finalize};

// A ready entry of schedule_resume: the slot where asyncio runs the woken task.  If the wait
// ends here, its done callbacks (the awaiting task's wake-up first) run right away in this
// slot, as asyncio's task goes on in the same step: run a pass later, the task would come
// after waits resumed by this one (a barrier's next round would see other indices).  Only
// sync.cc runs during the resume, so hiding the callbacks from the completion is safe.
void resume_run(void *arg) {
    auto *w = static_cast<SyncWaiter *>(arg);
    if (w->state != Future::Pending) return; // completed by hand meanwhile
    std::uint32_t n = w->ncallbacks;
    w->ncallbacks = 0; // a completion now schedules nothing
    try {
        if (w->owner->kind == SyncState::Condition)
            cond_resume(w);
        else
            barrier_resume(w);
    } catch (...) {
        w->ncallbacks = n;
        throw;
    }
    w->ncallbacks = n;
    if (w->state == Future::Pending || n == 0) return;
    future_ref(w); // future_run_callbacks drops it, as a ready entry's
    future_run_callbacks(w, 0, n);
}

// Cancels the waits of a Condition or Barrier line through deferred_cancel (coio_*_free).
void cancel_line_deferred(Loop *loop, WaitList &l) {
    while (SyncWaiter *w = l.head) {
        if (w->state != Future::Pending || loop->closed) {
            list_remove(l, w);
            continue;
        }
        try {
            deferred_cancel(w, nullptr);
        } catch (...) { // out of memory: it leaves, pending
            list_remove(l, w);
        }
    }
}

} // namespace

// ---- Event -------------------------------------------------------------------------------

EventState *event_new(Loop *loop) {
    return state_new<EventState>(loop, SyncState::Event);
}

void event_free(EventState *e) {
    e->freed = true;
    cancel_line(e->loop, e->waiters);
    state_unref(e);
}

// asyncio's set(): every waiter is woken, once.
void event_set(EventState *e) {
    if (e->set) return;
    reserve(e->loop, e->waiters.n);
    e->set = true;
    while (SyncWaiter *w = first_pending(e->waiters)) {
        list_remove(e->waiters, w);
        grant(w, nullptr);
    }
}

Future *event_wait(EventState *e) {
    if (e->set) return future_new_done(e->loop);
    SyncWaiter *w = waiter_new(e, &kEventOps);
    list_push(e->waiters, w);
    return w;
}

// ---- Lock --------------------------------------------------------------------------------

LockState *lock_new(Loop *loop) {
    LockState *l = state_new<LockState>(loop, SyncState::Lock);
    l->handle = true;
    return l;
}

// Pending acquires are cancelled.  Condition waits re-acquiring the lock stay: a condition
// keeps its lock alive and usable.  A condition's own lock is not the caller's to free.
void lock_free(LockState *l) {
    if (!l->handle) return;
    l->handle = false;
    l->freed = true;
    // From the head again after each: cancelling one runs user code that may change the line.
    for (SyncWaiter *w = l->waiters.head; w;) {
        if (w->owner != l) {
            w = w->next;
            continue;
        }
        leave_cancelled(l->loop, l->waiters, w);
        w = l->waiters.head;
    }
    state_unref(l);
}

// 3.13's acquire(): free and nobody waiting (no pending waiter exists while it is unlocked)
// → taken at once; else wait in line.  An immediate grant is a waiter too: a step-driven task
// cancelled before it looks at it gives the lock back (refused).
Future *lock_acquire(LockState *l) {
    reserve(l->loop, 1);
    SyncWaiter *w = waiter_new(l, &kLockOps);
    if (!l->locked) {
        grant(w, nullptr); // no callbacks yet: no ready entry
        l->locked = true;
        return w;
    }
    list_push(l->waiters, w);
    return w;
}

int lock_release(LockState *l) {
    if (!l->locked) return COIO_ESTATE; // asyncio: RuntimeError('Lock is not acquired.')
    reserve(l->loop, 1);
    lock_pass_on(l);
    return COIO_OK;
}

// ---- Semaphore ---------------------------------------------------------------------------

SemState *semaphore_new(Loop *loop, unsigned value, bool bounded) {
    SemState *s = state_new<SemState>(loop, SyncState::Semaphore);
    s->value = long(value);
    s->bound = bounded ? long(value) : -1;
    return s;
}

void semaphore_free(SemState *s) {
    s->freed = true;
    cancel_line(s->loop, s->waiters);
    state_unref(s);
}

// 3.13: "Returns True if semaphore cannot be acquired immediately": `self._value == 0 or
// any(not w.cancelled() for w in (self._waiters or ()))` — _waiters still holds the woken
// waiters whose task has not run yet, so a new acquire does not jump them.
bool semaphore_locked(const SemState *s) {
    return s->value == 0 || !s->waiters.empty() || s->woken > 0;
}

Future *semaphore_acquire(SemState *s) {
    reserve(s->loop, 1);
    SyncWaiter *w = waiter_new(s, &kSemOps);
    if (!semaphore_locked(s)) {
        grant(w, nullptr); // no callbacks yet: no ready entry
        s->value--;
        return w;
    }
    future_add_done_callback(w, sem_delivered, w, nullptr); // the first: inline, no allocation
    list_push(s->waiters, w);
    return w;
}

int semaphore_release(SemState *s) {
    // BoundedSemaphore: `if self._value >= self._bound_value: raise ValueError(...)` (woken
    // waiters already took their permit off the value).
    if (s->bound >= 0 && s->value >= s->bound) return COIO_ESTATE;
    if (s->value == LONG_MAX) return COIO_ESTATE;
    reserve(s->loop, 1);
    s->value++;
    sem_wake_next(s);
    return COIO_OK;
}

// ---- Condition ---------------------------------------------------------------------------

CondState *condition_new(Loop *loop, LockState *lock) {
    if (lock) {
        state_ref(lock); // shared: kept alive while the condition lives
    } else {
        lock = lock_new(loop); // its own: the reference is the condition's
        lock->handle = false;
    }
    CondState *c;
    try {
        c = state_new<CondState>(loop, SyncState::Condition);
    } catch (...) {
        state_unref(lock);
        throw;
    }
    c->lock = lock;
    return c;
}

// Waits not yet notified are cancelled: as every cancelled wait they end once they have
// re-acquired the lock.  Waits already notified go on re-acquiring it.
void condition_free(CondState *c) {
    c->freed = true;
    cancel_line_deferred(c->loop, c->waiters);
    state_unref(c);
}

// 3.13's wait(): the future is made, the lock released (handed to its first waiter), and the
// wait joins the line.
int condition_wait(CondState *c, Future **out) {
    LockState *l = c->lock;
    if (!l->locked) return COIO_ESTATE; // RuntimeError('cannot wait on un-acquired lock')
    reserve(c->loop, 1);
    SyncWaiter *w = waiter_new(c, &kCondOps);
    future_add_done_callback(w, cond_delivered, w, nullptr); // the first: inline, no allocation
    lock_pass_on(l);
    list_push(c->waiters, w);
    *out = w;
    return COIO_OK;
}

int condition_notify(CondState *c, std::size_t n) {
    if (!c->lock->locked) return COIO_ESTATE; // RuntimeError('cannot notify on un-acquired lock')
    cond_notify(c, n);
    return COIO_OK;
}

// ---- Barrier -----------------------------------------------------------------------------

BarrierState *barrier_new(Loop *loop, unsigned parties) {
    BarrierState *b = state_new<BarrierState>(loop, SyncState::Barrier);
    b->parties = parties;
    b->phase = BarrierState::Filling;
    return b;
}

// Pending waits are cancelled (they leave the barrier on the next pass, as cancelled waits
// do); waits already resuming end cancelled when they resume.
void barrier_free(BarrierState *b) {
    b->freed = true;
    cancel_line_deferred(b->loop, b->waiters);
    state_unref(b);
}

long barrier_n_waiting(const BarrierState *b) {
    return b->phase == BarrierState::Filling ? b->count : 0;
}

// wait(): `async with self._cond` never waits (nobody holds that lock across a suspension),
// then _block: broken → BrokenBarrierError at once; draining or resetting → wait for the
// next round; else enter.
Future *barrier_wait(BarrierState *b) {
    if (b->phase == BarrierState::Broken) {
        Future *f = future_new(b->loop);
        try {
            future_complete_error(f, Future::Failed, COIO_EBROKEN, kBarrierAborted, nullptr);
        } catch (...) {
            future_unref(f);
            throw;
        }
        return f;
    }
    barrier_reserve(b);
    SyncWaiter *w = waiter_new(b, &kBarrierOps);
    if (b->phase == BarrierState::Draining || b->phase == BarrierState::Resetting)
        barrier_rewait(b, w);
    else
        barrier_enter(b, w);
    return w;
}

// asyncio's reset(): with tasks inside, they fail with BrokenBarrierError and the last one
// out makes it fill again; with none, it fills again at once (also after an abort).
void barrier_reset(BarrierState *b) {
    reserve(b->loop, b->waiters.n);
    if (b->count > 0)
        b->phase = BarrierState::Resetting;
    else
        b->phase = BarrierState::Filling;
    barrier_notify(b, SIZE_MAX);
}

void barrier_abort(BarrierState *b) {
    reserve(b->loop, b->waiters.n);
    b->phase = BarrierState::Broken;
    barrier_notify(b, SIZE_MAX);
}

CallbackNames sync_callback_names() {
    // asyncio's waiters carry only their task's wakeup: coio's bookkeeping is not shown.
    static const CallbackName names[] = {{any_fn(sem_delivered), nullptr},
                                         {any_fn(cond_delivered), nullptr}};
    return {names, sizeof names / sizeof names[0]};
}

} // namespace coio::detail
