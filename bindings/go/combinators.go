package coio

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"iter"
	"runtime"
	"time"
	"unsafe"
)

// NoTimeout as a timeout means "wait forever" (Python's None).
const NoTimeout time.Duration = -1

func seconds(d time.Duration) C.double {
	if d < 0 {
		return C.COIO_NO_TIMEOUT
	}
	return C.double(d.Seconds())
}

func cfutures[T any](fs []*Future[T]) []*C.coio_future {
	return putCFutures(make([]*C.coio_future, len(fs)), fs)
}

// scratchCFutures is cfutures into a buffer the loop keeps: for a C call that does not keep
// the array and runs no Go code that could need the buffer in turn (gather's own arrays are
// copies). Gathering 100k tasks then leaves 1.6 MB less garbage behind.
func scratchCFutures[T any](l *Loop, fs []*Future[T]) []*C.coio_future {
	if cap(l.scratch) < len(fs) {
		l.scratch = make([]*C.coio_future, len(fs))
	}
	return putCFutures(l.scratch[:len(fs)], fs)
}

// putCFutures puts the C future of each of fs into cs (as long as fs) and returns cs.
func putCFutures[T any](cs []*C.coio_future, fs []*Future[T]) []*C.coio_future {
	for i, f := range fs {
		cs[i] = f.c
	}
	return cs
}

func (l *Loop) scratchHandles(n int) []C.uintptr_t {
	if cap(l.hscratch) < n {
		l.hscratch = make([]C.uintptr_t, n)
	}
	return l.hscratch[:n]
}

func cptr(cs []*C.coio_future) **C.coio_future {
	if len(cs) == 0 {
		return nil
	}
	return &cs[0]
}

// awaitOwned awaits c, a reference the caller owns, and releases it.
func (t *Task) awaitOwned(c *C.coio_future) (uintptr, error) {
	v, err := t.await(c)
	C.coio_future_release(c)
	return v, err
}

// Gather waits for every future (await asyncio.gather(*fs)) and returns their results in
// argument order. The first future to fail or be cancelled ends the gather with its error; the
// others keep running, as in asyncio. Cancelling the task while it waits cancels the futures.
func Gather[T any](t *Task, fs ...*Future[T]) ([]T, error) {
	l := t.loop
	cs := scratchCFutures(l, fs)
	var out *C.coio_future
	if rc := C.coio_gather(l.c, cptr(cs), C.size_t(len(cs)), 0, &out); rc != C.COIO_OK {
		return nil, check(rc)
	}
	if _, err := t.awaitOwned(out); err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return []T{}, nil
	}
	// Other tasks ran while this one waited: the scratch array is made anew.
	cs = scratchCFutures(l, fs)
	hs := l.scratchHandles(len(fs))
	var failed C.size_t
	rc := C.gocoio_results(cptr(cs), C.size_t(len(cs)), &hs[0], &failed)
	runtime.KeepAlive(fs)
	if rc != C.COIO_OK { // (a gather that succeeded has no failed future: defensive)
		_, err := fs[failed].Result()
		return nil, err
	}
	res := make([]T, len(fs))
	if err := valuesOf(hs, res); err != nil {
		return nil, err
	}
	return res, nil
}

// GatherAll is asyncio.gather(*fs, return_exceptions=True): it waits for every future and
// returns each result or error in argument order. err is only about the gather itself (the
// task was cancelled, a future of another loop).
func GatherAll[T any](t *Task, fs ...*Future[T]) (results []T, errs []error, err error) {
	cs := cfutures(fs)
	var out *C.coio_future
	if rc := C.coio_gather(t.loop.c, cptr(cs), C.size_t(len(cs)), C.COIO_RETURN_EXCEPTIONS, &out); rc != C.COIO_OK {
		return nil, nil, check(rc)
	}
	if _, err := t.awaitOwned(out); err != nil {
		return nil, nil, err
	}
	results = make([]T, len(fs))
	errs = make([]error, len(fs))
	for i, f := range fs {
		results[i], errs[i] = f.Result()
	}
	runtime.KeepAlive(fs)
	return results, errs, nil
}

// WaitWhen says when Wait returns.
type WaitWhen int

// Wait's return_when values.
const (
	FirstCompleted WaitWhen = C.COIO_FIRST_COMPLETED // when any future is done
	FirstException WaitWhen = C.COIO_FIRST_EXCEPTION // when any fails, else all done
	AllCompleted   WaitWhen = C.COIO_ALL_COMPLETED   // when all are done
)

// Wait is asyncio.wait: it returns once `when` is met or after timeout (NoTimeout: none), with
// the futures done and those still pending, each in argument order. Nothing is cancelled, also
// not on timeout. An empty fs is ErrInvalid (asyncio's ValueError).
func Wait[T any](t *Task, fs []*Future[T], timeout time.Duration, when WaitWhen) (done, pending []*Future[T], err error) {
	cs := cfutures(fs)
	var out *C.coio_future
	if rc := C.coio_wait(t.loop.c, cptr(cs), C.size_t(len(cs)), seconds(timeout), C.int(when), &out); rc != C.COIO_OK {
		return nil, nil, check(rc)
	}
	defer C.coio_future_release(out)
	if _, err := t.await(out); err != nil {
		return nil, nil, err
	}
	var nd, np C.size_t
	var dp, pp **C.coio_future
	if rc := C.gocoio_wait_split(out, &nd, &dp, &np, &pp); rc != C.COIO_OK {
		return nil, nil, check(rc)
	}
	isDone := make(map[*C.coio_future]bool, int(nd))
	for _, c := range unsafe.Slice(dp, int(nd)) {
		isDone[c] = true
	}
	for _, f := range fs {
		if isDone[f.c] {
			done = append(done, f)
			delete(isDone, f.c) // duplicates count once
		} else if !containsFuture(pending, f) && !containsFuture(done, f) {
			pending = append(pending, f)
		}
	}
	return done, pending, nil
}

func containsFuture[T any](fs []*Future[T], f *Future[T]) bool {
	for _, g := range fs {
		if g.c == f.c {
			return true
		}
	}
	return false
}

// AsCompleted is asyncio.as_completed: ranging over it awaits the futures in the order they
// complete and yields each one's result or error. After timeout (NoTimeout: none) it yields
// ErrTimeout once and stops; nothing is cancelled. Breaking out of the loop stops listening.
func AsCompleted[T any](t *Task, fs []*Future[T], timeout time.Duration) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cs := cfutures(fs)
		var it *C.coio_as_completed_iter
		if rc := C.coio_as_completed(t.loop.c, cptr(cs), C.size_t(len(cs)), seconds(timeout), &it); rc != C.COIO_OK {
			yield(zero, check(rc))
			return
		}
		defer C.coio_as_completed_free(it)
		defer runtime.KeepAlive(fs)
		for {
			var next *C.coio_future
			if rc := C.coio_as_completed_next(it, &next); rc == C.COIO_ESTATE {
				return
			} else if rc != C.COIO_OK {
				yield(zero, check(rc))
				return
			}
			if _, err := t.await(next); err != nil {
				C.coio_future_release(next)
				yield(zero, err)
				return
			}
			orig := C.gocoio_next_original(next)
			var h C.uintptr_t
			rc := C.gocoio_result(orig, &h)
			var v T
			var err error
			if rc == C.COIO_OK {
				v, err = valueOf[T](uintptr(h))
			} else {
				err = futureError(orig, rc)
			}
			C.coio_future_release(next)
			if !yield(v, err) {
				return
			}
		}
	}
}

// WaitFor is asyncio.wait_for: f's outcome, or ErrTimeout once timeout has passed (f is then
// cancelled and waited for first). NoTimeout waits forever.
func WaitFor[T any](t *Task, f *Future[T], timeout time.Duration) (T, error) {
	var zero T
	var out *C.coio_future
	if rc := C.coio_wait_for(f.c, seconds(timeout), &out); rc != C.COIO_OK {
		return zero, check(rc)
	}
	defer C.coio_future_release(out)
	h, err := t.await(out)
	runtime.KeepAlive(f)
	if err != nil {
		return zero, err
	}
	return valueOf[T](h)
}

// Shield is asyncio.shield: a future with f's outcome whose cancellation does not cancel f.
func Shield[T any](f *Future[T]) (*Future[T], error) {
	var out *C.coio_future
	if rc := C.coio_shield(f.c, &out); rc != C.COIO_OK {
		return nil, check(rc)
	}
	runtime.KeepAlive(f)
	return wrap[T](f.loop, out), nil
}

// statusOf is the libcoio status a body that returned err ended with.
func statusOf(err error) C.int {
	switch {
	case err == nil:
		return C.COIO_OK
	case errors.Is(err, ErrCancelled):
		return C.COIO_ECANCELLED
	}
	return C.COIO_EFAILED
}

// Timeout runs fn in a timeout scope (async with asyncio.timeout(d)): at the deadline the task
// is cancelled, fn's await returns a *CancelledError, and Timeout returns ErrTimeout. NoTimeout
// sets no deadline. Otherwise it returns what fn returned.
func Timeout(t *Task, d time.Duration, fn func() error) error {
	var tm *C.coio_timeout
	if rc := C.coio_timeout_enter(t.loop.c, seconds(d), &tm); rc != C.COIO_OK {
		return check(rc)
	}
	return t.timeoutScope(tm, fn)
}

// TimeoutAt is Timeout with a deadline in loop time (asyncio.timeout_at).
func TimeoutAt(t *Task, when float64, fn func() error) error {
	var tm *C.coio_timeout
	if rc := C.coio_timeout_enter_at(t.loop.c, C.double(when), &tm); rc != C.COIO_OK {
		return check(rc)
	}
	return t.timeoutScope(tm, fn)
}

func (t *Task) timeoutScope(tm *C.coio_timeout, fn func() error) (err error) {
	exited := false
	defer func() {
		if !exited { // fn panicked: leave the scope, then go on panicking
			C.coio_timeout_exit(tm, C.COIO_EFAILED)
		}
	}()
	err = fn()
	exited = true
	if rc := C.coio_timeout_exit(tm, statusOf(err)); rc == C.COIO_ETIMEDOUT {
		return ErrTimeout
	}
	return err
}

// TaskGroup is asyncio.TaskGroup, made by WithTaskGroup.
type TaskGroup struct {
	t *Task
	c *C.coio_task_group
}

// GroupError is the error of a task group whose children failed (asyncio's
// ExceptionGroup("unhandled errors in a TaskGroup", ...)): errors.Is and errors.As look into
// every child's error.
type GroupError struct {
	Msg  string
	Errs []error
}

// Error gives the group's message.
func (e *GroupError) Error() string { return "coio: " + e.Msg }

// Unwrap gives the children's errors.
func (e *GroupError) Unwrap() []error { return e.Errs }

// WithTaskGroup runs fn with a task group (async with asyncio.TaskGroup() as g) and waits for
// every task spawned into it with Go. A child that fails cancels the others and the body; the
// result is then a *GroupError with every failure. A cancelled child is no error.
func WithTaskGroup(t *Task, fn func(g *TaskGroup) error) error {
	var c *C.coio_task_group
	if rc := C.coio_task_group_new(t.loop.c, &c); rc != C.COIO_OK {
		return check(rc)
	}
	defer C.coio_task_group_free(c)
	g := &TaskGroup{t: t, c: c}
	var bodyErr error
	func() {
		defer func() {
			if r := recover(); r != nil {
				bodyErr = &PanicError{Value: r}
			}
		}()
		bodyErr = fn(g)
	}()
	var out *C.coio_future
	if rc := C.coio_task_group_exit(c, statusOf(bodyErr), &out); rc != C.COIO_OK {
		return check(rc)
	}
	_, err := t.awaitOwned(out)
	if err == nil {
		return bodyErr
	}
	if errors.Is(err, ErrCancelled) {
		return err
	}
	n := C.coio_task_group_errors(c, nil, 0)
	ge := &GroupError{Msg: err.Error()}
	if e, ok := err.(*Error); ok {
		ge.Msg = e.Msg
	}
	if n > 0 {
		kids := make([]*C.coio_future, int(n))
		n = C.coio_task_group_errors(c, &kids[0], C.size_t(len(kids)))
		for _, k := range kids[:int(n)] {
			ge.Errs = append(ge.Errs, futureError(k, C.COIO_EFAILED))
			C.coio_future_release(k)
		}
	}
	if bodyErr != nil && !errors.Is(bodyErr, ErrCancelled) {
		ge.Errs = append(ge.Errs, bodyErr)
	}
	return ge
}

// Go spawns fn into the group g (g.create_task). ErrState once the group is aborting or done.
func Go[T any](g *TaskGroup, fn func(t *Task) (T, error), opts ...TaskOption) (*Future[T], error) {
	return spawn[T](g.t.loop, g, g.t.Context(), fn, opts)
}
