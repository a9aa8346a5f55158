// 05_call_later: the tutorial's 05_call_later.py in Go.
package main

import (
	"fmt"
	"time"

	"coio.invalid/coio"
)

func callback(n int) {
	fmt.Printf("callback %d invoked\n", n)
}

func main_(loop *coio.Loop) func(t *coio.Task) (any, error) {
	return func(t *coio.Task) (any, error) {
		fmt.Println("注册callbacks")
		loop.CallLater(200*time.Millisecond, func() { callback(1) })
		loop.CallLater(100*time.Millisecond, func() { callback(2) })
		loop.CallSoon(func() { callback(3) })
		return nil, coio.Sleep(t, 400*time.Millisecond)
	}
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, main_(loop))
	coio.RunUntilComplete(loop, task)
}
