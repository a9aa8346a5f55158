package coio

/*
#include "shim.h"
*/
import "C"

import "runtime"

// The synchronisation primitives of asyncio. Waits suspend the calling task and are
// cancellation safe as in asyncio. Each belongs to the loop it was made on and is freed by the
// garbage collector (through the loop) or by Free; waits still pending then are cancelled.

// awaitNew awaits the future a libcoio call just made (rc, c), then releases it.
func (t *Task) awaitNew(rc C.int, c *C.coio_future) (uintptr, error) {
	if rc != C.COIO_OK {
		return 0, check(rc)
	}
	return t.awaitOwned(c)
}

// Event is asyncio.Event.
type Event struct {
	l *Loop
	c *C.coio_event
}

// NewEvent makes an event, not set.
func NewEvent(l *Loop) (*Event, error) {
	var c *C.coio_event
	if rc := C.coio_event_new(l.c, &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	e := &Event{l, c}
	runtime.SetFinalizer(e, func(e *Event) { e.l.freeLater(func() { C.coio_event_free(c) }) })
	return e, nil
}

// Set sets the event and wakes every waiter.
func (e *Event) Set() error { defer runtime.KeepAlive(e); return check(C.coio_event_set(e.c)) }

// Clear unsets the event.
func (e *Event) Clear() error { defer runtime.KeepAlive(e); return check(C.coio_event_clear(e.c)) }

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool { defer runtime.KeepAlive(e); return C.coio_event_is_set(e.c) != 0 }

// Wait waits until the event is set (at once if it is).
func (e *Event) Wait(t *Task) error {
	var f *C.coio_future
	_, err := t.awaitNew(C.coio_event_wait(e.c, &f), f)
	runtime.KeepAlive(e)
	return err
}

// Lock is asyncio.Lock (FIFO-fair).
type Lock struct {
	l *Loop
	c *C.coio_lock
}

// NewLock makes an unlocked lock.
func NewLock(l *Loop) (*Lock, error) {
	var c *C.coio_lock
	if rc := C.coio_lock_new(l.c, &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	k := &Lock{l, c}
	runtime.SetFinalizer(k, func(k *Lock) { k.l.freeLater(func() { C.coio_lock_free(c) }) })
	return k, nil
}

// Acquire waits until the lock is the caller's.
func (k *Lock) Acquire(t *Task) error {
	var f *C.coio_future
	_, err := t.awaitNew(C.coio_lock_acquire(k.c, &f), f)
	runtime.KeepAlive(k)
	return err
}

// Release unlocks (handing the lock to the first waiter). ErrState if not locked.
func (k *Lock) Release() error {
	defer runtime.KeepAlive(k)
	return check(C.coio_lock_release(k.c))
}

// Locked reports whether the lock is held.
func (k *Lock) Locked() bool { defer runtime.KeepAlive(k); return C.coio_lock_locked(k.c) != 0 }

// Semaphore is asyncio.Semaphore, or BoundedSemaphore (NewBoundedSemaphore).
type Semaphore struct {
	l *Loop
	c *C.coio_semaphore
}

func newSemaphore(l *Loop, value uint, flags C.uint) (*Semaphore, error) {
	var c *C.coio_semaphore
	if rc := C.coio_semaphore_new(l.c, C.uint(value), flags, &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	s := &Semaphore{l, c}
	runtime.SetFinalizer(s, func(s *Semaphore) { s.l.freeLater(func() { C.coio_semaphore_free(c) }) })
	return s, nil
}

// NewSemaphore makes a semaphore with value permits.
func NewSemaphore(l *Loop, value uint) (*Semaphore, error) { return newSemaphore(l, value, 0) }

// NewBoundedSemaphore makes a semaphore whose Release above value is ErrState (ValueError).
func NewBoundedSemaphore(l *Loop, value uint) (*Semaphore, error) {
	return newSemaphore(l, value, C.COIO_SEMAPHORE_BOUNDED)
}

// Acquire waits for a permit.
func (s *Semaphore) Acquire(t *Task) error {
	var f *C.coio_future
	_, err := t.awaitNew(C.coio_semaphore_acquire(s.c, &f), f)
	runtime.KeepAlive(s)
	return err
}

// Release gives a permit back.
func (s *Semaphore) Release() error {
	defer runtime.KeepAlive(s)
	return check(C.coio_semaphore_release(s.c))
}

// Locked reports whether an Acquire would wait.
func (s *Semaphore) Locked() bool {
	defer runtime.KeepAlive(s)
	return C.coio_semaphore_locked(s.c) != 0
}

// Value is the number of permits available.
func (s *Semaphore) Value() int {
	defer runtime.KeepAlive(s)
	return int(C.coio_semaphore_value(s.c))
}

// Condition is asyncio.Condition.
type Condition struct {
	l    *Loop
	c    *C.coio_condition
	lock *Lock // the shared lock, kept alive
}

// NewCondition makes a condition over lock (nil: a lock of its own).
func NewCondition(l *Loop, lock *Lock) (*Condition, error) {
	var cl *C.coio_lock
	if lock != nil {
		cl = lock.c
	}
	var c *C.coio_condition
	if rc := C.coio_condition_new(l.c, cl, &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	cd := &Condition{l, c, lock}
	runtime.SetFinalizer(cd, func(cd *Condition) { cd.l.freeLater(func() { C.coio_condition_free(c) }) })
	return cd, nil
}

// Acquire acquires the condition's lock.
func (cd *Condition) Acquire(t *Task) error {
	var f *C.coio_future
	_, err := t.awaitNew(C.coio_lock_acquire(C.coio_condition_lock(cd.c), &f), f)
	runtime.KeepAlive(cd)
	return err
}

// Release releases the condition's lock.
func (cd *Condition) Release() error {
	defer runtime.KeepAlive(cd)
	return check(C.coio_lock_release(C.coio_condition_lock(cd.c)))
}

// Locked reports whether the condition's lock is held.
func (cd *Condition) Locked() bool {
	defer runtime.KeepAlive(cd)
	return C.coio_lock_locked(C.coio_condition_lock(cd.c)) != 0
}

// Wait releases the lock, waits for a notify and re-acquires the lock (also when cancelled,
// as asyncio): the caller holds the lock afterwards. ErrState if the lock is not held.
func (cd *Condition) Wait(t *Task) error {
	var f *C.coio_future
	_, err := t.awaitNew(C.coio_condition_wait(cd.c, &f), f)
	runtime.KeepAlive(cd)
	return err
}

// WaitFor waits until pred() is true (asyncio's wait_for(predicate)).
func (cd *Condition) WaitFor(t *Task, pred func() bool) error {
	for !pred() {
		if err := cd.Wait(t); err != nil {
			return err
		}
	}
	return nil
}

// Notify wakes up to n waiters. ErrState if the lock is not held.
func (cd *Condition) Notify(n int) error {
	defer runtime.KeepAlive(cd)
	return check(C.coio_condition_notify(cd.c, C.size_t(n)))
}

// NotifyAll wakes every waiter.
func (cd *Condition) NotifyAll() error {
	defer runtime.KeepAlive(cd)
	return check(C.coio_condition_notify_all(cd.c))
}

// Barrier is asyncio.Barrier.
type Barrier struct {
	l *Loop
	c *C.coio_barrier
}

// NewBarrier makes a barrier for parties tasks (ErrInvalid for 0).
func NewBarrier(l *Loop, parties uint) (*Barrier, error) {
	var c *C.coio_barrier
	if rc := C.coio_barrier_new(l.c, C.uint(parties), &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	b := &Barrier{l, c}
	runtime.SetFinalizer(b, func(b *Barrier) { b.l.freeLater(func() { C.coio_barrier_free(c) }) })
	return b, nil
}

// Wait waits until parties tasks wait and returns this one's index (0 .. parties-1).
// ErrBroken if the barrier is broken or reset while waiting.
func (b *Barrier) Wait(t *Task) (int, error) {
	var f *C.coio_future
	v, err := t.awaitNew(C.coio_barrier_wait(b.c, &f), f)
	runtime.KeepAlive(b)
	return int(v), err
}

// Reset breaks the current waiters (ErrBroken) and makes the barrier fill again.
func (b *Barrier) Reset() error { defer runtime.KeepAlive(b); return check(C.coio_barrier_reset(b.c)) }

// Abort breaks the barrier until Reset.
func (b *Barrier) Abort() error { defer runtime.KeepAlive(b); return check(C.coio_barrier_abort(b.c)) }

// Parties is the number of tasks the barrier waits for.
func (b *Barrier) Parties() int { defer runtime.KeepAlive(b); return int(C.coio_barrier_parties(b.c)) }

// NWaiting is the number of tasks waiting.
func (b *Barrier) NWaiting() int {
	defer runtime.KeepAlive(b)
	return int(C.coio_barrier_n_waiting(b.c))
}

// Broken reports whether the barrier is broken.
func (b *Barrier) Broken() bool { defer runtime.KeepAlive(b); return C.coio_barrier_broken(b.c) != 0 }
