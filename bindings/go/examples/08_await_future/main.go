// 08_await_future: the tutorial's 08_await_future.py in Go.
package main

import (
	"fmt"

	"coio.invalid/coio"
)

func foo(future *coio.Future[string], result string) {
	fmt.Println("设置结果到future", result)
	future.SetResult(result)
}

func main_(loop *coio.Loop) func(t *coio.Task) (any, error) {
	return func(t *coio.Task) (any, error) {
		allDone, _ := coio.NewFuture[string](loop)
		fmt.Println("调用函数获取future对象")
		loop.CallSoon(func() { foo(allDone, "the result") })
		result, err := coio.Await(t, allDone)
		fmt.Println("获取future里的结果", result)
		return nil, err
	}
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, main_(loop))
	coio.RunUntilComplete(loop, task)
}
