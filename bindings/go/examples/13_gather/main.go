// 13_gather: the tutorial's 13_gather.py in Go. A coroutine given to gather becomes a task.
package main

import (
	"errors"
	"fmt"
	"time"

	"coio.invalid/coio"
)

func num(n int) func(t *coio.Task) (int, error) {
	return func(t *coio.Task) (int, error) {
		if err := coio.Sleep(t, time.Duration(n)*100*time.Millisecond); errors.Is(err, coio.ErrCancelled) {
			fmt.Printf("数字%d被取消\n", n)
			return 0, err
		}
		return n, nil
	}
}

func main_(t *coio.Task) (any, error) {
	var tasks []*coio.Future[int]
	for i := range 10 {
		task, _ := coio.Spawn(t.Loop(), nil, num(i))
		tasks = append(tasks, task)
	}
	complete, err := coio.Gather(t, tasks...)
	for _, i := range complete {
		fmt.Println("当前数字", i)
	}
	return nil, err
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, main_)
	coio.RunUntilComplete(loop, task)
}
