// 09_future_callbacks: the tutorial's 09_future_callbacks.py in Go.
package main

import (
	"fmt"

	"coio.invalid/coio"
)

func callback(future *coio.Future[string], n int) {
	result, _ := future.Result()
	fmt.Printf("%d: future done: %s\n", n, result)
}

func registerCallbacks(t *coio.Task, allDone *coio.Future[string]) {
	fmt.Println("注册callback到future对象")
	allDone.AddDoneCallback(func(f *coio.Future[string]) { callback(f, 1) })
	allDone.AddDoneCallback(func(f *coio.Future[string]) { callback(f, 2) })
}

func main_(allDone *coio.Future[string]) func(t *coio.Task) (any, error) {
	return func(t *coio.Task) (any, error) {
		registerCallbacks(t, allDone)
		fmt.Println("设置future的结果")
		return nil, allDone.SetResult("the result")
	}
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	allDone, _ := coio.NewFuture[string](loop)
	task, _ := coio.Spawn(loop, nil, main_(allDone))
	coio.RunUntilComplete(loop, task)
}
