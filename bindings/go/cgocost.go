package coio

/*
#include "shim.h"
*/
import "C"

// For the benchmarks and tests (cgo is not allowed in test files): one Go -> C call, one
// Go -> C -> Go round trip through the binding's callback trampoline, and valuesOf on handles.

func cgoCall() int { return int(C.coio_version_number()) }

func cgoRoundTrip(fn func()) {
	h := newHandle(&callback{nil, fn})
	C.gocoio_invoke(C.uintptr_t(h))
	deleteHandle(h)
}

func cgoCallback(h uintptr) { C.gocoio_invoke(C.uintptr_t(h)) }

func valuesOfHandles(hs []handle, out []any) error {
	cs := make([]C.uintptr_t, len(hs))
	for i, h := range hs {
		cs[i] = C.uintptr_t(h)
	}
	return valuesOf(cs, out)
}
