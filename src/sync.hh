// asyncio's synchronisation primitives (Event, Lock, Semaphore / BoundedSemaphore, Condition,
// Barrier of CPython 3.13, Lib/asyncio/locks.py): the state behind the C handles, shared by
// sync.cc (the internals) and api_sync.cc (the C wrappers).
#pragma once

#include "future.hh"
#include "loop.hh"

namespace coio::detail {

struct SyncWaiter;

// A FIFO of pending waiter futures, linked through the waiters themselves: no allocation per
// wait, and a cancelled waiter leaves its line in O(1).
struct WaitList {
    SyncWaiter *head = nullptr;
    SyncWaiter *tail = nullptr;
    std::size_t n = 0;
    bool empty() const { return n == 0; }
};

// What every primitive starts with.  The state is reference counted: the handle holds one
// reference, every waiter future another (and a Condition one on its Lock), so that freeing
// the handle while futures of it are alive is safe.
struct SyncState {
    enum Kind : std::uint8_t { Event, Lock, Semaphore, Condition, Barrier };
    Loop *loop;         // a reference: the state may outlive the loop
    std::uint32_t refs; // see above
    Kind kind;
    bool freed; // coio_*_free ran: only futures (or a condition) keep it alive
};

struct EventState : SyncState {
    bool set;
    WaitList waiters;
};

struct LockState : SyncState {
    bool locked;
    bool handle; // a user handle reference exists (not for a condition's own lock)
    // Lock acquires and Condition waits re-acquiring the lock, FIFO.  Invariant: not locked
    // implies no pending waiter (release hands the lock over).
    WaitList waiters;
};

struct SemState : SyncState {
    long value;
    long bound;        // BoundedSemaphore's initial value; -1: unbounded
    std::size_t woken; // waiters granted a permit whose wake-up was not delivered yet
    WaitList waiters;
};

struct CondState : SyncState {
    LockState *lock;  // a reference
    WaitList waiters; // waits not yet notified
};

struct BarrierState : SyncState {
    enum Phase : std::uint8_t { Filling, Draining, Resetting, Broken };
    Phase phase;
    unsigned parties;
    long count;       // asyncio's _count: the tasks inside the barrier
    WaitList waiters; // the internal condition's waiters (blocked and filling alike)
};

// Every function below takes checked arguments (api_sync.cc) and throws std::bad_alloc with
// nothing changed when memory runs out.  The futures returned are new references.
EventState *event_new(Loop *loop);
void event_free(EventState *e);
void event_set(EventState *e);
Future *event_wait(EventState *e);

LockState *lock_new(Loop *loop);
void lock_free(LockState *l);
Future *lock_acquire(LockState *l);
int lock_release(LockState *l); // COIO_ESTATE if not locked

SemState *semaphore_new(Loop *loop, unsigned value, bool bounded);
void semaphore_free(SemState *s);
bool semaphore_locked(const SemState *s);
Future *semaphore_acquire(SemState *s);
int semaphore_release(SemState *s); // COIO_ESTATE: bounded and released too often

CondState *condition_new(Loop *loop, LockState *lock); // lock null: its own
void condition_free(CondState *c);
int condition_wait(CondState *c, Future **out);    // COIO_ESTATE if not locked
int condition_notify(CondState *c, std::size_t n); // COIO_ESTATE if not locked

BarrierState *barrier_new(Loop *loop, unsigned parties);
void barrier_free(BarrierState *b);
Future *barrier_wait(BarrierState *b);
void barrier_reset(BarrierState *b);
void barrier_abort(BarrierState *b);
long barrier_n_waiting(const BarrierState *b);

} // namespace coio::detail
