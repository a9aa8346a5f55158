package coio

/*
#include "shim.h"
*/
import "C"

// For the benchmarks (cgo is not allowed in test files): one Go -> C call, and one
// Go -> C -> Go round trip through the binding's callback trampoline.

func cgoCall() int { return int(C.coio_version_number()) }

func cgoRoundTrip(fn func()) {
	h := newHandle(&callback{nil, fn})
	C.gocoio_invoke(C.uintptr_t(h))
	deleteHandle(h)
}

func cgoCallback(h uintptr) { C.gocoio_invoke(C.uintptr_t(h)) }
