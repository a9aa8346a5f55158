// 14_gather_stages: the tutorial's 14_gather_stages.py in Go. time.time() is the loop's clock:
// in virtual time the sleeps take no time and the elapsed times are exact.
package main

import (
	"fmt"
	"time"

	"coio.invalid/coio"
)

func step1(n int, start float64) func(t *coio.Task) (int, error) {
	return func(t *coio.Task) (int, error) {
		if err := coio.Sleep(t, time.Duration(n)*time.Second); err != nil {
			return 0, err
		}
		fmt.Println("第一阶段完成")
		fmt.Println("此时用时", fmt.Sprintf("%.1f", t.Loop().Time()-start))
		return n, nil
	}
}

func step2(n int, start float64) func(t *coio.Task) (int, error) {
	return func(t *coio.Task) (int, error) {
		if err := coio.Sleep(t, time.Duration(n)*time.Second); err != nil {
			return 0, err
		}
		fmt.Println("第二阶段完成")
		fmt.Println("此时用时", fmt.Sprintf("%.1f", t.Loop().Time()-start))
		return n, nil
	}
}

func main_(t *coio.Task) (any, error) {
	now := t.Loop().Time()
	s1, _ := coio.Spawn(t.Loop(), nil, step1(5, now))
	s2, _ := coio.Spawn(t.Loop(), nil, step2(2, now))
	result, err := coio.Gather(t, s1, s2)
	if err != nil {
		return nil, err
	}
	for _, i := range result {
		fmt.Println(i)
	}
	fmt.Println("总用时", fmt.Sprintf("%.1f", t.Loop().Time()-now))
	return nil, nil
}

func main() {
	loop := coio.MustNewLoop(coio.VirtualTime())
	defer loop.Close()
	task, _ := coio.Spawn(loop, nil, main_)
	coio.RunUntilComplete(loop, task)
}
