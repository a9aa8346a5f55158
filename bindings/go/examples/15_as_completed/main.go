// 15_as_completed: the tutorial's 15_as_completed.py in Go. time.time() is the loop's clock.
package main

import (
	"fmt"
	"time"

	"coio.invalid/coio"
)

func foo(n int) func(t *coio.Task) (int, error) {
	return func(t *coio.Task) (int, error) {
		fmt.Println("Waiting: ", n)
		if err := coio.Sleep(t, time.Duration(n)*time.Second); err != nil {
			return 0, err
		}
		return n, nil
	}
}

func main_(t *coio.Task) (any, error) {
	coroutine1, _ := coio.Spawn(t.Loop(), nil, foo(1))
	coroutine2, _ := coio.Spawn(t.Loop(), nil, foo(2))
	coroutine3, _ := coio.Spawn(t.Loop(), nil, foo(4))
	tasks := []*coio.Future[int]{coroutine1, coroutine2, coroutine3}
	for result, err := range coio.AsCompleted(t, tasks, coio.NoTimeout) {
		if err != nil {
			return nil, err
		}
		fmt.Printf("Task ret: %d\n", result)
	}
	return nil, nil
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	now := func() float64 { return loop.Time() }
	start := now()
	task, _ := coio.Spawn(loop, nil, main_)
	coio.RunUntilComplete(loop, task)
	fmt.Printf("%.1f\n", now()-start)
}
