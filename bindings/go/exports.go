package coio

/*
#include "shim.h"
#include <string.h>
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The functions libcoio calls (through the trampolines of shim.c). None lets a panic reach C:
// each recovers, and reports what it caught through the loop's exception handler when it knows
// the loop, else on stderr.

// callback is a Go function scheduled on a loop (call_soon, call_later, call_at, done
// callbacks, thread-safe calls).
type callback struct {
	l  *Loop
	fn func()
}

func reportPanic(l *Loop, what string, r any) {
	msg := fmt.Sprintf("%v", r)
	if l != nil && !l.Closed() {
		cm, ce := C.CString(what), C.CString(msg)
		C.gocoio_report(l.c, cm, ce)
		C.free(unsafe.Pointer(cm))
		C.free(unsafe.Pointer(ce))
		return
	}
	println("coio:", what+":", msg)
}

// gocoioStep runs a step of the task whose handle is h. When the body has returned, the step
// ends the task's handle itself and sets *ended, so that the task's drop, which libcoio runs
// right after this last step, has nothing left to do in Go; a body that returned a result
// leaves it in *result for the trampoline to set (GOCOIO_ENDED_RESULT).
//
//export gocoioStep
func gocoioStep(task, awaited *C.coio_future, status C.int, value, h C.uintptr_t, ended *C.int, result *C.uintptr_t) (rc C.int) {
	var t *Task
	defer func() {
		if r := recover(); r != nil {
			var l *Loop
			if t != nil {
				l = t.loop
			}
			reportPanic(l, "panic in a task step", r)
			rc = C.COIO_EFAILED
		}
	}()
	t = handle(h).Value().(*Task)
	rc = t.step(task, awaited, status, uintptr(value))
	if t.finished && !t.abandoned {
		*ended = C.GOCOIO_ENDED
		if t.result != noResult {
			*ended = C.GOCOIO_ENDED_RESULT
		}
		t.dropped()
		if t.result == resultInHandle {
			*result = h // the handle is the result's now
		} else {
			deleteHandle(handle(h))
		}
	}
	return rc
}

//export gocoioDrop
func gocoioDrop(h C.uintptr_t) {
	var l *Loop
	defer func() {
		if r := recover(); r != nil {
			reportPanic(l, "panic in a drop", r)
		}
	}()
	hv := handle(h)
	v := hv.Value()
	deleteHandle(hv)
	if t, ok := v.(*Task); ok {
		l = t.loop
		t.dropped()
	}
}

//export gocoioDropBatch
func gocoioDropBatch(hs *C.uintptr_t, n C.size_t) {
	for _, h := range unsafe.Slice(hs, n) {
		dropHandle(handle(h))
	}
}

// dropHandle deletes a handle whose drop libcoio queued (gocoio_drop_tramp).
func dropHandle(h handle) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic(nil, "panic in a drop", r)
		}
	}()
	deleteHandle(h)
}

//export gocoioCallback
func gocoioCallback(h C.uintptr_t) {
	var cb *callback
	defer func() {
		if r := recover(); r != nil {
			var l *Loop
			if cb != nil {
				l = cb.l
			}
			reportPanic(l, "panic in a callback", r)
		}
	}()
	cb = handle(h).Value().(*callback)
	cb.fn()
}

//export gocoioDone
func gocoioDone(f *C.coio_future, h C.uintptr_t) {
	var cb *callback
	defer func() {
		if r := recover(); r != nil {
			var l *Loop
			if cb != nil {
				l = cb.l
			}
			reportPanic(l, "panic in a done callback", r)
		}
	}()
	cb = handle(h).Value().(*callback)
	cb.fn()
}

//export gocoioDrain
func gocoioDrain(h C.uintptr_t) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic(nil, "panic while releasing", r)
		}
	}()
	handle(h).Value().(*releaser).drain()
}

//export gocoioRepr
func gocoioRepr(h C.uintptr_t, buf *C.char, size C.size_t) (n C.long) {
	defer func() {
		if r := recover(); r != nil {
			n = -1
		}
	}()
	var s string
	if h == 0 {
		s = "None"
	} else if str, ok := handle(h).Value().(string); ok {
		cs := C.CString(str)
		defer C.free(unsafe.Pointer(cs))
		return C.coio_repr_str(unsafe.Pointer(cs), buf, size)
	} else {
		s = Repr(handle(h).Value())
	}
	if size > 0 {
		m := len(s)
		if m > int(size)-1 {
			m = int(size) - 1
		}
		if m > 0 {
			C.memcpy(unsafe.Pointer(buf), unsafe.Pointer(unsafe.StringData(s)), C.size_t(m))
		}
		*(*C.char)(unsafe.Add(unsafe.Pointer(buf), m)) = 0
	}
	return C.long(len(s))
}

//export gocoioException
func gocoioException(h C.uintptr_t, message *C.char, code C.int, errmsg *C.char, f *C.coio_future) {
	defer func() {
		if r := recover(); r != nil {
			println("coio: panic in the exception handler:", fmt.Sprint(r))
		}
	}()
	eh := handle(h).Value().(*exceptionHandler)
	ec := ExceptionContext{Message: C.GoString(message), Code: Status(code)}
	if errmsg != nil {
		ec.Error = C.GoString(errmsg)
	}
	if f != nil {
		ec.Future = reprOf(f)
	}
	eh.fn(ec)
}
