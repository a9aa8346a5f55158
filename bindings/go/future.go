package coio

/*
#include "shim.h"
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Future is a typed asyncio.Future of the loop it was made on: pending until it gets a result
// of type T, an error, or is cancelled. A task is a Future too (Spawn returns one). Its methods
// run on the loop's thread (the owner goroutine, callbacks, task bodies). Results are Go values
// kept alive through a handle (see handle) that libcoio owns, deleted in the drop libcoio
// calls when the future is freed.
type Future[T any] struct {
	loop *Loop
	c    *C.coio_future
}

func (f *Future[T]) cfuture() *C.coio_future { return f.c }
func (f *Future[T]) owner() *Loop            { return f.loop }

// wrap takes over the reference c (the caller's) as a *Future[T].
func wrap[T any](l *Loop, c *C.coio_future) *Future[T] {
	f := &Future[T]{loop: l, c: c}
	runtime.SetFinalizer(f, finalizeFuture)
	return f
}

// finalizeFuture is the finalizer of every *Future[T] (and of what embeds one first): a
// function of an interface rather than the method value (*Future[T]).finalize, which a generic
// function makes anew, one allocation, each time.
func finalizeFuture(f interface{ finalize() }) { f.finalize() }

func (f *Future[T]) finalize() { f.loop.releaseLater(f.c, nil) }

// NewFuture makes a pending future of l (loop.create_future()).
func NewFuture[T any](l *Loop) (*Future[T], error) {
	var c *C.coio_future
	if rc := C.coio_future_new(l.c, &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	return wrap[T](l, c), nil
}

// Loop is the future's loop.
func (f *Future[T]) Loop() *Loop { return f.loop }

// Done reports whether f has a result, an error, or was cancelled.
func (f *Future[T]) Done() bool {
	defer runtime.KeepAlive(f)
	return C.coio_future_done(f.c) != 0
}

// Cancelled reports whether f was cancelled.
func (f *Future[T]) Cancelled() bool {
	defer runtime.KeepAlive(f)
	return C.coio_future_cancelled(f.c) != 0
}

// SetResult completes f with v (future.set_result). ErrState if f is done, also for a task
// (a task's result is what its body returns).
func (f *Future[T]) SetResult(v T) error {
	h := newHandle(v)
	rc := C.gocoio_set_result(f.c, C.uintptr_t(h))
	runtime.KeepAlive(f)
	if rc != C.COIO_OK {
		deleteHandle(h)
	}
	return check(rc)
}

// SetError fails f with err (future.set_exception). Awaiting f gives err back, the same value.
func (f *Future[T]) SetError(err error) error {
	if err == nil {
		return ErrInvalid
	}
	return setError(f.c, err)
}

func setError(c *C.coio_future, err error) error {
	h := newHandle(err)
	msg := C.CString(err.Error())
	rc := C.gocoio_set_error(c, codeOf(err), msg, C.uintptr_t(h))
	C.free(unsafe.Pointer(msg))
	if rc != C.COIO_OK {
		deleteHandle(h)
	}
	return check(rc)
}

// Cancel cancels f with an optional message (future.cancel(msg)); on a task, the task's body
// sees a *CancelledError at its current or next await. It reports whether f was cancelled
// (false if it was done already).
func (f *Future[T]) Cancel(msg ...string) bool {
	return cancel(f.c, msg...) == 1
}

func cancel(c *C.coio_future, msg ...string) C.int {
	var cm *C.char
	if len(msg) > 0 {
		cm = C.CString(msg[0])
		defer C.free(unsafe.Pointer(cm))
	}
	return C.coio_future_cancel(c, cm)
}

// Result is f's outcome (future.result()): the result, or the error (a *CancelledError if f
// was cancelled), or ErrState while f is pending.
func (f *Future[T]) Result() (T, error) {
	var h C.uintptr_t
	rc := C.gocoio_result(f.c, &h)
	runtime.KeepAlive(f)
	if rc != C.COIO_OK {
		var zero T
		if rc == C.COIO_ESTATE {
			return zero, ErrState
		}
		return zero, futureError(f.c, rc)
	}
	return valueOf[T](uintptr(h))
}

// Err is f's error: nil if it has a result, ErrState while it is pending.
func (f *Future[T]) Err() error {
	_, err := f.Result()
	return err
}

// valueOf reads a result handle as a T (0: T's zero value).
func valueOf[T any](h uintptr) (T, error) {
	var zero T
	if h == 0 {
		return zero, nil
	}
	v, ok := handle(h).Value().(T)
	if !ok {
		return zero, fmt.Errorf("coio: result is a %T, not a %T", handle(h).Value(), zero)
	}
	return v, nil
}

// valuesOf is valueOf for many result handles at once (one lock): into out, one per handle.
func valuesOf[T any](hs []C.uintptr_t, out []T) error {
	bad := -1
	handles.mu.Lock()
	for i, h := range hs {
		if h == 0 {
			continue
		}
		slot := handles.vals[h-1]
		v, ok := slot.(T)
		if _, dead := slot.(deletedSlot); dead || !ok {
			bad = i // (valueOf panics on a deleted handle, as Value does, even for T = any)
			break
		}
		out[i] = v
	}
	handles.mu.Unlock()
	if bad >= 0 {
		_, err := valueOf[T](uintptr(hs[bad])) // the error (or the deleted handle's panic)
		return err
	}
	return nil
}

// futureError is the error of a done future c whose result call said rc (EFAILED or
// ECANCELLED): the Go error a Go body failed it with, else a *CancelledError or an *Error.
func futureError(c *C.coio_future, rc C.int) error {
	var code C.int
	var msg *C.char
	var payload C.uintptr_t
	if C.gocoio_error(c, &code, &msg, &payload) != C.COIO_OK {
		return Status(rc)
	}
	if code == C.COIO_ECANCELLED || rc == C.COIO_ECANCELLED {
		return &CancelledError{Msg: C.GoString(msg)}
	}
	if ph := C.gocoio_payload_handle(payload); ph != 0 {
		if err, ok := handle(ph).Value().(error); ok {
			return err
		}
	}
	return &Error{Code: Status(code), Msg: C.GoString(msg)}
}

// AddDoneCallback runs fn(f) through the loop once f is done (future.add_done_callback), also
// when it is done already (never at once).
func (f *Future[T]) AddDoneCallback(fn func(*Future[T])) error {
	if fn == nil {
		return ErrInvalid
	}
	h := newHandle(&callback{f.loop, func() { fn(f) }})
	rc := C.gocoio_add_done(f.c, C.uintptr_t(h))
	runtime.KeepAlive(f)
	if rc != C.COIO_OK {
		deleteHandle(h)
	}
	return check(rc)
}

// String is asyncio's repr() of the future or task, as "<Future finished result='x'>".
func (f *Future[T]) String() string {
	defer runtime.KeepAlive(f)
	return reprOf(f.c)
}

func reprOf(c *C.coio_future) string {
	var buf [256]C.char
	n := C.coio_future_repr(c, &buf[0], C.size_t(len(buf)))
	if n < 0 {
		return "<Future ?>"
	}
	if int(n) < len(buf) {
		return C.GoStringN(&buf[0], C.int(n))
	}
	big := (*C.char)(C.malloc(C.size_t(n + 1)))
	defer C.free(unsafe.Pointer(big))
	C.coio_future_repr(c, big, C.size_t(n+1))
	return C.GoStringN(big, C.int(n))
}

// IsTask reports whether f is a task.
func (f *Future[T]) IsTask() bool {
	defer runtime.KeepAlive(f)
	return C.coio_future_is_task(f.c) != 0
}

// Name is a task's name ("Task-N" unless set); "" for a plain future.
func (f *Future[T]) Name() string {
	defer runtime.KeepAlive(f)
	return C.GoString(C.coio_task_name(f.c))
}

// Release gives up f's reference to the C future at once instead of waiting for the garbage
// collector. f must not be used afterwards.
func (f *Future[T]) Release() {
	if f.c == nil {
		return
	}
	runtime.SetFinalizer(f, nil)
	C.coio_future_release(f.c)
	f.c = nil
}
