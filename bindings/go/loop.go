package coio

/*
#include "shim.h"
#include <stdlib.h>
*/
import "C"

import (
	"math"
	"runtime"
	"sync"
	"time"
)

// LoopOption configures NewLoop.
type LoopOption func(*loopConfig)

type loopConfig struct{ flags C.uint }

// VirtualTime makes the loop's clock start at 0 and jump to the next timer whenever nothing
// is ready (COIO_LOOP_VIRTUAL_TIME): sleeps take no real time and times are exact.
func VirtualTime() LoopOption { return func(c *loopConfig) { c.flags |= C.COIO_LOOP_VIRTUAL_TIME } }

// Debug turns on asyncio's debug mode (COIO_LOOP_DEBUG): slow callbacks are reported and
// calls from a thread that does not drive the loop fail with ErrThread.
func Debug() LoopOption { return func(c *loopConfig) { c.flags |= C.COIO_LOOP_DEBUG } }

// Loop is an event loop (asyncio's loop). A Loop belongs to the goroutine that created it:
// NewLoop locks that goroutine to its OS thread (runtime.LockOSThread) and Close unlocks it.
// Everything that touches the loop runs on that thread: the owner goroutine, the loop's
// callbacks, and the bodies of its tasks (iter.Pull coroutines resumed by the loop). Other
// goroutines reach the loop only through CallSoonThreadsafe, Stop, and the context-based
// cancellation of tasks and awaits, which go through the loop's thread-safe queue.
//
// Unreachable futures, tasks and primitives are released by finalizers, which hand the
// release to the loop's thread. Close the loop when done with it: a goroutine drives one loop
// at a time, and the coroutines that ran its tasks end at Close (task bodies run as
// coroutines made on the loop's thread, which only that thread, in the same thread-lock
// state, can resume or end).
type Loop struct {
	c *C.coio_loop

	// remote is the thread-safe handle through which other goroutines (and finalizers) reach
	// the loop: it stays valid after the loop is closed and freed (calls then fail ErrClosed).
	remote *C.coio_remote
	tid    C.long // the OS thread that drives the loop

	mu     sync.RWMutex // guards closed
	closed bool

	current  *Task   // the task whose body runs now
	live     *coro   // coroutines running a body that has not returned (a list through coro.after)
	coros    []*coro // idle coroutines, reused by new tasks
	nlive    int     // task bodies started and not returned (the live list)
	peakLive int     // the most there were at once

	scratch  []*C.coio_future // combinators.go: arrays for C calls that do not keep them
	hscratch []C.uintptr_t

	rel    *releaser // what finalizers hand over (any goroutine), drained on the loop's thread
	drainH handle    // refers to rel (not to the Loop, which must stay collectable)
}

// releaser holds the references that finalizers give up until the loop's thread releases
// them.
type releaser struct {
	mu      sync.Mutex
	fs      []*C.coio_future
	hs      []*C.coio_handle
	fns     []func() // frees of primitives and queues
	pending bool     // a drain is scheduled
}

// NewLoop creates a loop (asyncio.new_event_loop) and locks the calling goroutine to its OS
// thread.
func NewLoop(opts ...LoopOption) (*Loop, error) {
	var cfg loopConfig
	for _, o := range opts {
		o(&cfg)
	}
	runtime.LockOSThread()
	var c *C.coio_loop
	if rc := C.gocoio_loop_new(cfg.flags, &c); rc != C.COIO_OK {
		runtime.UnlockOSThread()
		return nil, check(rc)
	}
	var r *C.coio_remote
	if rc := C.coio_loop_remote(c, &r); rc != C.COIO_OK {
		C.coio_loop_release(c)
		runtime.UnlockOSThread()
		return nil, check(rc)
	}
	l := &Loop{c: c, remote: r, tid: C.gocoio_gettid(), rel: &releaser{}}
	l.drainH = newHandle(l.rel)
	runtime.SetFinalizer(l, (*Loop).finalize)
	return l, nil
}

// MustNewLoop is NewLoop that panics on failure, for programs and examples.
func MustNewLoop(opts ...LoopOption) *Loop {
	l, err := NewLoop(opts...)
	if err != nil {
		panic(err)
	}
	return l
}

// finalize runs once nothing refers to the loop any more, so no future of it is reachable
// either (a Future refers to its Loop): what finalizers queued is released here, then the loop.
func (l *Loop) finalize() {
	l.drainReleases()
	deleteHandle(l.drainH)
	C.coio_loop_release(l.c)
	C.coio_remote_release(l.remote)
	flushDrops()
}

// Close closes the loop (asyncio's loop.close()): callbacks still scheduled are dropped and
// pending tasks are destroyed (their bodies are unwound). It unlocks the owner goroutine from
// its thread. Closing twice is a no-op. ErrBusy while the loop runs.
func (l *Loop) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if C.coio_loop_is_running(l.c) != 0 {
		l.mu.Unlock()
		return ErrBusy
	}
	l.closed = true
	l.mu.Unlock()
	rc := C.coio_loop_close(l.c)
	l.drainReleases()
	// The bodies still suspended can never resume: unwind them (their defers run), and end the
	// idle coroutines, from inside a call from C, as they were made (see abandonBody).
	h := newHandle(&callback{l, func() {
		for l.live != nil {
			l.live.t.abandonBody()
		}
		for _, c := range l.coros {
			c.stop()
		}
		l.coros = nil
	}})
	C.gocoio_invoke(C.uintptr_t(h))
	deleteHandle(h)
	flushDrops()
	runtime.UnlockOSThread()
	return check(rc)
}

// Closed reports whether Close was called.
func (l *Loop) Closed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Time is the loop's monotonic clock in seconds (loop.time()).
func (l *Loop) Time() float64 { return float64(C.coio_loop_time(l.c)) }

// Running reports whether the loop is running.
func (l *Loop) Running() bool { return C.coio_loop_is_running(l.c) != 0 }

// RunForever runs the loop until Stop (loop.run_forever()).
func (l *Loop) RunForever() error {
	rc := C.coio_loop_run_forever(l.c)
	flushDrops()
	return check(rc)
}

// Stop makes the running loop return after the current pass (loop.stop()). Other goroutines
// may call it too: the stop then reaches the loop through its thread-safe handle and takes
// effect after the pass that runs it. ErrClosed once the loop is closed.
func (l *Loop) Stop() error {
	if C.gocoio_gettid() == l.tid {
		if l.closed {
			return ErrClosed
		}
		return check(C.coio_loop_stop(l.c))
	}
	return l.CallSoonThreadsafe(func() { C.coio_loop_stop(l.c) })
}

// Waiter is anything the loop can run until done or a task can await without a result: every
// *Future[T] is one.
type Waiter interface {
	cfuture() *C.coio_future
	owner() *Loop
}

// Run runs the loop until w is done and returns w's error (loop.run_until_complete(w)).
func (l *Loop) Run(w Waiter) error {
	cf := w.cfuture()
	rc := C.coio_loop_run_until_complete(l.c, cf)
	runtime.KeepAlive(w)
	flushDrops()
	switch rc {
	case C.COIO_OK:
		return nil
	case C.COIO_EFAILED, C.COIO_ECANCELLED:
		return futureError(cf, rc)
	}
	return check(rc)
}

// RunUntilComplete runs l until f is done and returns f's outcome
// (result = loop.run_until_complete(f)).
func RunUntilComplete[T any](l *Loop, f *Future[T]) (T, error) {
	if err := l.Run(f); err != nil {
		var zero T
		return zero, err
	}
	return f.Result()
}

// Run is asyncio.run: a new loop runs fn as its main task until it returns, then closes.
func Run[T any](fn func(t *Task) (T, error), opts ...LoopOption) (T, error) {
	l, err := NewLoop(opts...)
	if err != nil {
		var zero T
		return zero, err
	}
	defer l.Close()
	task, err := Spawn(l, nil, fn)
	if err != nil {
		var zero T
		return zero, err
	}
	return RunUntilComplete(l, task)
}

// Handle is a scheduled callback (asyncio.Handle / TimerHandle).
type Handle struct {
	loop *Loop
	c    *C.coio_handle
}

// Cancel cancels the callback if it has not run yet.
func (h *Handle) Cancel() {
	C.coio_handle_cancel(h.c)
	runtime.KeepAlive(h)
}

// Cancelled reports whether Cancel cancelled the callback.
func (h *Handle) Cancelled() bool {
	defer runtime.KeepAlive(h)
	return C.coio_handle_cancelled(h.c) != 0
}

// When is a timer's deadline in loop time (ErrInvalid for a CallSoon handle).
func (h *Handle) When() (float64, error) {
	var w C.double
	rc := C.coio_handle_when(h.c, &w)
	runtime.KeepAlive(h)
	return float64(w), check(rc)
}

func (h *Handle) finalize() { h.loop.releaseLater(nil, h.c) }

func (l *Loop) call(kind C.int, t float64, fn func()) (*Handle, error) {
	if fn == nil {
		return nil, ErrInvalid
	}
	hv := newHandle(&callback{l, fn})
	var ch *C.coio_handle
	if rc := C.gocoio_call(l.c, kind, C.double(t), C.uintptr_t(hv), &ch); rc != C.COIO_OK {
		deleteHandle(hv)
		return nil, check(rc)
	}
	h := &Handle{loop: l, c: ch}
	runtime.SetFinalizer(h, (*Handle).finalize)
	return h, nil
}

// CallSoon schedules fn on the next pass of the loop, in FIFO order (loop.call_soon). Arguments
// are what fn closes over (Python's extra arguments and functools.partial).
func (l *Loop) CallSoon(fn func()) (*Handle, error) { return l.call(0, 0, fn) }

// CallLater schedules fn after delay (loop.call_later).
func (l *Loop) CallLater(delay time.Duration, fn func()) (*Handle, error) {
	return l.call(1, delay.Seconds(), fn)
}

// CallAt schedules fn at loop time when, in seconds (loop.call_at).
func (l *Loop) CallAt(when float64, fn func()) (*Handle, error) {
	if math.IsNaN(when) || math.IsInf(when, 0) {
		return nil, ErrInvalid
	}
	return l.call(2, when, fn)
}

// CallSoonThreadsafe schedules fn on the loop from any goroutine
// (loop.call_soon_threadsafe). ErrClosed once the loop is closed.
func (l *Loop) CallSoonThreadsafe(fn func()) error {
	if fn == nil {
		return ErrInvalid
	}
	hv := newHandle(&callback{l, fn})
	// On failure libcoio has run the drop (deleting hv) already.
	return check(C.gocoio_call_threadsafe(l.remote, C.uintptr_t(hv)))
}

// freeLater hands fn, which frees a C object, to the loop's thread (any goroutine).
func (l *Loop) freeLater(fn func()) {
	l.rel.mu.Lock()
	l.rel.fns = append(l.rel.fns, fn)
	l.rel.mu.Unlock()
	l.releaseLater(nil, nil)
}

// releaseLater hands a future or a handle reference to the loop's thread (any goroutine).
func (l *Loop) releaseLater(f *C.coio_future, h *C.coio_handle) {
	r := l.rel
	r.mu.Lock()
	if f != nil {
		r.fs = append(r.fs, f)
	}
	if h != nil {
		r.hs = append(r.hs, h)
	}
	schedule := !r.pending
	r.pending = true
	r.mu.Unlock()
	if !schedule {
		return
	}
	if C.gocoio_call_drain(l.remote, C.uintptr_t(l.drainH)) != C.COIO_OK {
		// Closed: what is queued waits for the loop's finalizer.
		r.mu.Lock()
		r.pending = false
		r.mu.Unlock()
	}
}

// drain releases what finalizers queued (on the loop's thread, or once the loop is
// unreachable).
func (r *releaser) drain() {
	r.mu.Lock()
	fs, hs, fns := r.fs, r.hs, r.fns
	r.fs, r.hs, r.fns, r.pending = nil, nil, nil, false
	r.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	for _, f := range fs {
		C.coio_future_release(f)
	}
	for _, h := range hs {
		C.coio_handle_release(h)
	}
}

func (l *Loop) drainReleases() { l.rel.drain() }

func init() {
	// A task's coroutine shows in reprs as coro=<go() ...>: every Go body steps through the one
	// trampoline.
	C.gocoio_name_functions()
}

// ExceptionContext is what the loop reports to its exception handler (asyncio's context
// dict): a message ("Task was destroyed but it is pending!", "panic in a callback", ...), the
// error code and message involved if any, and the repr of the future involved if any.
type ExceptionContext struct {
	Message string
	Code    Status
	Error   string
	Future  string
}

type exceptionHandler struct{ fn func(ExceptionContext) }

// SetExceptionHandler installs fn as the loop's exception handler
// (loop.set_exception_handler); nil restores the default, which prints one line on stderr.
func (l *Loop) SetExceptionHandler(fn func(ExceptionContext)) error {
	if fn == nil {
		return check(C.gocoio_set_exception_handler(l.c, 0))
	}
	h := newHandle(&exceptionHandler{fn})
	if rc := C.gocoio_set_exception_handler(l.c, C.uintptr_t(h)); rc != C.COIO_OK {
		deleteHandle(h)
		return check(rc)
	}
	return nil
}
