package coio

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// run runs fn as the main task of a fresh virtual-time loop, closes the loop and checks that
// every handle the test made was deleted (exactly once: a second delete panics).
func run[T any](t *testing.T, fn func(t *Task) (T, error)) (T, error) {
	t.Helper()
	before := liveHandles.Load()
	l := MustNewLoop(VirtualTime())
	task, err := Spawn(l, nil, fn)
	if err != nil {
		t.Fatal(err)
	}
	v, err := RunUntilComplete(l, task)
	if cerr := l.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	task = nil
	l = nil
	checkHandles(t, before)
	return v, err
}

func checkHandles(t *testing.T, before int64) {
	t.Helper()
	flushDrops()
	for i := 0; i < 20 && liveHandles.Load() != before; i++ {
		runtime.GC()
		flushDrops()
		time.Sleep(time.Millisecond)
	}
	if n := liveHandles.Load(); n != before {
		t.Errorf("cgo handles: %d live, want %d", n, before)
	}
}

func TestResultAndAwait(t *testing.T) {
	v, err := run(t, func(tk *Task) (string, error) {
		child, err := Spawn(tk.Loop(), nil, func(tk *Task) (int, error) {
			if err := Sleep(tk, time.Second); err != nil {
				return 0, err
			}
			return 42, nil
		})
		if err != nil {
			return "", err
		}
		n, err := Await(tk, child)
		if err != nil || n != 42 {
			t.Errorf("Await = %d, %v", n, err)
		}
		if got := tk.Loop().Time(); got != 1 {
			t.Errorf("virtual time %v, want 1", got)
		}
		return "ok", nil
	})
	if v != "ok" || err != nil {
		t.Fatalf("got %q, %v", v, err)
	}
}

var errMine = errors.New("mine")

func TestErrorsTravel(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		failing, _ := Spawn(tk.Loop(), nil, func(tk *Task) (int, error) { return 0, errMine })
		if _, err := Await(tk, failing); err != errMine {
			t.Errorf("await failing task: %v, want the same error value", err)
		}
		if _, err := failing.Result(); !errors.Is(err, errMine) {
			t.Errorf("Result: %v", err)
		}
		panicking, _ := Spawn(tk.Loop(), nil, func(tk *Task) (int, error) { panic("boom") })
		_, err := Await(tk, panicking)
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
			t.Errorf("panic: %v", err)
		}
		f, _ := NewFuture[int](tk.Loop())
		f.SetError(&Error{Code: ErrTimeout, Msg: "late"})
		if _, err := Await(tk, f); !errors.Is(err, ErrTimeout) {
			t.Errorf("coded error: %v", err)
		}
		if err := f.SetResult(1); !errors.Is(err, ErrState) {
			t.Errorf("SetResult twice: %v", err)
		}
		return nil, errMine
	})
	if err != errMine {
		t.Fatalf("main task: %v", err)
	}
}

// Cancel messages travel as in asyncio: a body cancelled after a bare yield sees the message
// of the Cancel (not only one carried by a cancelled future it awaited), and a body that
// returns a *CancelledError of its own ends the task cancelled with that message.
func TestCancelMessages(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		var seen error
		yielder, _ := Spawn(tk.Loop(), nil, func(tk *Task) (int, error) {
			seen = Sleep(tk, 0) // a bare yield: nothing to cancel but the task itself
			if tk.Uncancel() != 0 {
				return 0, errors.New("still cancelling")
			}
			return 0, &CancelledError{Msg: "mine"}
		})
		if err := Sleep(tk, 0); err != nil { // the yielder is at its yield now
			return nil, err
		}
		yielder.Cancel("m1")
		_, err := Await(tk, yielder)
		var ce *CancelledError
		if !errors.As(seen, &ce) || ce.Msg != "m1" {
			t.Errorf("delivered after a yield: %#v", seen)
		}
		if !errors.As(err, &ce) || ce.Msg != "mine" {
			t.Errorf("the body's own CancelledError: %#v", err)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCancel(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		var ctxErr error
		sleeper, _ := Spawn(tk.Loop(), nil, func(tk *Task) (int, error) {
			ctx := tk.Context()
			err := Sleep(tk, time.Hour)
			ctxErr = context.Cause(ctx)
			return 0, err
		})
		if err := Sleep(tk, 0); err != nil {
			return nil, err
		}
		if !sleeper.Cancel("stop it") {
			t.Error("Cancel = false")
		}
		_, err := Await(tk, sleeper)
		var ce *CancelledError
		if !errors.As(err, &ce) || ce.Msg != "stop it" || !errors.Is(err, ErrCancelled) {
			t.Errorf("await cancelled: %#v", err)
		}
		if !errors.Is(ctxErr, ErrCancelled) {
			t.Errorf("task context cause: %v", ctxErr)
		}
		if !sleeper.Cancelled() {
			t.Error("not cancelled")
		}
		// Cancelled before its first step: the body never runs.
		ran := false
		never, _ := Spawn(tk.Loop(), nil, func(tk *Task) (int, error) { ran = true; return 1, nil })
		never.Cancel()
		if _, err := Await(tk, never); !errors.Is(err, ErrCancelled) || ran {
			t.Errorf("cancel before start: %v, ran %v", err, ran)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// What a task keeps only when asked: its name, its parent context, its own context (ended with
// ErrTaskDone when the body returns; TestOtherGoroutines makes one after a cancellation).
func TestTaskExtras(t *testing.T) {
	type key struct{}
	_, err := run(t, func(tk *Task) (any, error) {
		if tk.extra != nil {
			t.Error("an unnamed task without a context keeps extras")
		}
		var name string
		var ctx context.Context
		named, _ := Spawn(tk.Loop(), nil, func(tk *Task) (int, error) {
			name = tk.Name()
			ctx = tk.Context()
			if ctx.Err() != nil {
				t.Error("a running task's context is done")
			}
			return 1, nil
		}, Name("worker"))
		if _, err := Await(tk, named); err != nil {
			return nil, err
		}
		if name != "worker" || context.Cause(ctx) != ErrTaskDone {
			t.Errorf("name %q, context cause after return %v", name, context.Cause(ctx))
		}
		var value any
		parent := context.WithValue(context.Background(), key{}, "v")
		child, _ := Spawn(tk.Loop(), parent, func(tk *Task) (int, error) {
			value = tk.Context().Value(key{})
			return 2, nil
		})
		if _, err := Await(tk, child); err != nil || value != "v" {
			t.Errorf("parent context value %v (%v)", value, err)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCombinators(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		l := tk.Loop()
		mk := func(n int, fail bool) *Future[int] {
			f, _ := Spawn(l, nil, func(tk *Task) (int, error) {
				if err := Sleep(tk, time.Duration(n)*time.Second); err != nil {
					return 0, err
				}
				if fail {
					return 0, errMine
				}
				return n, nil
			})
			return f
		}
		got, err := Gather(tk, mk(3, false), mk(1, false), mk(2, false))
		if err != nil || len(got) != 3 || got[0] != 3 || got[1] != 1 || got[2] != 2 {
			t.Errorf("Gather = %v, %v", got, err)
		}
		if _, err := Gather(tk, mk(1, false), mk(1, true)); err != errMine {
			t.Errorf("Gather failing: %v", err)
		}
		res, errs, err := GatherAll(tk, mk(1, true), mk(1, false))
		if err != nil || errs[0] != errMine || errs[1] != nil || res[1] != 1 {
			t.Errorf("GatherAll = %v %v %v", res, errs, err)
		}
		fs := []*Future[int]{mk(1, false), mk(5, false), mk(2, false)}
		done, pending, err := Wait(tk, fs, NoTimeout, FirstCompleted)
		if err != nil || len(done) != 1 || done[0] != fs[0] || len(pending) != 2 {
			t.Errorf("Wait first = %v %v %v", done, pending, err)
		}
		done, pending, err = Wait(tk, fs, 1500*time.Millisecond, AllCompleted)
		if err != nil || len(done) != 2 || len(pending) != 1 || pending[0] != fs[1] {
			t.Errorf("Wait timeout = %v %v %v", done, pending, err)
		}
		var order []int
		for v, err := range AsCompleted(tk, []*Future[int]{mk(3, false), mk(1, false), mk(2, false)}, NoTimeout) {
			if err != nil {
				t.Error(err)
			}
			order = append(order, v)
		}
		if len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
			t.Errorf("AsCompleted order %v", order)
		}
		n := 0
		for _, err := range AsCompleted(tk, []*Future[int]{mk(1, false), mk(10, false)}, 5*time.Second) {
			n++
			if n == 2 && !errors.Is(err, ErrTimeout) {
				t.Errorf("AsCompleted timeout: %v", err)
			}
		}
		slow := mk(10, false)
		if _, err := WaitFor(tk, slow, time.Second); !errors.Is(err, ErrTimeout) {
			t.Errorf("WaitFor: %v", err)
		}
		if !slow.Cancelled() {
			t.Error("WaitFor did not cancel the inner task")
		}
		if v, err := WaitFor(tk, mk(1, false), NoTimeout); v != 1 || err != nil {
			t.Errorf("WaitFor ok: %v %v", v, err)
		}
		inner := mk(2, false)
		outer, _ := Shield(inner)
		outer.Cancel()
		if v, err := Await(tk, inner); v != 2 || err != nil {
			t.Errorf("shielded inner: %v %v", v, err)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTimeoutScope(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		var inner error
		err := Timeout(tk, time.Second, func() error {
			inner = Sleep(tk, time.Hour)
			return inner
		})
		if !errors.Is(err, ErrTimeout) || !errors.Is(inner, ErrCancelled) {
			t.Errorf("Timeout = %v (inner %v)", err, inner)
		}
		if err := Timeout(tk, time.Hour, func() error { return Sleep(tk, time.Second) }); err != nil {
			t.Errorf("Timeout not expired: %v", err)
		}
		err = TimeoutAt(tk, tk.Loop().Time()+1, func() error { return errMine })
		if err != errMine {
			t.Errorf("TimeoutAt passes the body's error: %v", err)
		}
		// The task goes on normally after an expired scope.
		return nil, Sleep(tk, time.Second)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTaskGroup(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		var results []int
		err := WithTaskGroup(tk, func(g *TaskGroup) error {
			for i := 1; i <= 3; i++ {
				Go(g, func(tk *Task) (int, error) {
					Sleep(tk, time.Duration(i)*time.Second)
					results = append(results, i)
					return i, nil
				})
			}
			return nil
		})
		if err != nil || len(results) != 3 {
			t.Errorf("group: %v %v", err, results)
		}
		cancelled := false
		err = WithTaskGroup(tk, func(g *TaskGroup) error {
			Go(g, func(tk *Task) (int, error) {
				Sleep(tk, time.Second)
				return 0, errMine
			})
			Go(g, func(tk *Task) (int, error) {
				err := Sleep(tk, time.Hour)
				cancelled = errors.Is(err, ErrCancelled)
				return 0, err
			})
			return nil
		})
		var ge *GroupError
		if !errors.As(err, &ge) || !errors.Is(err, errMine) || len(ge.Errs) != 1 || !cancelled {
			t.Errorf("failing group: %v (sibling cancelled %v)", err, cancelled)
		}
		if !strings.Contains(err.Error(), "1 sub-exception") {
			t.Errorf("group message %q", err.Error())
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPrimitives(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		l := tk.Loop()
		ev, _ := NewEvent(l)
		woke := 0
		for range 3 {
			Spawn(l, nil, func(tk *Task) (int, error) { err := ev.Wait(tk); woke++; return 0, err })
		}
		Sleep(tk, 0)
		ev.Set()
		Sleep(tk, 0)
		Sleep(tk, 0)
		if woke != 3 || !ev.IsSet() {
			t.Errorf("event woke %d", woke)
		}

		lk, _ := NewLock(l)
		var trace []int
		var ws []*Future[int]
		for i := range 3 {
			w, _ := Spawn(l, nil, func(tk *Task) (int, error) {
				if err := lk.Acquire(tk); err != nil {
					return 0, err
				}
				trace = append(trace, i)
				Sleep(tk, time.Second)
				trace = append(trace, i)
				return 0, lk.Release()
			})
			ws = append(ws, w)
		}
		Gather(tk, ws...)
		if len(trace) != 6 || trace[0] != trace[1] || trace[2] != trace[3] {
			t.Errorf("lock trace %v", trace)
		}
		if err := lk.Release(); !errors.Is(err, ErrState) {
			t.Errorf("release unlocked: %v", err)
		}

		sem, _ := NewBoundedSemaphore(l, 2)
		sem.Acquire(tk)
		sem.Acquire(tk)
		if !sem.Locked() || sem.Value() != 0 {
			t.Error("semaphore not locked")
		}
		sem.Release()
		sem.Release()
		if err := sem.Release(); !errors.Is(err, ErrState) {
			t.Errorf("bounded release: %v", err)
		}

		cond, _ := NewCondition(l, nil)
		ready := false
		waiter, _ := Spawn(l, nil, func(tk *Task) (bool, error) {
			cond.Acquire(tk)
			defer cond.Release()
			err := cond.WaitFor(tk, func() bool { return ready })
			return ready, err
		})
		Sleep(tk, 0)
		cond.Acquire(tk)
		ready = true
		cond.NotifyAll()
		cond.Release()
		if ok, err := Await(tk, waiter); !ok || err != nil {
			t.Errorf("condition: %v %v", ok, err)
		}

		b, _ := NewBarrier(l, 3)
		var idx []*Future[int]
		for range 3 {
			f, _ := Spawn(l, nil, func(tk *Task) (int, error) { return b.Wait(tk) })
			idx = append(idx, f)
		}
		got, err := Gather(tk, idx...)
		if err != nil || got[0]+got[1]+got[2] != 3 {
			t.Errorf("barrier: %v %v", got, err)
		}
		b.Abort()
		if _, err := b.Wait(tk); !errors.Is(err, ErrBroken) {
			t.Errorf("broken barrier: %v", err)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueue(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		l := tk.Loop()
		q, _ := NewQueue[string](l, 1)
		if _, err := q.GetNowait(); !errors.Is(err, ErrEmpty) {
			t.Errorf("GetNowait empty: %v", err)
		}
		q.PutNowait("a")
		if err := q.PutNowait("b"); !errors.Is(err, ErrFull) {
			t.Errorf("PutNowait full: %v", err)
		}
		consumer, _ := Spawn(l, nil, func(tk *Task) ([]string, error) {
			var got []string
			for {
				v, err := q.Get(tk)
				if errors.Is(err, ErrShutdown) {
					return got, nil
				}
				if err != nil {
					return got, err
				}
				got = append(got, v)
				q.TaskDone()
			}
		})
		for _, s := range []string{"b", "c", "d"} {
			if err := q.Put(tk, s); err != nil {
				return nil, err
			}
		}
		if err := q.Join(tk); err != nil {
			return nil, err
		}
		q.Shutdown(false)
		got, err := Await(tk, consumer)
		if err != nil || strings.Join(got, "") != "abcd" {
			t.Errorf("consumer got %v, %v", got, err)
		}
		// Items left in a queue are dropped with it (their handles deleted).
		pq, _ := NewPriorityQueue[int](l, 0)
		pq.PutPriorityNowait(3, 30)
		pq.PutPriorityNowait(1, 10)
		pq.PutPriorityNowait(2, 20)
		if v, _ := pq.GetNowait(); v != 10 {
			t.Errorf("priority order: %d", v)
		}
		lq, _ := NewLifoQueue[int](l, 0)
		lq.PutNowait(1)
		lq.PutNowait(2)
		if v, _ := lq.GetNowait(); v != 2 {
			t.Errorf("lifo order: %d", v)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCallbacks(t *testing.T) {
	before := liveHandles.Load()
	l := MustNewLoop(VirtualTime())
	var trace []string
	var reports []ExceptionContext
	l.SetExceptionHandler(func(c ExceptionContext) { reports = append(reports, c) })
	l.CallLater(200*time.Millisecond, func() { trace = append(trace, "later200") })
	h, _ := l.CallLater(100*time.Millisecond, func() { trace = append(trace, "cancelled") })
	l.CallAt(0.15, func() { trace = append(trace, "at150") })
	l.CallSoon(func() { trace = append(trace, "soon") })
	l.CallSoon(func() { panic("a callback panics; the loop goes on") })
	when, err := h.When()
	if err != nil || when != 0.1 {
		t.Errorf("When = %v %v", when, err)
	}
	h.Cancel()
	if !h.Cancelled() {
		t.Error("not cancelled")
	}
	f, _ := NewFuture[int](l)
	f.AddDoneCallback(func(f *Future[int]) {
		v, _ := f.Result()
		trace = append(trace, "done")
		if v != 7 {
			t.Errorf("done callback sees %d", v)
		}
	})
	l.CallLater(300*time.Millisecond, func() { f.SetResult(7) })
	if _, err := l.CallAt(0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil fn: %v", err)
	}
	RunUntilComplete(l, f)
	l.CallSoon(func() { l.Stop() })
	l.RunForever()
	if got := strings.Join(trace, ","); got != "soon,at150,later200,done" {
		t.Errorf("trace %s", got)
	}
	if len(reports) != 1 || reports[0].Message != "panic in a callback" ||
		reports[0].Error != "a callback panics; the loop goes on" {
		t.Errorf("reports %+v", reports)
	}
	l.CallLater(time.Hour, func() { t.Error("ran after close") })
	l.Close()
	if _, err := l.CallSoon(func() {}); !errors.Is(err, ErrClosed) {
		t.Errorf("CallSoon after close: %v", err)
	}
	if err := l.CallSoonThreadsafe(func() {}); !errors.Is(err, ErrClosed) {
		t.Errorf("CallSoonThreadsafe after close: %v", err)
	}
	h, f, l = nil, nil, nil
	checkHandles(t, before)
}

// Other goroutines: thread-safe calls, Stop, and contexts cancelled from elsewhere (real time).
func TestOtherGoroutines(t *testing.T) {
	before := liveHandles.Load()
	l := MustNewLoop()
	ctx, cancelSpawn := context.WithCancelCause(context.Background())
	var taskCtxErr error
	task, _ := Spawn(l, ctx, func(tk *Task) (int, error) {
		never, _ := NewFuture[int](tk.Loop())
		_, err := Await(tk, never)
		taskCtxErr = tk.Context().Err()
		return 0, err
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(5 * time.Millisecond)
		cancelSpawn(errMine)
	}()
	_, err := RunUntilComplete(l, task)
	wg.Wait()
	if !errors.Is(err, ErrCancelled) || !strings.Contains(err.Error(), "mine") || taskCtxErr == nil {
		t.Errorf("ctx cancel of a task: %v (task ctx %v)", err, taskCtxErr)
	}

	actx, cancelAwait := context.WithCancel(context.Background())
	var kept bool
	task2, _ := Spawn(l, nil, func(tk *Task) (string, error) {
		f, _ := NewFuture[string](tk.Loop())
		_, err := AwaitContext(actx, tk, f)
		kept = tk.Context().Err() == nil // the task goes on: only the await was cancelled
		if !errors.Is(err, context.Canceled) {
			t.Errorf("AwaitContext error %v is not context.Canceled", err)
		}
		return "after", err
	})
	go func() { time.Sleep(5 * time.Millisecond); cancelAwait() }()
	if _, err := RunUntilComplete(l, task2); !errors.Is(err, ErrCancelled) || !kept {
		t.Errorf("AwaitContext: %v kept %v", err, kept)
	}

	got := make(chan int, 100)
	wg.Add(4)
	for i := range 4 {
		go func() {
			defer wg.Done()
			for j := range 25 {
				if err := l.CallSoonThreadsafe(func() { got <- i*25 + j }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	go func() { wg.Wait(); l.CallSoonThreadsafe(func() { l.Stop() }) }()
	l.RunForever()
	if len(got) != 100 {
		t.Errorf("threadsafe calls ran %d times", len(got))
	}
	// Stop from another goroutine reaches the loop through its remote handle.
	go func() { time.Sleep(2 * time.Millisecond); l.Stop() }()
	if err := l.RunForever(); err != nil {
		t.Errorf("RunForever: %v", err)
	}
	l.Close()
	if err := l.Stop(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stop after close: %v", err)
	}
	done := make(chan error)
	go func() { done <- l.Stop() }()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Stop from another goroutine after close: %v", err)
	}
	task, task2, l = nil, nil, nil
	checkHandles(t, before)
}

// A loop closed while task bodies are suspended unwinds them: their defers run.
func TestCloseUnwindsBodies(t *testing.T) {
	before := liveHandles.Load()
	l := MustNewLoop(VirtualTime())
	unwound := 0
	for range 3 {
		Spawn(l, nil, func(tk *Task) (int, error) {
			defer func() { unwound++ }()
			never, _ := NewFuture[int](tk.Loop())
			Await(tk, never)
			t.Error("resumed after close")
			return 0, nil
		})
	}
	main, _ := Spawn(l, nil, func(tk *Task) (int, error) { return 0, Sleep(tk, time.Second) })
	RunUntilComplete(l, main)
	l.Close()
	if unwound != 3 {
		t.Errorf("%d bodies unwound, want 3", unwound)
	}
	main, l = nil, nil
	checkHandles(t, before)
}

// Futures dropped without Release are released by finalizers through the loop.
func TestFinalizersRelease(t *testing.T) {
	before := liveHandles.Load()
	l := MustNewLoop(VirtualTime())
	for i := range 100 {
		f, _ := NewFuture[int](l)
		f.SetResult(i)
	}
	runtime.GC()
	runtime.GC()
	main, _ := Spawn(l, nil, func(tk *Task) (int, error) { return 0, Sleep(tk, time.Second) })
	RunUntilComplete(l, main)
	l.Close()
	main, l = nil, nil
	checkHandles(t, before)
}

func TestRunAndRepr(t *testing.T) {
	before := liveHandles.Load()
	defer checkHandles(t, before)
	v, err := Run(func(tk *Task) (string, error) {
		f, _ := NewFuture[string](tk.Loop())
		if s := f.String(); s != "<Future pending>" {
			t.Errorf("repr %s", s)
		}
		f.SetResult("it's")
		if s := f.String(); s != `<Future finished result="it's">` {
			t.Errorf("repr %s", s)
		}
		g, _ := NewFuture[[]float64](tk.Loop())
		g.SetResult([]float64{1, 0.5})
		if s := g.String(); s != "<Future finished result=[1.0, 0.5]>" {
			t.Errorf("repr %s", s)
		}
		return "x", nil
	}, VirtualTime())
	if v != "x" || err != nil {
		t.Fatal(v, err)
	}
	if Repr([2]any{"a", nil}) != "('a', None)" || Repr(true) != "True" || Repr(1e20) != "1e+20" {
		t.Errorf("Repr: %s %s %s", Repr([2]any{"a", nil}), Repr(true), Repr(1e20))
	}
}

func TestMisuse(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		if _, err := Spawn[int](tk.Loop(), nil, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("nil body: %v", err)
		}
		other := MustNewLoop()
		defer other.Close()
		f, _ := NewFuture[int](other)
		if _, err := Await(tk, f); !errors.Is(err, ErrWrongLoop) {
			t.Errorf("await another loop's future: %v", err)
		}
		if _, _, err := Wait[int](tk, nil, NoTimeout, AllCompleted); !errors.Is(err, ErrInvalid) {
			t.Errorf("Wait of nothing: %v", err)
		}
		if _, err := NewBarrier(tk.Loop(), 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("barrier of 0: %v", err)
		}
		g, _ := NewFuture[int](tk.Loop())
		g.SetResult(1)
		if _, err := Await(tk, g); err != nil {
			t.Errorf("await done: %v", err)
		}
		s, _ := NewFuture[string](tk.Loop())
		s.SetResult("x")
		bad := &Future[int]{loop: s.loop, c: s.c}
		if _, err := bad.Result(); err == nil || !strings.Contains(err.Error(), "string") {
			t.Errorf("type mismatch: %v", err)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A future completed by another goroutine, through the thread-safe completion.
func TestCompletion(t *testing.T) {
	before := liveHandles.Load()
	l := MustNewLoop()
	f, comp, err := NewCompletion[string](l)
	if err != nil {
		t.Fatal(err)
	}
	g, gcomp, _ := NewCompletion[int](l)
	go func() {
		time.Sleep(2 * time.Millisecond)
		if err := comp.SetResult("from a goroutine"); err != nil {
			t.Error(err)
		}
		if err := comp.SetResult("twice"); !errors.Is(err, ErrState) {
			t.Errorf("second SetResult: %v", err)
		}
		gcomp.SetError(ErrTimeout, "worker gave up")
	}()
	task, _ := Spawn(l, nil, func(tk *Task) (string, error) {
		if _, err := Await(tk, g); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "worker gave up") {
			t.Errorf("completion error: %v", err)
		}
		return Await(tk, f)
	})
	if v, err := RunUntilComplete(l, task); v != "from a goroutine" || err != nil {
		t.Errorf("got %q, %v", v, err)
	}
	l.Close()
	if err := comp.SetResult("after close"); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrState) {
		t.Errorf("after close: %v", err)
	}
	late, lateComp, _ := NewCompletion[int](MustNewLoop())
	_ = late
	late.loop.Close()
	if err := lateComp.SetResult(1); !errors.Is(err, ErrClosed) {
		t.Errorf("SetResult on a closed loop: %v", err)
	}
	f, g, comp, gcomp, task, l, late, lateComp = nil, nil, nil, nil, nil, nil, nil, nil
	checkHandles(t, before)
}

// Libcoio's drops of result handles are queued and deleted by the batch (gocoio_drop_tramp):
// a full batch is deleted at once, the rest when the loop stops running.
func TestDeferredDrops(t *testing.T) {
	before := liveHandles.Load()
	l := MustNewLoop(VirtualTime())
	main, _ := Spawn(l, nil, func(tk *Task) (int, error) {
		const n = 1000 // several batches
		mid := liveHandles.Load()
		for i := range n {
			f, _ := NewFuture[int](l)
			f.SetResult(i)
			f.Release()
		}
		// All but the last partial batch are deleted already, inside the releases.
		if live := liveHandles.Load() - mid; live < 0 || live >= 256 {
			t.Errorf("%d result handles live after %d releases, want fewer than a batch", live, n)
		}
		return 0, nil
	})
	if _, err := RunUntilComplete(l, main); err != nil {
		t.Fatal(err)
	}
	main.Release()
	l.Close()
	l = nil
	checkHandles(t, before)
}

// A body that returns a value once its task was cancelled (without awaiting after the
// cancel): asyncio ends the task cancelled and drops the value. The step's trampoline sets the
// result after the step (gocoioStep); libcoio then ends the task cancelled and drops the value,
// whose handle must go too.
func TestResultAfterCancel(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		var self *Future[string]
		self, _ = Spawn(tk.Loop(), nil, func(tk *Task) (string, error) {
			self.Cancel("late")
			return "value never seen", nil
		})
		_, err := Await(tk, self)
		var ce *CancelledError
		if !errors.As(err, &ce) || ce.Msg != "late" {
			t.Errorf("await: %#v, want cancelled with \"late\"", err)
		}
		if !self.Cancelled() {
			t.Error("task not cancelled")
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A body that refers to its own task's future (through a variable its closure shares with the
// spawner) and a future nobody releases by hand: the finalizer still gets the future once the
// task is done (the body let go of its closure; it used to keep the future, and the loop, for
// ever).
func TestSelfReferringBodyFinalized(t *testing.T) {
	_, err := run(t, func(tk *Task) (any, error) {
		for range 10 {
			var self *Future[int]
			self, _ = Spawn(tk.Loop(), nil, func(tk *Task) (int, error) {
				if !self.IsTask() {
					t.Error("not a task")
				}
				return 1, Sleep(tk, 0)
			})
		}
		return nil, Sleep(tk, time.Millisecond)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Reading many results at once treats a deleted handle as reading one does: a panic, also
// when the results are read as any (where a type check alone would let it through).
func TestValuesOfDeletedHandlePanics(t *testing.T) {
	h := newHandle(7)
	deleteHandle(h)
	defer func() {
		if recover() == nil {
			t.Error("valuesOf of a deleted handle did not panic")
		}
	}()
	_ = valuesOfHandles([]handle{h}, make([]any, 1))
}
