package coio

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Status is a libcoio status code (COIO_E*). Every Status is an error; the sentinel values
// below are what errors.Is compares against: errors.Is(err, coio.ErrTimeout) is true for any
// error carrying COIO_ETIMEDOUT, whatever its message.
type Status int

// The statuses of libcoio, as Go errors.
const (
	ErrInvalid   Status = C.COIO_EINVAL     // invalid argument (a bad timeout, a closed object)
	ErrNoMemory  Status = C.COIO_ENOMEM     // out of memory
	ErrState     Status = C.COIO_ESTATE     // wrong state: a result of a pending future, set twice, ...
	ErrCancelled Status = C.COIO_ECANCELLED // cancelled (asyncio.CancelledError)
	ErrFailed    Status = C.COIO_EFAILED    // a generic failure
	ErrTimeout   Status = C.COIO_ETIMEDOUT  // a timeout expired (asyncio.TimeoutError)
	ErrClosed    Status = C.COIO_ECLOSED    // the loop is closed
	ErrBusy      Status = C.COIO_EBUSY      // the loop is running
	ErrWrongLoop Status = C.COIO_ELOOP      // the object belongs to another loop
	ErrThread    Status = C.COIO_ETHREAD    // called from a thread that does not drive the loop
	ErrNotSup    Status = C.COIO_ENOTSUP    // not supported
	ErrSys       Status = C.COIO_ESYS       // a system call failed
	ErrFull      Status = C.COIO_EFULL      // put_nowait on a full queue (asyncio.QueueFull)
	ErrEmpty     Status = C.COIO_EEMPTY     // get_nowait on an empty queue (asyncio.QueueEmpty)
	ErrShutdown  Status = C.COIO_ESHUTDOWN  // the queue was shut down (asyncio.QueueShutDown)
	ErrBroken    Status = C.COIO_EBROKEN    // the barrier is broken (asyncio.BrokenBarrierError)
)

// Error returns libcoio's description of the status, with its symbolic name.
func (s Status) Error() string {
	return fmt.Sprintf("coio: %s (%s)", C.GoString(C.coio_strerror(C.int(s))),
		C.GoString(C.coio_status_name(C.int(s))))
}

// Name is the status's symbolic name, as "COIO_ETIMEDOUT".
func (s Status) Name() string { return C.GoString(C.coio_status_name(C.int(s))) }

// CancelledError is the error of a cancelled future or task (asyncio.CancelledError), with the
// message given to Cancel. A body that returns one ends its task cancelled with its Msg. errors.Is(err, ErrCancelled) is true for it. Cause, when set, is why
// a context cancelled the await (context.Canceled, context.DeadlineExceeded or a cause given to
// a context.CancelCauseFunc); errors.Is also sees it.
type CancelledError struct {
	Msg   string
	Cause error
}

// Error gives "coio: cancelled", with the message if there is one.
func (e *CancelledError) Error() string {
	if e.Msg == "" {
		return "coio: cancelled"
	}
	return "coio: cancelled: " + e.Msg
}

// Is reports ErrCancelled as a match.
func (e *CancelledError) Is(target error) bool { return target == ErrCancelled }

// Unwrap gives the cause (nil if none).
func (e *CancelledError) Unwrap() error { return e.Cause }

// Error is the failure of a future that C code (or libcoio itself) failed: a status code and a
// message. errors.Is(err, coio.ErrTimeout) and the like compare the code.
type Error struct {
	Code Status
	Msg  string
}

// Error gives the message and the code's name.
func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Code.Error()
	}
	return fmt.Sprintf("coio: %s (%s)", e.Msg, e.Code.Name())
}

// Is compares the code with a Status target.
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Code
}

// Unwrap gives the code as a Status.
func (e *Error) Unwrap() error { return e.Code }

// PanicError is the error of a task whose body panicked: Value is what it panicked with and
// Stack the goroutine's stack at the panic.
type PanicError struct {
	Value any
	Stack []byte
}

// Error gives the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("coio: task panicked: %v", e.Value) }

// Unwrap gives the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// check turns a libcoio status into an error (nil for COIO_OK and positive values).
func check(rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return Status(rc)
}

// codeOf is the libcoio code a Go error fails a future with.
func codeOf(err error) C.int {
	var s Status
	if errors.As(err, &s) && s < 0 {
		return C.int(s)
	}
	return C.COIO_EFAILED
}

// setCancelled records the message a body that returns a *CancelledError ends cancelled with
// (coio_task_set_cancelled; "" is no message).
func setCancelled(task *C.coio_future, msg string) {
	if msg == "" {
		C.coio_task_set_cancelled(task, nil)
		return
	}
	cs := C.CString(msg)
	C.coio_task_set_cancelled(task, cs)
	C.free(unsafe.Pointer(cs))
}
