// 04_call_soon: the tutorial's 04_call_soon.py in Go. Python's extra arguments and
// functools.partial are what the scheduled closure captures.
package main

import (
	"fmt"
	"time"

	"coio.invalid/coio"
)

func callback(args int, kwargs string) {
	fmt.Printf("普通函数做为回调函数,获取参数:%d,%s\n", args, kwargs)
}

func main_(loop *coio.Loop) func(t *coio.Task) (any, error) {
	return func(t *coio.Task) (any, error) {
		fmt.Println("注册callback")
		loop.CallSoon(func() { callback(1, "defalut") })
		wrapped := func(args int) { callback(args, "not defalut") }
		loop.CallSoon(func() { wrapped(2) })
		return nil, coio.Sleep(t, 200*time.Millisecond)
	}
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, main_(loop))
	coio.RunUntilComplete(loop, task)
}
