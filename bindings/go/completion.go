package coio

/*
#include "shim.h"
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Completion completes, from any goroutine, the future NewCompletion made with it: exactly
// once, with a result or an error (a future fed by a worker, as run_in_executor's). It stays
// safe after the loop is closed: completing then is ErrClosed. A Completion dropped before it
// completed cancels its future.
type Completion[T any] struct {
	c *C.coio_completion
}

// NewCompletion makes a pending future of l and the Completion that completes it (on the
// loop's thread; the Completion may then go to any goroutine).
func NewCompletion[T any](l *Loop) (*Future[T], *Completion[T], error) {
	var f *C.coio_future
	var c *C.coio_completion
	if rc := C.coio_completion_new(l.c, &f, &c); rc != C.COIO_OK {
		return nil, nil, check(rc)
	}
	comp := &Completion[T]{c}
	// coio_completion_release is thread-safe: the finalizer calls it directly.
	runtime.SetFinalizer(comp, func(comp *Completion[T]) { C.coio_completion_release(comp.c) })
	return wrap[T](l, f), comp, nil
}

// SetResult completes the future with v; the result reaches the loop on a later pass.
// ErrState if the completion was completed already, ErrClosed once the loop is closed.
func (c *Completion[T]) SetResult(v T) error {
	defer runtime.KeepAlive(c)
	// On failure libcoio has run the drop (deleting the handle) already.
	return check(C.gocoio_completion_set_result(c.c, C.uintptr_t(newHandle(v))))
}

// SetError fails the future with a code and a message (an *Error when read back).
func (c *Completion[T]) SetError(code Status, msg string) error {
	defer runtime.KeepAlive(c)
	if code == 0 {
		return ErrInvalid
	}
	cm := C.CString(msg)
	defer C.free(unsafe.Pointer(cm))
	return check(C.coio_completion_set_error(c.c, C.int(code), cm))
}
