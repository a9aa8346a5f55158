// 10_task_cancel: the tutorial's 10_task_cancel.py in Go.
package main

import (
	"errors"
	"fmt"

	"coio.invalid/coio"
)

func child(t *coio.Task) (string, error) {
	fmt.Println("进入子协程")
	return "the result", nil
}

func main_(loop *coio.Loop) func(t *coio.Task) (any, error) {
	return func(t *coio.Task) (any, error) {
		fmt.Println("将协程child包装成任务")
		task, _ := coio.Spawn(loop, nil, child)
		fmt.Println("通过cancel方法可以取消任务")
		task.Cancel()
		if _, err := coio.Await(t, task); errors.Is(err, coio.ErrCancelled) {
			fmt.Println("取消任务抛出CancelledError异常")
		} else {
			result, _ := task.Result()
			fmt.Println("获取任务的结果", result)
		}
		return nil, nil
	}
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, main_(loop))
	coio.RunUntilComplete(loop, task)
}
