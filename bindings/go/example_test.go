package coio_test

import (
	"errors"
	"fmt"
	"time"

	"coio.invalid/coio"
)

func ExampleRun() {
	v, err := coio.Run(func(t *coio.Task) (string, error) {
		if err := coio.Sleep(t, time.Second); err != nil {
			return "", err
		}
		return fmt.Sprintf("slept until %.1f", t.Loop().Time()), nil
	}, coio.VirtualTime())
	fmt.Println(v, err)
	// Output: slept until 1.0 <nil>
}

func ExampleSpawn() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, func(t *coio.Task) (int, error) {
		child, _ := coio.Spawn(t.Loop(), nil, func(t *coio.Task) (int, error) {
			return 20, coio.Sleep(t, time.Second)
		})
		n, err := coio.Await(t, child) // suspends this body until child is done
		return n + 22, err
	}, coio.Name("main"))
	fmt.Println(task.Name())
	fmt.Println(coio.RunUntilComplete(loop, task))
	// Output:
	// main
	// 42 <nil>
}

func ExampleFuture_Cancel() {
	coio.Run(func(t *coio.Task) (any, error) {
		sleeper, _ := coio.Spawn(t.Loop(), nil, func(t *coio.Task) (int, error) {
			return 0, coio.Sleep(t, time.Hour)
		})
		coio.Sleep(t, 0)
		sleeper.Cancel("enough")
		_, err := coio.Await(t, sleeper)
		var ce *coio.CancelledError
		fmt.Println(errors.Is(err, coio.ErrCancelled), errors.As(err, &ce) && ce.Msg == "enough")
		return nil, nil
	}, coio.VirtualTime())
	// Output: true true
}

func ExampleGather() {
	coio.Run(func(t *coio.Task) (any, error) {
		var fs []*coio.Future[int]
		for i := range 3 {
			f, _ := coio.Spawn(t.Loop(), nil, func(t *coio.Task) (int, error) {
				return i * i, coio.Sleep(t, time.Duration(3-i)*time.Second)
			})
			fs = append(fs, f)
		}
		results, err := coio.Gather(t, fs...)
		fmt.Println(results, err, t.Loop().Time())
		return nil, nil
	}, coio.VirtualTime())
	// Output: [0 1 4] <nil> 3
}

func ExampleAsCompleted() {
	coio.Run(func(t *coio.Task) (any, error) {
		var fs []*coio.Future[string]
		for _, d := range []int{3, 1, 2} {
			f, _ := coio.Spawn(t.Loop(), nil, func(t *coio.Task) (string, error) {
				return fmt.Sprint(d, "s"), coio.Sleep(t, time.Duration(d)*time.Second)
			})
			fs = append(fs, f)
		}
		for v, err := range coio.AsCompleted(t, fs, coio.NoTimeout) {
			fmt.Println(v, err)
		}
		return nil, nil
	}, coio.VirtualTime())
	// Output:
	// 1s <nil>
	// 2s <nil>
	// 3s <nil>
}

func ExampleWaitFor() {
	coio.Run(func(t *coio.Task) (any, error) {
		slow, _ := coio.Spawn(t.Loop(), nil, func(t *coio.Task) (int, error) {
			return 1, coio.Sleep(t, time.Hour)
		})
		_, err := coio.WaitFor(t, slow, time.Second)
		fmt.Println(errors.Is(err, coio.ErrTimeout), slow.Cancelled())
		return nil, nil
	}, coio.VirtualTime())
	// Output: true true
}

func ExampleTimeout() {
	coio.Run(func(t *coio.Task) (any, error) {
		err := coio.Timeout(t, 500*time.Millisecond, func() error {
			return coio.Sleep(t, time.Second)
		})
		fmt.Println(err == coio.ErrTimeout, t.Loop().Time())
		return nil, nil
	}, coio.VirtualTime())
	// Output: true 0.5
}

func ExampleWithTaskGroup() {
	errBad := errors.New("bad input")
	coio.Run(func(t *coio.Task) (any, error) {
		err := coio.WithTaskGroup(t, func(g *coio.TaskGroup) error {
			coio.Go(g, func(t *coio.Task) (int, error) { return 0, errBad })
			coio.Go(g, func(t *coio.Task) (int, error) { return 0, coio.Sleep(t, time.Hour) })
			return nil
		})
		fmt.Println(err)
		fmt.Println(errors.Is(err, errBad))
		return nil, nil
	}, coio.VirtualTime())
	// Output:
	// coio: unhandled errors in a TaskGroup (1 sub-exception)
	// true
}

func ExampleQueue() {
	coio.Run(func(t *coio.Task) (any, error) {
		q, _ := coio.NewQueue[string](t.Loop(), 0)
		worker, _ := coio.Spawn(t.Loop(), nil, func(t *coio.Task) (int, error) {
			n := 0
			for {
				item, err := q.Get(t)
				if errors.Is(err, coio.ErrShutdown) {
					return n, nil
				}
				fmt.Println("got", item)
				n++
			}
		})
		q.Put(t, "a")
		q.Put(t, "b")
		q.Shutdown(false)
		fmt.Println(coio.Await(t, worker))
		return nil, nil
	}, coio.VirtualTime())
	// Output:
	// got a
	// got b
	// 2 <nil>
}

func ExampleLoop_CallLater() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	loop.CallLater(200*time.Millisecond, func() { fmt.Println("later", loop.Time()) })
	loop.CallSoon(func() { fmt.Println("soon", loop.Time()) })
	loop.CallAt(0.3, func() { loop.Stop() })
	loop.RunForever()
	// Output:
	// soon 0
	// later 0.2
}

func ExampleFuture_String() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	f, _ := coio.NewFuture[string](loop)
	fmt.Println(f)
	f.SetResult("Future is done!")
	fmt.Println(f)
	// Output:
	// <Future pending>
	// <Future finished result='Future is done!'>
}

func ExampleNewCompletion() {
	loop := coio.MustNewLoop()
	defer loop.Close()
	f, c, _ := coio.NewCompletion[int](loop)
	go func() { c.SetResult(6 * 7) }() // any goroutine
	fmt.Println(coio.RunUntilComplete(loop, f))
	// Output: 42 <nil>
}

func ExampleEvent() {
	coio.Run(func(t *coio.Task) (any, error) {
		ev, _ := coio.NewEvent(t.Loop())
		waiter, _ := coio.Spawn(t.Loop(), nil, func(t *coio.Task) (float64, error) {
			err := ev.Wait(t)
			return t.Loop().Time(), err
		})
		coio.Sleep(t, 2*time.Second)
		ev.Set()
		fmt.Println(coio.Await(t, waiter))
		return nil, nil
	}, coio.VirtualTime())
	// Output: 2 <nil>
}
