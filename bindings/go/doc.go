// Package coio is the Go binding of libcoio, asyncio's core (event loop, futures, tasks,
// timers, combinators, synchronisation primitives and queues) as a C library.
//
// A Loop is driven by the goroutine that created it, locked to its OS thread. Tasks are Go
// functions started with Spawn; each body runs as a coroutine (iter.Pull) that the loop resumes
// step by step, so awaiting reads like blocking code:
//
//	l := coio.MustNewLoop()
//	defer l.Close()
//	task, _ := coio.Spawn(l, nil, func(t *coio.Task) (string, error) {
//		if err := coio.Sleep(t, 100*time.Millisecond); err != nil {
//			return "", err
//		}
//		return "done", nil
//	})
//	result, err := coio.RunUntilComplete(l, task)
//
// Every failure is an error: errors.Is(err, coio.ErrCancelled) for cancellations (a
// *CancelledError carries the message), coio.ErrTimeout for timeouts, and the Go error a task
// body returned comes back unchanged from whoever awaits the task. A panic in a task body fails
// the task with a *PanicError; a panic in a callback is reported through the loop's exception
// handler and the loop goes on. No panic crosses into C.
//
// Methods of loop objects (futures, tasks, primitives, queues) must run on the loop's thread:
// in the owner goroutine, a callback, or a task body. Other goroutines use
// Loop.CallSoonThreadsafe, Loop.Stop, or cancel the contexts given to Spawn and AwaitContext.
// Objects that become unreachable are released by finalizers, through the loop.
//
// Go values cross into C as handles (the handle type, in the manner of runtime/cgo.Handle: an
// index that keeps the value alive until libcoio's drop deletes it, exactly once). No Go
// pointer is ever stored in C memory.
//
// Errors that C code sets on futures with a payload are read back as *Error; a Go error set on
// a future travels as a payload of its own (a tagged C block holding the handle of the error value).
package coio

/*
#cgo pkg-config: coio
*/
import "C"
