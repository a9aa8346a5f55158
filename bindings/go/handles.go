package coio

/*
#include "shim.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
)

// handle is what a Go value becomes to travel through libcoio as a void * (a registration's
// arg, a future's result, a queue item, an error payload): a nonzero index into one table.
// Like runtime/cgo.Handle it keeps the value alive until deleted, and deleting it twice panics;
// unlike cgo.Handle, whose sync.Map costs most of a task's time once a loop holds 100k of them
// (hashing and cache misses), it is a slice and a free list under one mutex.
type handle uintptr

var handles struct {
	mu   sync.Mutex
	vals []any
	free []uint32
}

// liveHandles counts the handles held: each is deleted exactly once, and the count tells the
// tests that none leaked.
var liveHandles atomic.Int64

// deletedSlot marks a free slot (a second delete finds it and panics).
type deletedSlot struct{}

func newHandle(v any) handle {
	liveHandles.Add(1)
	handles.mu.Lock()
	var i uint32
	if n := len(handles.free); n > 0 {
		i = handles.free[n-1]
		handles.free = handles.free[:n-1]
		handles.vals[i] = v
	} else {
		i = uint32(len(handles.vals))
		handles.vals = append(handles.vals, v)
	}
	handles.mu.Unlock()
	return handle(i + 1)
}

// replaceHandle makes h stand for v instead (a live handle changing hands).
func replaceHandle(h handle, v any) {
	handles.mu.Lock()
	if _, dead := handles.vals[h-1].(deletedSlot); dead {
		handles.mu.Unlock()
		panic("coio: use of a deleted handle")
	}
	handles.vals[h-1] = v
	handles.mu.Unlock()
}

// Value is the value h stands for (it panics for a deleted or unknown handle).
func (h handle) Value() any {
	handles.mu.Lock()
	v := handles.vals[h-1]
	handles.mu.Unlock()
	if _, dead := v.(deletedSlot); dead {
		panic("coio: use of a deleted handle")
	}
	return v
}

func deleteHandle(h handle) {
	handles.mu.Lock()
	if _, dead := handles.vals[h-1].(deletedSlot); dead {
		handles.mu.Unlock()
		panic("coio: handle deleted twice")
	}
	handles.vals[h-1] = deletedSlot{}
	handles.free = append(handles.free, uint32(h-1))
	handles.mu.Unlock()
	liveHandles.Add(-1)
}

// flushDrops deletes the handles whose drop libcoio has queued and not yet handed over (see
// gocoio_drop_tramp): a loop does it when it stops running and when it closes.
func flushDrops() {
	var buf [256]C.uintptr_t
	for {
		n := C.gocoio_drops_take(&buf[0], C.size_t(len(buf)))
		if n == 0 {
			return
		}
		for _, h := range buf[:n] {
			dropHandle(handle(h))
		}
	}
}
