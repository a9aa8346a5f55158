package coio

/*
#include "shim.h"
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"errors"
	"iter"
	"runtime"
	"runtime/debug"
	"time"
	"unsafe"
)

// Task is what a task body gets: the handle through which it awaits (Await, Sleep, Gather,
// ...), its loop, and its context. A body is a Go function run as a coroutine (iter.Pull) that
// the loop resumes step by step (libcoio's step-driven tasks): Await suspends it until the
// awaited future is done, without a goroutine switch through a channel. A *Task is only valid
// inside its own body, on the loop's thread.
//
// A spawn's costs are mostly the bytes it allocates (and the garbage collector's work for
// them), so a Task keeps only what every task needs; what a body needs while it runs (what
// each step brings, the loop's list of running bodies) is its coroutine's, which later tasks
// reuse, and what few tasks use is in taskExtra.
type Task struct {
	loop *Loop
	c    *C.coio_future // borrowed: valid until the task's drop (nil after)
	body body           // the *spawned[T] that holds the body
	co   *coro          // while the body runs (from its first step until it returns)
	h    handle         // the task's handle (libcoio's arg for its steps), then its result's

	rc        C.int      // what the last step returns when finished
	finished  bool       // the body returned (or never ran)
	abandoned bool       // the body was unwound because the task was destroyed
	result    resultKind // how the body's result is to be set, by the step's trampoline
	ctxEnded  bool       // the task's context is cancelled (or will be, once made)

	extra    *taskExtra
	awaitSeq uint64
}

// resultKind says whether a task's body returned a result, and whether it is the task's
// handle (the result's value now) or nil (no value).
type resultKind uint8

const (
	noResult resultKind = iota
	resultInHandle
	resultNone
)

// taskExtra is what few tasks use: made when a spawn names the task or gives it a context
// that is not context.Background(), when the body asks for its context, or when the context
// ends with a cancellation. Most tasks never need it, and a spawn's costs are mostly the
// bytes it allocates (and the garbage collector's work for them).
type taskExtra struct {
	name       string
	parent     context.Context // nil: context.Background()
	ctx        context.Context // the task's own context, made by the first Context call
	cancel     context.CancelCauseFunc
	cause      error // why the context ended (ctxEnded), when that is not ErrTaskDone
	stopParent func() bool
}

func (t *Task) extraOf() *taskExtra {
	if t.extra == nil {
		t.extra = new(taskExtra)
	}
	return t.extra
}

// ErrTaskDone is the cause of a task's context once its body has returned without being
// cancelled: a task's context lives as long as its body.
var ErrTaskDone = errors.New("coio: task done")

// errAbandoned unwinds the body of a task destroyed while it was suspended (its loop closed).
type abandon struct{}

// A loop keeps idle coroutines for reuse: as many as it had task bodies running at once at
// its peak (so that a program that spawns 100k tasks at a time does not start 100k goroutines
// each time; Go's runtime keeps the goroutines that ended for reuse in the same way), at least
// minIdleCoros and at most maxIdleCoros. Each idle one is a parked goroutine and its stack.
const (
	minIdleCoros = 1024
	maxIdleCoros = 1 << 17
)

func (l *Loop) idleCoroCap() int {
	return min(max(l.peakLive, minIdleCoros), maxIdleCoros)
}

// coro is an iter.Pull coroutine that runs task bodies one after the other: a task borrows one
// at its first step and gives it back when its body returns, so that spawning a task does not
// start a goroutine each time.
type coro struct {
	next  func() (C.int, bool)
	stop  func()
	yield func(C.int) bool
	t     *Task

	// What the step that resumed the body brought.
	awaited *C.coio_future
	value   uintptr
	status  C.int

	prev, after *coro // the loop's list of coroutines running a body (Loop.live)
}

func (l *Loop) getCoro() *coro {
	if n := len(l.coros); n > 0 {
		c := l.coros[n-1]
		l.coros[n-1] = nil
		l.coros = l.coros[:n-1]
		return c
	}
	c := &coro{}
	c.next, c.stop = iter.Pull(c.run)
	return c
}

func (c *coro) run(yield func(C.int) bool) {
	c.yield = yield
	for {
		t := c.t
		t.runBody()
		if t.abandoned {
			return
		}
		if !yield(0) {
			return
		}
	}
}

// TaskOption configures Spawn.
type TaskOption func(*taskConfig)

type taskConfig struct {
	name  string
	flags C.uint
}

// Name names the task (asyncio's create_task(name=...)); the default is "Task-N".
func Name(name string) TaskOption { return func(c *taskConfig) { c.name = name } }

// Spawn starts fn as a task of l (loop.create_task): its first step runs on a later pass of the
// loop. The returned future is the task: its result is what fn returns; an error fails it with
// that error (awaiting the task gives back the same value); an error that errors.Is
// ErrCancelled ends it cancelled; a panic fails it with a *PanicError.
//
// ctx may be nil (context.Background). Cancelling ctx, from any goroutine, cancels the task;
// the task's own context (Task.Context) derives from ctx and is cancelled when the task is
// cancelled and when its body returns.
func Spawn[T any](l *Loop, ctx context.Context, fn func(t *Task) (T, error), opts ...TaskOption) (*Future[T], error) {
	return spawn[T](l, nil, ctx, fn, opts)
}

func spawn[T any](l *Loop, g *TaskGroup, ctx context.Context, fn func(t *Task) (T, error), opts []TaskOption) (*Future[T], error) {
	if fn == nil {
		return nil, ErrInvalid
	}
	var cfg taskConfig
	if len(opts) > 0 { // (options are funcs of *taskConfig: cfg would escape for every spawn)
		pc := new(taskConfig)
		for _, o := range opts {
			o(pc)
		}
		cfg = *pc
	}
	if ctx == nil {
		ctx = context.Background()
	}
	s := &spawned[T]{fn: fn}
	t := &s.t
	t.loop, t.body = l, s
	if cfg.name != "" || ctx != context.Background() {
		t.extra = &taskExtra{name: cfg.name, parent: ctx}
	}
	h := newHandle(t)
	t.h = h
	var cname *C.char
	if cfg.name != "" {
		cname = C.CString(cfg.name)
		defer C.free(unsafe.Pointer(cname))
	}
	// The new task comes back in a struct, not through a pointer to a local variable, which
	// would be one more allocation per spawn (cgo moves it to the heap).
	var r C.gocoio_new_task
	if g != nil {
		r = C.gocoio_group_task_new(g.c, C.uintptr_t(h), cname)
	} else {
		r = C.gocoio_task_new(l.c, C.uintptr_t(h), cname, cfg.flags)
	}
	if r.rc != C.COIO_OK {
		deleteHandle(h)
		return nil, check(r.rc)
	}
	c := r.task
	if t.c == nil && !t.finished {
		t.c = c // an eager task that finished in its first step has been dropped already
	}
	f := &s.f
	f.loop, f.c = l, c
	runtime.SetFinalizer(s, finalizeFuture)
	if ctx.Done() != nil && !t.finished {
		t.extra.stopParent = context.AfterFunc(ctx, func() {
			cause := context.Cause(ctx)
			_ = l.CallSoonThreadsafe(func() {
				if !t.finished {
					cancel(f.c, cause.Error())
				}
			})
		})
	}
	return f, nil
}

// spawned is a task as Spawn makes it: its Future and its Task in one allocation, since a
// short task's largest costs are its allocations. The Future comes first, so that the
// finalizer's object (which must be the start of an allocation) is the whole of it; the
// finalizer cannot run before the task's body is done, since the task's handle refers to it.
type spawned[T any] struct {
	f  Future[T]
	t  Task
	fn func(*Task) (T, error)
}

func (s *spawned[T]) finalize() { s.f.finalize() }

// body is a task's body: it returns the result (nil for none) or the error.
type body interface {
	run(t *Task) (any, error)
}

func (s *spawned[T]) run(t *Task) (any, error) {
	// A body often refers to its own task's future (a variable its closure shares with the
	// spawner): the future must not keep its body once it is done, or the pair would keep
	// each other from the future's finalizer for ever.
	fn := s.fn
	s.fn = nil
	v, err := fn(t)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Loop is the task's loop.
func (t *Task) Loop() *Loop { return t.loop }

// Context is the task's context: derived from the context given to Spawn, cancelled when the
// task is cancelled (the cause is the *CancelledError) and when the body returns (ErrTaskDone).
func (t *Task) Context() context.Context {
	x := t.extraOf()
	if x.ctx == nil {
		parent := x.parent
		if parent == nil {
			parent = context.Background()
		}
		x.ctx, x.cancel = context.WithCancelCause(parent)
		if t.ctxEnded {
			x.cancel(x.endCause())
		}
	}
	return x.ctx
}

func (x *taskExtra) endCause() error {
	if x.cause == nil {
		return ErrTaskDone
	}
	return x.cause
}

// endContext cancels the task's context with cause (the first time only). A context nobody
// made yet remembers the cause, unless it is ErrTaskDone: the body has returned, and whoever
// asks for the context later (the body's defers) gets it cancelled with ErrTaskDone.
func (t *Task) endContext(cause error) {
	x := t.extra
	if !t.ctxEnded {
		t.ctxEnded = true
		if cause != ErrTaskDone && x == nil {
			x = t.extraOf()
		}
		if x != nil {
			if cause != ErrTaskDone {
				x.cause = cause
			}
			if x.cancel != nil {
				x.cancel(cause)
			}
		}
	}
	if x != nil && x.stopParent != nil {
		x.stopParent()
		x.stopParent = nil
	}
}

// Name is the task's name.
func (t *Task) Name() string {
	if t.c == nil {
		if t.extra != nil {
			return t.extra.name
		}
		return ""
	}
	return C.GoString(C.coio_task_name(t.c))
}

// Cancelling is asyncio's Task.cancelling(): the number of cancellation requests pending.
func (t *Task) Cancelling() int { return int(C.coio_task_cancelling(t.c)) }

// Uncancel is asyncio's Task.uncancel(): one cancellation request fewer; returns how many are
// left.
func (t *Task) Uncancel() int { return int(C.coio_task_uncancel(t.c)) }

// step runs one step of the body (libcoio calls it through the trampoline).
func (t *Task) step(task, awaited *C.coio_future, status C.int, value uintptr) C.int {
	l := t.loop
	t.c = task
	if t.co == nil {
		if t.finished {
			return C.COIO_EINVAL
		}
		if status == C.COIO_ECANCELLED { // cancelled before its first step: the body never runs
			t.finished = true
			t.endContext(&CancelledError{})
			return C.COIO_ECANCELLED
		}
		t.co = l.getCoro()
		t.co.t = t
		l.link(t.co)
	}
	co := t.co
	co.awaited, co.status, co.value = awaited, status, value
	prev := l.current
	l.current = t
	kind, _ := co.next()
	l.current = prev
	if t.finished {
		l.unlink(co)
		t.co = nil
		co.t, co.awaited = nil, nil
		if !t.abandoned && len(l.coros) < l.idleCoroCap() && !l.closed {
			l.coros = append(l.coros, co)
		} else {
			co.stop()
		}
		return t.rc
	}
	return kind
}

// runBody runs the body inside the coroutine and records how it ended.
func (t *Task) runBody() {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(abandon); ok {
				t.abandoned = true
				t.finished = true
				return
			}
			t.finish(nil, &PanicError{Value: r, Stack: debug.Stack()})
		}
	}()
	t.finish(t.body.run(t))
}

func (t *Task) finish(v any, err error) {
	t.finished = true
	switch {
	case err == nil:
		// The step's trampoline sets the result once the step returns (gocoioStep): that
		// saves a call into C, which costs a short task more than the rest of its last step.
		// The task's handle becomes the result's (libcoio is done with it as the task's once
		// this step returns): one handle per task instead of two.
		t.result = resultNone
		if v != nil {
			replaceHandle(t.h, v)
			t.result = resultInHandle
		}
		t.rc = C.COIO_OK
		t.endContext(ErrTaskDone)
	case errors.Is(err, ErrCancelled):
		t.rc = C.COIO_ECANCELLED
		var ce *CancelledError
		if !errors.As(err, &ce) {
			ce = &CancelledError{}
		}
		// The body ends with the CancelledError it returns (asyncio: raise CancelledError(msg));
		// one it was given (a bare re-raise) carries the delivered message already.
		setCancelled(t.c, ce.Msg)
		t.endContext(ce)
	default:
		if e := setError(t.c, err); e != nil {
			t.rc = codeOf(e)
		} else {
			t.rc = C.COIO_EFAILED
		}
		t.endContext(ErrTaskDone)
	}
}

// dropped runs when libcoio lets go of the task's arg: the task is done, or was destroyed (its
// loop closed) with its body suspended, which is then unwound.
func (t *Task) dropped() {
	t.abandonBody()
	t.finished = true
	if !t.ctxEnded { // (a body that returned has ended its context already)
		t.endContext(&CancelledError{Msg: "task destroyed"})
	}
	t.c = nil
}

// abandonBody unwinds a body that is suspended: its pending yield returns false and the await
// panics with abandon, which runBody recovers. It must run on the loop's thread inside a call
// from C (a coroutine made there only resumes in the same thread-lock state).
func (t *Task) abandonBody() {
	if co := t.co; co != nil && !t.finished {
		t.loop.unlink(co)
		co.stop()
		t.co = nil
		t.finished = true
	}
}

func (l *Loop) link(co *coro) {
	if l.nlive++; l.nlive > l.peakLive {
		l.peakLive = l.nlive
	}
	co.after = l.live
	if l.live != nil {
		l.live.prev = co
	}
	l.live = co
}

func (l *Loop) unlink(co *coro) {
	l.nlive--
	if co.prev != nil {
		co.prev.after = co.after
	} else if l.live == co {
		l.live = co.after
	}
	if co.after != nil {
		co.after.prev = co.prev
	}
	co.prev, co.after = nil, nil
}

// suspend returns to the loop with kind (COIO_STEP_AWAIT or COIO_STEP_YIELD) and comes back
// with what the next step brought.
func (t *Task) suspend(kind C.int) (uintptr, C.int) {
	co := t.co
	if !co.yield(kind) {
		panic(abandon{})
	}
	if co.status == C.COIO_ECANCELLED && C.coio_task_cancelling(t.c) > 0 {
		t.endContext(t.cancelledError(co.awaited))
	}
	return co.value, co.status
}

// cancelledError is the cancellation delivered to the body now: its message is the one
// libcoio records for the delivery (coio_task_cancel_message: the awaited future's, else that
// of the Cancel delivered at this step, after a yield or when the awaited future completed
// first).
func (t *Task) cancelledError(c *C.coio_future) *CancelledError {
	var msg *C.char
	if C.coio_task_cancel_message(t.c, &msg) == C.COIO_OK {
		if msg == nil {
			return &CancelledError{}
		}
		return &CancelledError{Msg: C.GoString(msg)}
	}
	if c != nil && C.coio_future_cancelled(c) != 0 {
		if ce, ok := futureError(c, C.COIO_ECANCELLED).(*CancelledError); ok {
			return ce
		}
	}
	return &CancelledError{}
}

// await waits for c inside the body: its result handle, or its error.
func (t *Task) await(c *C.coio_future) (uintptr, error) {
	if t.loop.current != t || t.co == nil {
		return 0, ErrState
	}
	var v C.uintptr_t
	rc := C.gocoio_await_begin(t.c, c, &v)
	value := uintptr(v)
	if rc == C.COIO_STEP_AWAIT {
		t.awaitSeq++
		value, rc = t.suspend(C.COIO_STEP_AWAIT)
	}
	return value, t.errorOf(c, rc)
}

func (t *Task) errorOf(c *C.coio_future, rc C.int) error {
	switch rc {
	case C.COIO_OK:
		return nil
	case C.COIO_ECANCELLED:
		return t.cancelledError(c)
	case C.COIO_EFAILED:
		return futureError(c, rc)
	}
	return check(rc)
}

// Await suspends the body of t until f is done and returns f's outcome (await f). A future
// that is done already returns at once, as in asyncio. If t is cancelled while it waits, f is
// cancelled (asyncio's Task.cancel) and Await returns a *CancelledError.
func Await[T any](t *Task, f *Future[T]) (T, error) {
	h, err := t.await(f.c)
	runtime.KeepAlive(f)
	if err != nil {
		var zero T
		return zero, err
	}
	return valueOf[T](h)
}

// AwaitContext is Await that also gives up when ctx is done: cancelling ctx from any goroutine
// cancels f (as cancelling the task would) and AwaitContext returns a *CancelledError whose
// Cause is context.Cause(ctx) (errors.Is sees both ErrCancelled and context.Canceled).
func AwaitContext[T any](ctx context.Context, t *Task, f *Future[T]) (T, error) {
	if ctx == nil || ctx.Done() == nil {
		return Await(t, f)
	}
	l := t.loop
	seq := t.awaitSeq + 1
	stop := context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		_ = l.CallSoonThreadsafe(func() {
			if t.awaitSeq == seq && !f.Done() {
				cancel(f.c, cause.Error())
			}
		})
	})
	v, err := Await(t, f)
	stop()
	var ce *CancelledError
	if errors.As(err, &ce) && ctx.Err() != nil && ce.Cause == nil {
		ce.Cause = context.Cause(ctx)
	}
	return v, err
}

// Sleep suspends the body for d (await asyncio.sleep(d)). d <= 0 gives the loop one pass, as
// asyncio.sleep(0) does, without a timer.
func Sleep(t *Task, d time.Duration) error {
	if t.loop.current != t || t.co == nil {
		return ErrState
	}
	var rc C.int
	if d <= 0 {
		_, rc = t.suspend(C.COIO_STEP_YIELD)
	} else {
		rc = C.gocoio_sleep_await(t.loop.c, t.c, C.double(d.Seconds()))
		if rc == C.COIO_STEP_AWAIT {
			t.awaitSeq++
			_, rc = t.suspend(C.COIO_STEP_AWAIT)
		}
	}
	return t.errorOf(t.co.awaited, rc)
}

// CurrentTask reports whether a task body is running on l (asyncio.current_task) and returns
// its name.
func CurrentTask(l *Loop) (string, bool) {
	if l.current == nil {
		return "", false
	}
	return l.current.Name(), true
}

// NewSleep is asyncio.sleep(d) as a future (for Wait, Gather, WaitFor, ...): it completes d
// from now; d <= 0 costs exactly one pass of the loop. Cancelling it cancels its timer.
func NewSleep(l *Loop, d time.Duration) (*Future[struct{}], error) {
	if d < 0 {
		d = 0
	}
	var c *C.coio_future
	if rc := C.coio_sleep(l.c, C.double(d.Seconds()), &c); rc != C.COIO_OK {
		return nil, check(rc)
	}
	return wrap[struct{}](l, c), nil
}
