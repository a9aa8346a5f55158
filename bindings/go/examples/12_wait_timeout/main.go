// 12_wait_timeout: the tutorial's 12_wait_timeout.py in Go.
package main

import (
	"errors"
	"fmt"
	"slices"
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
	complete, pending, err := coio.Wait(t, tasks, 450*time.Millisecond, coio.AllCompleted)
	if err != nil {
		return nil, err
	}
	byIndex := func(a, b *coio.Future[int]) int {
		return slices.Index(tasks, a) - slices.Index(tasks, b)
	}
	slices.SortFunc(complete, byIndex)
	for _, i := range complete {
		result, _ := i.Result()
		fmt.Println("当前数字", result)
	}
	if len(pending) > 0 {
		fmt.Println("取消未完成的任务")
		slices.SortFunc(pending, byIndex)
		for _, p := range pending {
			p.Cancel()
		}
	}
	return nil, nil
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, main_)
	coio.RunUntilComplete(loop, task)
}
