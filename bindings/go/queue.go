package coio

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
)

// Queue is asyncio.Queue, LifoQueue or PriorityQueue of T values. Items travel through libcoio
// as handles: the queue owns an item from a successful put until a get hands it over, and
// items dropped (shutdown, free, a cancelled put) have their handle deleted by libcoio's drop.
type Queue[T any] struct {
	l    *Loop
	c    *C.coio_queue
	prio bool
}

func newQueue[T any](l *Loop, kind C.int, maxsize int) (*Queue[T], error) {
	if maxsize < 0 {
		maxsize = 0
	}
	var c *C.coio_queue
	if rc := C.coio_queue_new(l.c, kind, C.size_t(maxsize), &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	q := &Queue[T]{l, c, kind == C.COIO_QUEUE_PRIORITY}
	runtime.SetFinalizer(q, func(q *Queue[T]) { q.l.freeLater(func() { C.coio_queue_free(c) }) })
	return q, nil
}

// NewQueue makes a FIFO queue; maxsize 0 is unbounded.
func NewQueue[T any](l *Loop, maxsize int) (*Queue[T], error) {
	return newQueue[T](l, C.COIO_QUEUE_FIFO, maxsize)
}

// NewLifoQueue makes a LIFO queue (asyncio.LifoQueue).
func NewLifoQueue[T any](l *Loop, maxsize int) (*Queue[T], error) {
	return newQueue[T](l, C.COIO_QUEUE_LIFO, maxsize)
}

// NewPriorityQueue makes a priority queue (asyncio.PriorityQueue): PutPriority's smallest
// priority first, equal priorities FIFO; Put uses priority 0.
func NewPriorityQueue[T any](l *Loop, maxsize int) (*Queue[T], error) {
	return newQueue[T](l, C.COIO_QUEUE_PRIORITY, maxsize)
}

func (q *Queue[T]) put(t *Task, nowait bool, prio bool, priority float64, v T) error {
	h := newHandle(v)
	var f *C.coio_future
	nw, pr := C.int(0), C.int(0)
	if nowait {
		nw = 1
	}
	if prio {
		pr = 1
	}
	rc := C.gocoio_queue_put(q.c, nw, pr, C.double(priority), C.uintptr_t(h), &f)
	runtime.KeepAlive(q)
	if rc != C.COIO_OK {
		deleteHandle(h) // not taken: libcoio did not call the drop
		return check(rc)
	}
	if nowait {
		return nil
	}
	_, err := t.awaitOwned(f)
	return err
}

// Put waits for room, then puts v (await queue.put(v)). ErrShutdown once shut down.
func (q *Queue[T]) Put(t *Task, v T) error { return q.put(t, false, false, 0, v) }

// PutPriority is Put on a priority queue with a priority (ErrInvalid on other queues).
func (q *Queue[T]) PutPriority(t *Task, priority float64, v T) error {
	return q.put(t, false, true, priority, v)
}

// PutNowait puts v at once: ErrFull (asyncio.QueueFull) when there is no room.
func (q *Queue[T]) PutNowait(v T) error { return q.put(nil, true, false, 0, v) }

// PutPriorityNowait is PutNowait with a priority.
func (q *Queue[T]) PutPriorityNowait(priority float64, v T) error {
	return q.put(nil, true, true, priority, v)
}

func takeItem[T any](h uintptr) T {
	hv := handle(h)
	v := hv.Value().(T)
	deleteHandle(hv)
	return v
}

// Get waits for an item and takes it (await queue.get()). ErrShutdown once shut down and
// empty.
func (q *Queue[T]) Get(t *Task) (T, error) {
	var zero T
	if t.loop.current != t || t.co == nil {
		return zero, ErrState
	}
	var f *C.coio_future
	var h C.uintptr_t
	rc := C.gocoio_queue_get_begin(t.c, q.c, &f, &h)
	runtime.KeepAlive(q)
	if rc == C.COIO_STEP_AWAIT {
		t.awaitSeq++
		_, rc = t.suspend(C.COIO_STEP_AWAIT)
		if rc == C.COIO_OK {
			rc = C.gocoio_take_release(f, &h)
		}
	}
	if rc == C.COIO_OK {
		return takeItem[T](uintptr(h)), nil
	}
	var err error
	if f != nil {
		err = t.errorOf(f, rc)
		C.coio_future_release(f)
	} else {
		err = check(rc)
	}
	return zero, err
}

// GetNowait takes an item at once: ErrEmpty (asyncio.QueueEmpty) if there is none.
func (q *Queue[T]) GetNowait() (T, error) {
	var h C.uintptr_t
	rc := C.gocoio_queue_get_nowait(q.c, &h)
	runtime.KeepAlive(q)
	if rc != C.COIO_OK {
		var zero T
		return zero, check(rc)
	}
	return takeItem[T](uintptr(h)), nil
}

// TaskDone marks one item as processed (ErrState if called more often than items were put).
func (q *Queue[T]) TaskDone() error {
	defer runtime.KeepAlive(q)
	return check(C.coio_queue_task_done(q.c))
}

// Join waits until every item put has been marked done.
func (q *Queue[T]) Join(t *Task) error {
	var f *C.coio_future
	_, err := t.awaitNew(C.coio_queue_join(q.c, &f), f)
	runtime.KeepAlive(q)
	return err
}

// Shutdown is asyncio 3.13's queue.shutdown(immediate).
func (q *Queue[T]) Shutdown(immediate bool) error {
	defer runtime.KeepAlive(q)
	i := C.int(0)
	if immediate {
		i = 1
	}
	return check(C.coio_queue_shutdown(q.c, i))
}

// Len is the number of items queued (qsize()).
func (q *Queue[T]) Len() int { defer runtime.KeepAlive(q); return int(C.coio_queue_size(q.c)) }

// Maxsize is the queue's bound (0: unbounded).
func (q *Queue[T]) Maxsize() int { defer runtime.KeepAlive(q); return int(C.coio_queue_maxsize(q.c)) }

// Empty reports whether the queue has no item.
func (q *Queue[T]) Empty() bool { defer runtime.KeepAlive(q); return C.coio_queue_empty(q.c) != 0 }

// Full reports whether a bounded queue has maxsize items.
func (q *Queue[T]) Full() bool { defer runtime.KeepAlive(q); return C.coio_queue_full(q.c) != 0 }
