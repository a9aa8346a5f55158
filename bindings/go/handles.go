package coio

import (
	"runtime/cgo"
	"sync/atomic"
)

// liveHandles counts the cgo.Handles the binding holds: each is deleted exactly once (a second
// Delete panics in runtime/cgo), and the count tells the tests that none leaked.
var liveHandles atomic.Int64

func newHandle(v any) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

func deleteHandle(h cgo.Handle) {
	h.Delete()
	liveHandles.Add(-1)
}
